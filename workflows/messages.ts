/** Bus message IDs chosen inside workflows: deterministic, so a retried publish reuses them. */
import { uuid4 } from '@temporalio/workflow';

/** fedmsg's `<year>-<uuid4>`; the year and the UUID both replay identically. */
export function newMsgId(): string {
  return `${new Date().getUTCFullYear()}-${uuid4()}`;
}
