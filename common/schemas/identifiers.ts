/**
 * The grammars of the identifiers that arrive from outside and become workflow IDs, search
 * attributes, paths or columns. Each is bounded so that no message can make an ID Temporal
 * refuses (1,000 characters at most) or a path that leaves its directory.
 */
import { z } from 'zod';

/**
 * productmd's compose ID: `<short>-<version>[-<base…>]-<YYYYMMDD>[.<type>].<respin>`, type t, ci
 * or n (none for production): `Fedora-Rawhide-20180426.n.0`, `Fedora-Atomic-28-20180515.1`.
 */
export const COMPOSE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._+~-]{0,199}-\d{8}(\.(t|ci|n))?\.\d{1,5}$/;
export const composeId = z.string().max(220).regex(COMPOSE_ID_PATTERN, 'expected a compose ID such as Fedora-Rawhide-20180426.n.0');

/** An RPM name, version or release as Koji accepts them: version and release carry no hyphen. */
const RPM_NAME = /^[A-Za-z0-9_+][A-Za-z0-9._+-]{0,199}$/;
const RPM_VERSION = /^[A-Za-z0-9._+~^]{1,100}$/;
export const rpmName = z.string().regex(RPM_NAME, 'expected a package name');
export const rpmVersion = z.string().regex(RPM_VERSION, 'expected a version or release without hyphens');

/** name-version-release, e.g. `bash-5.3.0-2.fc44`. */
export const NVR_PATTERN = /^[A-Za-z0-9_+][A-Za-z0-9._+-]{0,199}-[A-Za-z0-9._+~^]{1,100}-[A-Za-z0-9._+~^]{1,100}$/;
export const nvr = z.string().max(255).regex(NVR_PATTERN, 'expected name-version-release');

/** A Koji tag or target name: `f44-updates-testing-pending`. */
export const kojiTagName = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9._+-]{0,127}$/, 'expected a Koji tag name');

/** Free text that is stored or shown: bounded. */
export const boundedText = (max: number): z.ZodString => z.string().min(1).max(max);

/** A URL in a message: bounded, http(s), no credentials. */
export const messageUrl = z
  .string()
  .max(2048)
  .regex(/^https?:\/\/[^\s@/]+(\/[^\s]*)?$/, 'expected an http(s) URL without credentials');
