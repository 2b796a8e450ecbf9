/**
 * Every setting of releng-o-tron, in one zod schema.
 *
 * Sources, later ones winning: the defaults below, an optional JSON file named by
 * RELENGOTRON_CONFIG, then environment variables (see ENVIRONMENT). A bad value stops the
 * process at start with a message naming the key, the variable that set it and the expected form.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { DURATION_PATTERN, durationToMs } from './duration.js';
import { DEFAULT_SELECTION_RULES, DEFAULT_TEST_PLANS, SelectionRuleSchema, TestPlanSchema } from './compose-testing.js';
import { DEFAULT_ROUTES, RouteSchema } from './routing.js';
import { ARTIFACT_KINDS } from './artifacts/index.js';
import { DEFAULT_PUSH_TEST_REQUIREMENTS } from './push-policy.js';
import { PruneRuleSchema } from './ostree-policy.js';
import { ostreeRefProblem, relativePathProblem } from './safe-names.js';
import { SANDBOX_RELENG_USER, sandboxCredentialFiles, sandboxCredentialsDir } from './sandbox-credentials.js';

const port = z.number().int().min(0).max(65535);
const hostPort = z
  .string()
  .regex(/^[^\s:/]+:\d{1,5}$/, 'expected host:port, for example 127.0.0.1:7233');
const httpUrl = z
  .string()
  .regex(/^https?:\/\/[^\s]+$/, 'expected an http(s) URL, for example https://koji.fedoraproject.org/kojihub')
  .transform((url) => url.replace(/\/+$/, ''));
const zmqEndpoint = z
  .string()
  .regex(/^(tcp|ipc|inproc):\/\/\S+$/, 'expected a ZeroMQ endpoint, for example tcp://hub.fedoraproject.org:9940');
const amqpUrl = z
  .string()
  .regex(/^amqps?:\/\/[^\s]+$/, 'expected an AMQP URL, for example amqps://fedora:@rabbitmq.fedoraproject.org/%2Fpublic_pubsub');
const duration = z.string().regex(DURATION_PATTERN, 'expected a duration such as 500ms, 30s, 5m, 2h or 14d');
const BYTE_UNITS: Readonly<Record<string, number>> = { '': 1, B: 1, K: 1024, KiB: 1024, M: 1024 ** 2, MiB: 1024 ** 2, G: 1024 ** 3, GiB: 1024 ** 3, T: 1024 ** 4, TiB: 1024 ** 4 };
/** A size: bytes as a number, or text such as 512MiB or 50G. */
const byteSize = z.union([
  z.number().int().nonnegative(),
  z
    .string()
    .regex(/^\d+(\.\d+)?\s*(B|K|KiB|M|MiB|G|GiB|T|TiB)?$/, 'expected a size such as 512MiB, 50GiB or a number of bytes')
    .transform((text) => {
      const [, number, unit] = /^([\d.]+)\s*(\w*)$/.exec(text)!;
      return Math.round(Number(number) * BYTE_UNITS[unit ?? '']!);
    }),
]);

/** A Rawhide-style gate: builds tagged into gateTag wait for their tests, then move on or aside. */
export const GatingLaneSchema = z.strictObject({
  /** Names the lane in run IDs and messages, e.g. f44. */
  name: z.string().regex(/^[A-Za-z0-9._-]+$/, 'expected a short name such as f44'),
  /** Builds tagged here are gated (Fedora: fN-updates-testing-pending). */
  gateTag: z.string().min(1),
  /** Where a build goes when its gate passes (Fedora: fN). */
  releaseTag: z.string().min(1),
  /** Where a build goes when its gate fails or its results never come. */
  quarantineTag: z.string().min(1),
  /** The release's dist tag (fc44): how a test result names the lane of its build. */
  distTag: z.string().regex(/^[a-z]+\d+$/, 'expected a dist tag such as fc44'),
  /** ResultsDB testcase names (namespace.type.category) that must pass. */
  requiredTests: z.array(z.string().min(1)).default([]),
  /** When set, a Greenwave decision in this context settles the gate instead. */
  greenwaveContext: z.string().min(1).optional(),
  /** How long a gate waits for its results before it quarantines the build. */
  resultTimeout: duration.default('6h'),
});

/** A Temporal Schedule's cron line: five fields, or @daily, @weekly... */
const cronExpression = z
  .string()
  .regex(/^(@(yearly|annually|monthly|weekly|daily|hourly)|[\d*,/?LW#A-Za-z-]+( [\d*,/?LW#A-Za-z-]+){4})$/, 'expected a cron line such as "0 3 * * 0" (minute hour day month weekday) or @weekly');
const timeZone = z.string().refine(
  (zone) => {
    try {
      new Intl.DateTimeFormat('en', { timeZone: zone });
      return true;
    } catch {
      return false;
    }
  },
  { message: 'expected an IANA time zone such as UTC or America/New_York' },
);

function defaultDataDir(): string {
  const base = process.env['XDG_DATA_HOME'] || join(homedir(), '.local', 'share');
  return join(base, 'releng-o-tron');
}

export const ConfigSchema = z.strictObject({
  /** Where the embedded defaults keep their state: Temporal's SQLite file, PGlite, caches. */
  dataDir: z.string().min(1).default(defaultDataDir),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  /**
   * `production` refuses to start unless the bus is a trust boundary (signatures checked against
   * configured CAs, a signer named for every topic that starts work) and every Fedora service is
   * named explicitly, so nothing falls back to the sandbox. deploy/ sets it.
   */
  profile: z.enum(['development', 'production']).default('development'),
  temporal: z
    .strictObject({
      address: hostPort.default('127.0.0.1:7233'),
      namespace: z.string().min(1).default('default'),
      /** A temporal CLI binary to use instead of the cached one built from Go modules. */
      cliPath: z.string().min(1).optional(),
      /** The embedded dev server's Web UI port; `relengotron up` prints the link. */
      uiPort: port.default(8233),
      /** Finished runs stay visible this long; the dev server's own default is 24 h. */
      retention: duration.default('30d'),
      /**
       * mTLS to the frontend (deploy/temporal): the CA that signed the server's certificate, this
       * process's client certificate and key, and the name the server's certificate carries when it
       * differs from the address's host. Unset: plain TCP (the embedded dev server).
       */
      tls: z
        .strictObject({
          ca: z.string().min(1),
          cert: z.string().min(1).optional(),
          key: z.string().min(1).optional(),
          serverName: z.string().min(1).optional(),
        })
        .refine((t) => Boolean(t.cert) === Boolean(t.key), { message: 'a client certificate and its key go together (TEMPORAL_TLS_CERT_PATH, TEMPORAL_TLS_KEY_PATH)' })
        .optional(),
    })
    .prefault({}),
  database: z
    .strictObject({
      /** A Postgres server. Unset: an embedded PGlite server is started under dataDir. */
      url: z
        .string()
        .regex(/^postgres(ql)?:\/\/\S+$/, 'expected a postgres:// URL, for example postgres://user@db:5432/releng')
        .optional(),
      embeddedPort: port.default(55432),
    })
    .prefault({}),
  workers: z
    .strictObject({
      /** In-flight activities get this long to finish on SIGTERM before they are cancelled. */
      shutdownGraceTime: duration.default('30s'),
      releng: z.strictObject({ maxConcurrentActivities: z.number().int().min(1).default(20) }).prefault({}),
      imageLibvirt: z.strictObject({ maxConcurrentActivities: z.number().int().min(1).default(2) }).prefault({}),
      imageVbox: z.strictObject({ maxConcurrentActivities: z.number().int().min(1).default(1) }).prefault({}),
      /** On an image-test host: downloaded images by checksum, and the VMs' scratch space. Default: under dataDir. */
      imageCacheDir: z.string().min(1).optional(),
      vmWorkDir: z.string().min(1).optional(),
      /** The image cache's size on disk; above it the least recently used images go (never one in use). 0: no limit. */
      imageCacheBudget: byteSize.default(50 * 1024 ** 3),
      /** The most a raw.xz may decompress to, or a Vagrant box unpack to. */
      imageUnpackLimit: byteSize.default(32 * 1024 ** 3),
      /** How an image-libvirt host starts VMs: through libvirtd, qemu directly, or libvirt when it answers (auto). */
      vmBackend: z.enum(['auto', 'libvirt', 'qemu']).default('auto'),
      libvirtUri: z.string().min(1).default('qemu:///system'),
      /**
       * KVM on an image-libvirt host: `auto` boots a probe guest under KVM at start and uses KVM
       * only if it runs (a KVM fault in a job later moves the host to TCG); `off` never uses it.
       */
      kvm: z.enum(['auto', 'off']).default('auto'),
      /** The qemu system emulator image-libvirt hosts run (qemu backend, and the KVM probe). */
      qemu: z.string().min(1).default('qemu-system-x86_64'),
    })
    .prefault({}),
  bus: z
    .strictObject({
      /**
       * Which bus releng-o-tron hears and speaks: `fedmsg` (ZeroMQ), `amqp` (fedora-messaging on
       * RabbitMQ, today's Fedora bus) or `both`, during a migration. Both feed the same inbox,
       * which keeps one row per message ID, so an event that arrives on both starts one run.
       */
      transport: z.enum(['fedmsg', 'amqp', 'both']).default('fedmsg'),
      /** fedora-messaging: the broker, the durable queue the listener consumes, how it publishes. */
      amqp: z
        .strictObject({
          /** amqp:// or amqps://user:password@host:port/vhost (Fedora: amqps://fedora:@rabbitmq.fedoraproject.org/%2Fpublic_pubsub). Never logged with its password. */
          url: amqpUrl.default('amqp://guest:guest@127.0.0.1:5672/%2F'),
          /** The topic exchange messages are published to; the routing key is the full topic. */
          exchange: z.string().regex(/^[A-Za-z0-9._:-]{1,255}$/).default('amq.topic'),
          /** The listener's durable queue, bound to every routed topic under the accepted prefixes (Fedora's broker wants a UUID). */
          queue: z.string().regex(/^[A-Za-z0-9._:-]{1,255}$/, 'expected a queue name of letters, digits and . _ : -').default('releng-o-tron'),
          /** Deliveries the broker hands over before any is acked. */
          prefetch: z.number().int().min(1).max(65_535).default(25),
          /**
           * Refused messages are kept as dead letters in our store and acked; with this set they are
           * rejected instead, so the broker routes a copy to this exchange (declared on the queue
           * as x-dead-letter-exchange). Never requeued: a message refused once is refused again.
           */
          deadLetterExchange: z.string().regex(/^[A-Za-z0-9._:-]{1,255}$/).optional(),
          /** AMQP heartbeat: a silent broker is taken for gone after about twice this. */
          heartbeat: duration.default('30s'),
          /** Reconnect backoff after the connection or channel is lost: doubles from first to longest. */
          reconnectFirst: duration.default('500ms'),
          reconnectLongest: duration.default('30s'),
          /** A publish the broker has not confirmed in this time counts as failed (the activity retries it, same message ID). */
          confirmTimeout: duration.default('30s'),
          /** TLS for amqps://, as Fedora's broker requires: CA, client certificate and key (PEM file paths). */
          tls: z
            .strictObject({ ca: z.string().min(1).optional(), certificate: z.string().min(1).optional(), key: z.string().min(1).optional() })
            .refine((tls) => (tls.certificate === undefined) === (tls.key === undefined), { message: 'certificate and key go together' })
            .optional(),
        })
        .refine((amqp) => !amqp.tls || amqp.url.startsWith('amqps://'), { message: 'TLS settings need an amqps:// URL', path: ['url'] })
        .prefault({}),
      /** fedmsg publishers the listener's SUB socket connects to. */
      endpoints: z.array(zmqEndpoint).min(1).default(['tcp://127.0.0.1:9940']),
      /** Where releng-o-tron's own publisher binds its PUB socket. */
      publishEndpoint: zmqEndpoint.default('tcp://127.0.0.1:9941'),
      /** Topic prefix of what we publish: <topicPrefix>.<environment>.releng-o-tron.<name>. */
      topicPrefix: z.string().min(1).default('org.fedoraproject'),
      environment: z.enum(['prod', 'stg', 'dev']).default('dev'),
      /** What starts work: topic + predicate → handler; first match wins (common/routing.ts). */
      routes: z.array(RouteSchema).default(() => DEFAULT_ROUTES.map((r) => RouteSchema.parse(r))),
      /** Signs what releng-o-tron publishes with fedmsg's X.509 scheme; unset: unsigned. */
      signing: z.strictObject({ certificate: z.string().min(1), key: z.string().min(1) }).optional(),
      /** Pending inbox rows at which the listener stops reading (and resumes at lowWater). */
      inboxHighWater: z.number().int().min(1).default(5000),
      inboxLowWater: z.number().int().min(0).default(1000),
      /** Messages ZeroMQ holds for the listener while it is not reading; beyond that the publisher drops and the backfill recovers them. */
      receiveQueue: z.number().int().min(1).default(10_000),
      /** Envelopes larger than this are dead-lettered unread; ZeroMQ drops a publisher that sends a larger frame. */
      maxMessageBytes: z.number().int().min(1024).default(1024 * 1024),
      /**
       * Topics are ours only under these `<prefix>.<environment>` prefixes: the SUB socket
       * subscribes to nothing else, and backfill asks datagrepper for nothing else. Fedora CI
       * publishes under org.centos.prod; `org.fedoraproject.dev` belongs in a sandbox only.
       */
      acceptPrefixes: z
        .array(z.string().regex(/^[a-z0-9]+(\.[a-z0-9]+)*\.(prod|stg|dev)$/, 'expected <prefix>.<environment>, for example org.fedoraproject.prod'))
        .min(1)
        .default(['org.fedoraproject.prod', 'org.centos.prod']),
      /** Bases besides services.composes under which a compose message's `location` may lie. */
      acceptComposeLocations: z.array(httpUrl).default([]),
      /** Runs the dispatcher starts at once; messages for the same run still go one at a time, in order. */
      dispatchConcurrency: z.number().int().min(1).max(256).default(16),
      /** A start that keeps failing for a reason a retry might fix is parked after this many tries. */
      maxStartAttempts: z.number().int().min(1).default(10),
      /** Per-row backoff between those tries: doubles from the first to the longest. */
      startRetryFirst: duration.default('1s'),
      startRetryLongest: duration.default('5m'),
      /** Handled inbox rows (started, ignored) and dead letters are purged after this long; pending and parked rows are kept. */
      inboxRetention: duration.default('90d'),
      deadLetterRetention: duration.default('90d'),
      /**
       * Messages sent longer ago are refused: past the inbox's retention their IDs are forgotten,
       * and a replayed old message (a genuinely signed `bodhi.composer.start`, say) would start
       * work again. `off` only where old messages are replayed on purpose (the demo's sandbox).
       */
      maxMessageAge: z.union([z.literal('off'), duration]).default('30d'),
      /** How often the listener purges. */
      purgeInterval: duration.default('1h'),
      /** host:port of the listener's Prometheus metrics endpoint; empty: none. */
      metricsListen: z.union([z.literal(''), hostPort]).default('127.0.0.1:9108'),
      /** Check fedmsg X.509 signatures on topics that start work; forged or unsigned ones are refused. */
      verifySignatures: z.boolean().default(false),
      /** PEM files of the CAs that issue signing certificates (Fedora's fedmsg CA in production). */
      caCertificates: z.array(z.string().min(1)).default([]),
      /** Topic (after `<prefix>.<env>.`) → certificate CNs allowed to send it, as fedmsg's routing_policy. */
      routingPolicy: z.record(z.string(), z.array(z.string())).default({}),
      /** Catching up from datagrepper after the listener was away or lost its publisher. */
      backfill: z
        .strictObject({
          /** How far before the checkpoint the catch-up starts (clock skew, delivery in flight). */
          overlap: duration.default('5m'),
          /** How often the listener records that it is still connected. */
          checkpointInterval: duration.default('10s'),
        })
        .prefault({}),
    })
    .refine((bus) => bus.inboxLowWater < bus.inboxHighWater, { message: 'must be below bus.inboxHighWater', path: ['inboxLowWater'] })
    .refine((bus) => bus.maxMessageAge === 'off' || durationToMs(bus.maxMessageAge) <= durationToMs(bus.inboxRetention), {
      message: 'must not exceed bus.inboxRetention: older messages could no longer be told from replays',
      path: ['maxMessageAge'],
    })
    .prefault({}),
  gating: z
    .strictObject({
      lanes: z.array(GatingLaneSchema).default([
        // the sandbox's release; production lists its own (f44, f45, ...)
        { name: 'f29', gateTag: 'f29-updates-testing-pending', releaseTag: 'f29', quarantineTag: 'f29-quarantine', distTag: 'fc29', requiredTests: ['fedora-ci.koji-build.tier0.functional'], resultTimeout: '6h' },
      ]),
      /** How often a running Koji task is looked at. */
      kojiPollInterval: duration.default('2s'),
      /** How often the bus listener reads the lanes the release lifecycle changed (a branch, an end of life). */
      laneRefresh: duration.default('10s'),
    })
    .prefault({}),
  composeTesting: z
    .strictObject({
      /** Which images of a finished compose are tested, and on which provider (common/compose-testing.ts). */
      rules: z.array(SelectionRuleSchema).default(() => DEFAULT_SELECTION_RULES.map((r) => ({ ...r }))),
      /** Image type → its Tunir plan and VM; every type a rule selects needs one. */
      plans: z.record(z.string().min(1), TestPlanSchema).default(() => Object.fromEntries(Object.entries(DEFAULT_TEST_PLANS).map(([t, p]) => [t, TestPlanSchema.parse(p)]))),
      /** A newer compose of the same stream finishes while an older one is testing. */
      whenNewerComposeFinishes: z.enum(['cancel-older', 'finish-both']).default('cancel-older'),
      commandTimeout: duration.default('10m'),
      /** From qemu's start until SSH answers (a Fedora cloud image under TCG takes minutes). */
      bootTimeout: duration.default('10m'),
      /** POLL after a reboot: attempts × interval (Tunir: 30 × 10 s). */
      pollAttempts: z.number().int().min(1).default(30),
      pollInterval: duration.default('10s'),
      /** A host silent this long is taken for dead and its test moves to another host. */
      hostHeartbeatTimeout: duration.default('2m'),
      /** A job no host of its provider has taken in this time is an error (no such worker running?). */
      waitForHost: duration.default('12h'),
      /** A download that receives nothing for this long is given up, and retried. */
      downloadStallTimeout: duration.default('2m'),
      /** Tries per job: a VM that will not boot, a corrupt download or a lost host each cost one. */
      attempts: z.number().int().min(1).default(3),
    })
    .refine((t) => t.rules.every((rule) => rule.types.every((type) => type in t.plans)), {
      message: 'every image type a rule selects needs a plan in composeTesting.plans',
      path: ['plans'],
    })
    .prefault({}),
  push: z
    .strictObject({
      /** The archive-mode OSTree repository pushes commit to. Default: under dataDir. */
      ostreeRepo: z.string().min(1).optional(),
      /**
       * The ref a tree goes to: `{version}`, `{arch}`, `{stream}` (`updates` for stable pushes,
       * `testing` for testing ones) and `{name}` (the tree's refName) are filled in. Every one is
       * required: without `{stream}` a testing push would move stable's ref.
       */
      ostreeRef: z
        .string()
        .min(1)
        .default('fedora/{version}/{arch}/{stream}/{name}')
        .refine((t) => ['{version}', '{arch}', '{stream}', '{name}'].every((p) => t.includes(p)), { message: 'push.ostreeRef must contain {version}, {arch}, {stream} and {name}' }),
      /** The arches of the repositories Koji writes and the mirror gets, and of the trees. */
      arches: z.array(z.string().regex(/^[a-z0-9_]{1,32}$/)).min(1).default(() => ['x86_64', 'aarch64']),
      /**
       * What each OSTree is made of (a treefile's essentials), by PDC's tree name: each commit is
       * the latest build of every package here from the target tag's full repository, whatever the
       * push changed. A tree PDC says changed but not defined here is refused, not guessed.
       */
      ostreeTrees: z
        .record(
          z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/),
          z.strictObject({
            refName: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
            arches: z.array(z.string().regex(/^[a-z0-9_]{1,32}$/)).min(1).optional(),
            packages: z.array(z.string().regex(/^[A-Za-z0-9_+][A-Za-z0-9._+-]{0,254}$/)).min(1),
          }),
        )
        .default(() => ({ 'fedora-iot': { refName: 'iot', packages: ['earlyoom', 'libntirpc'] } })),
      /** The master mirror tree rsync writes into. Default: under dataDir. */
      mirrorRoot: z.string().min(1).optional(),
      /** Where end of life moves a release's mirror trees (Fedora's /pub/archive/fedora/linux). Default: under dataDir. */
      archiveRoot: z.string().min(1).optional(),
      /** Scratch space for composed trees. Default: under dataDir. */
      workDir: z.string().min(1).optional(),
      /** A push waiting for an operator reminds on the bus this often. */
      operatorReminder: duration.default('1h'),
      /** The gpg key pushes sign with; unset: nothing is signed (the push says so). */
      signing: z.strictObject({ homedir: z.string().min(1), keyId: z.string().min(1), passphraseFile: z.string().min(1).optional() }).optional(),
      /** Where the push composes (workDir/composes) are served to the image hosts. Default: the dashboard's /pushes. */
      composeUrl: httpUrl.optional(),
      /** Koji image builds (`buildImageOz`) for the image kinds; `{version}` is the release's version. */
      imageBuild: z
        .strictObject({
          target: z.string().min(1).default('f{version}'),
          installTree: z.string().min(1).default('https://kojipkgs.fedoraproject.org/compose/updates/f{version}-updates/compose/Everything/$arch/os/'),
          ksurl: z.string().min(1).default('git+https://pagure.io/fedora-kickstarts.git?#origin/f{version}'),
          distro: z.string().min(1).default('Fedora-{version}'),
        })
        .prefault({}),
      /**
       * What must pass before a push signs and publishes, as Greenwave decides: for each artifact
       * kind, the providers whose image test must have passed on every new artifact of that kind.
       */
      testPolicy: z
        .strictObject({
          required: z.array(z.strictObject({ kind: z.string().min(1), provider: z.enum(['libvirt', 'vbox']) })),
        })
        .default(() => ({ required: DEFAULT_PUSH_TEST_REQUIREMENTS.map((r) => ({ ...r })) })),
      /** Builds moved per Koji multicall (Bodhi's composer moves a batch the same way). */
      mashBatch: z.number().int().min(1).max(1000).default(100),
    })
    .refine((p) => p.testPolicy.required.every((r) => ARTIFACT_KINDS.some((k) => k.kind === r.kind && k.testImageType !== null)), {
      message: `every push.testPolicy requirement names an artifact kind that has an image test (${ARTIFACT_KINDS.filter((k) => k.testImageType).map((k) => k.kind).join(', ')})`,
      path: ['testPolicy'],
    })
    .prefault({}),
  ostree: z
    .strictObject({
      /** The `ostree-prune` Schedule: every ref of push.ostreeRepo pruned by its policy (fedora-ostree-pruner). */
      prune: z
        .strictObject({
          schedule: z
            .strictObject({
              /** When it runs; Fedora's pruner runs weekly. */
              cron: cronExpression.default('0 3 * * 0'),
              timezone: timeZone.default('UTC'),
              /** A run missed while the service was down still starts within this long after its time; later, it waits for the next. */
              catchupWindow: duration.default('1d'),
            })
            .prefault({}),
          /**
           * Per-ref policies, first match wins (common/ostree-policy.ts): `{"match": "fedora/rawhide/**",
           * "policy": "keep-days", "days": 180}`. A ref none matches makes the run refuse; with none at all the
           * Schedule is not created.
           */
          policies: z.array(PruneRuleSchema).default([]),
        })
        .prefault({}),
    })
    .prefault({}),
  /**
   * Two-week releases, one Schedule per stream (`two-week/<stream>`): the newest compose of the
   * compose-testing stream that passed (or was marked good) goes to the stable directory.
   */
  twoWeek: z
    .strictObject({
      streams: z
        .record(
          z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'a stream name: letters, digits, . _ -'),
          z.strictObject({
            /** The compose-testing stream whose composes are candidates (compose IDs without date and respin: `Fedora-Cloud-45`). */
            composeStream: z.string().min(1).max(200),
            schedule: z
              .strictObject({
                /** Every this long (Fedora's cadence: 14d), counted from the epoch plus `offset`. */
                every: duration.default('14d'),
                offset: duration.default('0s'),
                /** Or a cron line instead of `every` (five fields). */
                cron: cronExpression.optional(),
                timezone: timeZone.default('UTC'),
                catchupWindow: duration.default('1d'),
              })
              .prefault({}),
            /** How many compose-test jobs must have passed, with none failed, errored or aborted. */
            minPassed: z.number().int().min(0).default(1),
            /** The out-of-date alert: the newest released image set older than this. */
            maxAge: duration.default('14d'),
            /** Under push.mirrorRoot: each release goes to `<stableDir>/<compose id>`, `latest` pointing at it. */
            stableDir: z.string().refine((p) => relativePathProblem(p) === null, 'a relative path of plain names under the mirror root (alt/atomic/stable)'),
            /** A human testing window: the release waits for this many approvals, or until the window ends. */
            approval: z.strictObject({ approvers: z.number().int().min(1).max(20), window: duration.refine((d) => durationToMs(d) <= 30 * 86_400_000, 'at most 30d') }).optional(),
            /** The trees released with the images: each stable ref moved to its candidate ref's commit. */
            ostree: z
              .strictObject({ refs: z.array(z.strictObject({ candidate: z.string().refine((r) => ostreeRefProblem(r) === null, 'an OSTree ref'), stable: z.string().refine((r) => ostreeRefProblem(r) === null, 'an OSTree ref') })).min(1) })
              .optional(),
          }),
        )
        .default({}),
    })
    .prefault({}),
  dashboard: z
    .strictObject({
      /** Where `relengotron dashboard` listens. */
      listen: hostPort.default('127.0.0.1:8236'),
      /** The dashboard's public address, for links in messages. */
      url: httpUrl.default('http://127.0.0.1:8236'),
    })
    .prefault({}),
  services: z
    .strictObject({
      kojiHub: httpUrl.default('http://127.0.0.1:8900/kojihub'),
      bodhi: httpUrl.default('http://127.0.0.1:8900/bodhi'),
      pdc: httpUrl.default('http://127.0.0.1:8900/pdc/rest_api/v1'),
      datagrepper: httpUrl.default('http://127.0.0.1:8900/datagrepper'),
      /** Koji's topurl (kojipkgs), where image builds' files are downloaded from. */
      kojiFiles: httpUrl.default('http://127.0.0.1:8900/kojifiles'),
      /** Base under which pungi compose trees are served (kojipkgs' /compose). */
      composes: httpUrl.default('http://127.0.0.1:8900/compose'),
      /**
       * Koji login by client certificate (`sslLogin`): PEM file paths, read at login, never logged.
       * Unset in development with the sandbox's services: the sandbox's releng account.
       */
      kojiAuth: z
        .strictObject({
          cert: z.string().min(1),
          key: z.string().min(1),
          /** The CA of the hub's certificate, when not a public one. */
          serverCa: z.string().min(1).optional(),
          /** Default `<kojiHub>/ssllogin`, as Koji's own clients. */
          loginUrl: httpUrl.optional(),
        })
        .optional(),
      /**
       * Bodhi's writes as an OIDC machine client (client credentials): the identity provider's token
       * endpoint, the client ID and a file holding the secret. Unset in development: the sandbox's.
       */
      bodhiAuth: z
        .strictObject({
          tokenUrl: httpUrl,
          clientId: z.string().min(1),
          clientSecretFile: z.string().min(1),
        })
        .optional(),
      /** Per-request timeout for every outside HTTP call. */
      requestTimeout: duration.default('60s'),
      /** The largest response body read from any of them (API replies, compose metadata, datagrepper pages). */
      maxResponseBytes: z.number().int().min(1024).default(64 * 1024 * 1024),
    })
    .prefault({}),
  sandbox: z
    .strictObject({
      host: z.string().min(1).default('127.0.0.1'),
      port: port.default(8900),
      /** The HTTPS listener (Koji's certificate login); its certificates are made under dataDir. */
      tlsPort: port.default(8901),
      /** The sandbox's bus gateway: a ZeroMQ PUB socket like hub.fedoraproject.org:9940. */
      busEndpoint: zmqEndpoint.default('tcp://127.0.0.1:9940'),
    })
    .prefault({}),
});

export type Config = z.infer<typeof ConfigSchema>;
export type GatingLane = z.infer<typeof GatingLaneSchema>;
export type ComposeTestingConfig = Config['composeTesting'];
export type PushConfig = Config['push'];

export interface PushPaths {
  readonly ostreeRepo: string;
  readonly workDir: string;
  /** Push composes: `<composeRoot>/<compose id>/compose/...`, served at `composeUrl`. */
  readonly composeRoot: string;
  readonly composeUrl: string;
  readonly mirrorRoot: string;
  /** The archive tree end of life moves releases into. */
  readonly archiveRoot: string;
  readonly signingKey: PushConfig['signing'];
}

/** The push's directories, defaulted under the data directory, and its signing key. */
export function pushPaths(config: Pick<Config, 'push' | 'dataDir' | 'dashboard'>): PushPaths {
  const workDir = config.push.workDir ?? join(config.dataDir, 'push');
  return {
    ostreeRepo: config.push.ostreeRepo ?? join(config.dataDir, 'ostree', 'repo'),
    workDir,
    composeRoot: join(workDir, 'composes'),
    composeUrl: config.push.composeUrl ?? `${config.dashboard.url.replace(/\/+$/, '')}/pushes`,
    mirrorRoot: config.push.mirrorRoot ?? join(config.dataDir, 'mirror'),
    archiveRoot: config.push.archiveRoot ?? join(config.dataDir, 'archive'),
    signingKey: config.push.signing,
  };
}

type EnvKind = 'string' | 'int' | 'list' | 'bool' | 'json';
interface EnvBinding {
  readonly path: readonly string[];
  readonly kind: EnvKind;
}

/** Environment variable → config key. TEMPORAL_* and DATABASE_URL are the names the wider ecosystem uses. */
export const ENVIRONMENT: Readonly<Record<string, EnvBinding>> = {
  RELENGOTRON_DATA_DIR: { path: ['dataDir'], kind: 'string' },
  LOG_LEVEL: { path: ['logLevel'], kind: 'string' },
  TEMPORAL_ADDRESS: { path: ['temporal', 'address'], kind: 'string' },
  TEMPORAL_NAMESPACE: { path: ['temporal', 'namespace'], kind: 'string' },
  TEMPORAL_CLI: { path: ['temporal', 'cliPath'], kind: 'string' },
  TEMPORAL_UI_PORT: { path: ['temporal', 'uiPort'], kind: 'int' },
  TEMPORAL_RETENTION: { path: ['temporal', 'retention'], kind: 'string' },
  DATABASE_URL: { path: ['database', 'url'], kind: 'string' },
  RELENGOTRON_EMBEDDED_PG_PORT: { path: ['database', 'embeddedPort'], kind: 'int' },
  RELENGOTRON_SHUTDOWN_GRACE: { path: ['workers', 'shutdownGraceTime'], kind: 'string' },
  RELENGOTRON_LIBVIRT_SLOTS: { path: ['workers', 'imageLibvirt', 'maxConcurrentActivities'], kind: 'int' },
  RELENGOTRON_VBOX_SLOTS: { path: ['workers', 'imageVbox', 'maxConcurrentActivities'], kind: 'int' },
  RELENGOTRON_BUS_TRANSPORT: { path: ['bus', 'transport'], kind: 'string' },
  AMQP_URL: { path: ['bus', 'amqp', 'url'], kind: 'string' },
  AMQP_EXCHANGE: { path: ['bus', 'amqp', 'exchange'], kind: 'string' },
  AMQP_QUEUE: { path: ['bus', 'amqp', 'queue'], kind: 'string' },
  AMQP_PREFETCH: { path: ['bus', 'amqp', 'prefetch'], kind: 'int' },
  AMQP_DEAD_LETTER_EXCHANGE: { path: ['bus', 'amqp', 'deadLetterExchange'], kind: 'string' },
  AMQP_CA_CERT: { path: ['bus', 'amqp', 'tls', 'ca'], kind: 'string' },
  AMQP_CLIENT_CERT: { path: ['bus', 'amqp', 'tls', 'certificate'], kind: 'string' },
  AMQP_CLIENT_KEY: { path: ['bus', 'amqp', 'tls', 'key'], kind: 'string' },
  FEDMSG_ENDPOINTS: { path: ['bus', 'endpoints'], kind: 'list' },
  FEDMSG_PUBLISH_ENDPOINT: { path: ['bus', 'publishEndpoint'], kind: 'string' },
  FEDMSG_TOPIC_PREFIX: { path: ['bus', 'topicPrefix'], kind: 'string' },
  FEDMSG_ENVIRONMENT: { path: ['bus', 'environment'], kind: 'string' },
  FEDMSG_VERIFY_SIGNATURES: { path: ['bus', 'verifySignatures'], kind: 'bool' },
  FEDMSG_CA_CERTS: { path: ['bus', 'caCertificates'], kind: 'list' },
  FEDMSG_SIGNING_CERT: { path: ['bus', 'signing', 'certificate'], kind: 'string' },
  FEDMSG_SIGNING_KEY: { path: ['bus', 'signing', 'key'], kind: 'string' },
  RELENGOTRON_INBOX_HIGH_WATER: { path: ['bus', 'inboxHighWater'], kind: 'int' },
  RELENGOTRON_INBOX_LOW_WATER: { path: ['bus', 'inboxLowWater'], kind: 'int' },
  RELENGOTRON_BUS_METRICS: { path: ['bus', 'metricsListen'], kind: 'string' },
  FEDMSG_ACCEPT_PREFIXES: { path: ['bus', 'acceptPrefixes'], kind: 'list' },
  RELENGOTRON_COMPOSE_LOCATIONS: { path: ['bus', 'acceptComposeLocations'], kind: 'list' },
  RELENGOTRON_DISPATCH_CONCURRENCY: { path: ['bus', 'dispatchConcurrency'], kind: 'int' },
  RELENGOTRON_MAX_START_ATTEMPTS: { path: ['bus', 'maxStartAttempts'], kind: 'int' },
  RELENGOTRON_INBOX_RETENTION: { path: ['bus', 'inboxRetention'], kind: 'string' },
  RELENGOTRON_MAX_MESSAGE_AGE: { path: ['bus', 'maxMessageAge'], kind: 'string' },
  RELENGOTRON_DEAD_LETTER_RETENTION: { path: ['bus', 'deadLetterRetention'], kind: 'string' },
  RELENGOTRON_MAX_RESPONSE_BYTES: { path: ['services', 'maxResponseBytes'], kind: 'int' },
  RELENGOTRON_PROFILE: { path: ['profile'], kind: 'string' },
  TEMPORAL_TLS_CA_PATH: { path: ['temporal', 'tls', 'ca'], kind: 'string' },
  TEMPORAL_TLS_CERT_PATH: { path: ['temporal', 'tls', 'cert'], kind: 'string' },
  TEMPORAL_TLS_KEY_PATH: { path: ['temporal', 'tls', 'key'], kind: 'string' },
  TEMPORAL_TLS_SERVER_NAME: { path: ['temporal', 'tls', 'serverName'], kind: 'string' },
  FEDMSG_BACKFILL_OVERLAP: { path: ['bus', 'backfill', 'overlap'], kind: 'string' },
  FEDMSG_CHECKPOINT_INTERVAL: { path: ['bus', 'backfill', 'checkpointInterval'], kind: 'string' },
  RELENGOTRON_BUS_ROUTES: { path: ['bus', 'routes'], kind: 'json' },
  RELENGOTRON_GATING_LANES: { path: ['gating', 'lanes'], kind: 'json' },
  RELENGOTRON_COMPOSE_TESTING: { path: ['composeTesting'], kind: 'json' },
  RELENGOTRON_IMAGE_CACHE: { path: ['workers', 'imageCacheDir'], kind: 'string' },
  RELENGOTRON_VM_DIR: { path: ['workers', 'vmWorkDir'], kind: 'string' },
  RELENGOTRON_IMAGE_CACHE_BUDGET: { path: ['workers', 'imageCacheBudget'], kind: 'string' },
  RELENGOTRON_IMAGE_UNPACK_LIMIT: { path: ['workers', 'imageUnpackLimit'], kind: 'string' },
  RELENGOTRON_VM_BACKEND: { path: ['workers', 'vmBackend'], kind: 'string' },
  LIBVIRT_DEFAULT_URI: { path: ['workers', 'libvirtUri'], kind: 'string' },
  RELENGOTRON_KVM: { path: ['workers', 'kvm'], kind: 'string' },
  RELENGOTRON_QEMU: { path: ['workers', 'qemu'], kind: 'string' },
  RELENGOTRON_OSTREE_REPO: { path: ['push', 'ostreeRepo'], kind: 'string' },
  RELENGOTRON_MIRROR_ROOT: { path: ['push', 'mirrorRoot'], kind: 'string' },
  RELENGOTRON_ARCHIVE_ROOT: { path: ['push', 'archiveRoot'], kind: 'string' },
  RELENGOTRON_SIGNING_HOMEDIR: { path: ['push', 'signing', 'homedir'], kind: 'string' },
  RELENGOTRON_SIGNING_KEY: { path: ['push', 'signing', 'keyId'], kind: 'string' },
  RELENGOTRON_SIGNING_PASSPHRASE_FILE: { path: ['push', 'signing', 'passphraseFile'], kind: 'string' },
  RELENGOTRON_OSTREE_PRUNE_POLICIES: { path: ['ostree', 'prune', 'policies'], kind: 'json' },
  RELENGOTRON_OSTREE_PRUNE_CRON: { path: ['ostree', 'prune', 'schedule', 'cron'], kind: 'string' },
  RELENGOTRON_DASHBOARD_LISTEN: { path: ['dashboard', 'listen'], kind: 'string' },
  RELENGOTRON_DASHBOARD_URL: { path: ['dashboard', 'url'], kind: 'string' },
  KOJI_HUB_URL: { path: ['services', 'kojiHub'], kind: 'string' },
  KOJI_TOP_URL: { path: ['services', 'kojiFiles'], kind: 'string' },
  RELENGOTRON_PUSH_COMPOSE_URL: { path: ['push', 'composeUrl'], kind: 'string' },
  RELENGOTRON_PUSH_WORK_DIR: { path: ['push', 'workDir'], kind: 'string' },
  RELENGOTRON_PUSH_TEST_POLICY: { path: ['push', 'testPolicy'], kind: 'json' },
  BODHI_URL: { path: ['services', 'bodhi'], kind: 'string' },
  PDC_URL: { path: ['services', 'pdc'], kind: 'string' },
  DATAGREPPER_URL: { path: ['services', 'datagrepper'], kind: 'string' },
  COMPOSE_BASE_URL: { path: ['services', 'composes'], kind: 'string' },
  SANDBOX_PORT: { path: ['sandbox', 'port'], kind: 'int' },
  SANDBOX_TLS_PORT: { path: ['sandbox', 'tlsPort'], kind: 'int' },
  KOJI_CLIENT_CERT: { path: ['services', 'kojiAuth', 'cert'], kind: 'string' },
  KOJI_CLIENT_KEY: { path: ['services', 'kojiAuth', 'key'], kind: 'string' },
  KOJI_SERVER_CA: { path: ['services', 'kojiAuth', 'serverCa'], kind: 'string' },
  KOJI_LOGIN_URL: { path: ['services', 'kojiAuth', 'loginUrl'], kind: 'string' },
  BODHI_OIDC_TOKEN_URL: { path: ['services', 'bodhiAuth', 'tokenUrl'], kind: 'string' },
  BODHI_OIDC_CLIENT_ID: { path: ['services', 'bodhiAuth', 'clientId'], kind: 'string' },
  BODHI_OIDC_CLIENT_SECRET_FILE: { path: ['services', 'bodhiAuth', 'clientSecretFile'], kind: 'string' },
  SANDBOX_BUS_ENDPOINT: { path: ['sandbox', 'busEndpoint'], kind: 'string' },
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Tree = { [key: string]: unknown };

function setPath(tree: Tree, path: readonly string[], value: unknown): void {
  let node = tree;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Tree;
  }
  node[path[path.length - 1]!] = value;
}

function envValue(kind: EnvKind, raw: string): unknown {
  switch (kind) {
    case 'int':
      // Left as text when not a number so the schema reports it with the expected form.
      return /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
    case 'list':
      return raw
        .split(/[\s,]+/)
        .map((s) => s.trim())
        .filter(Boolean);
    case 'bool':
      return /^(1|true|yes|on)$/i.test(raw.trim()) ? true : /^(0|false|no|off)$/i.test(raw.trim()) ? false : raw;
    case 'json':
      // Left as text when not JSON so the schema reports what it expected.
      try {
        return JSON.parse(raw) as unknown;
      } catch {
        return raw;
      }
    case 'string':
      return raw;
  }
}

/** The key, and the variable that set it or one of its parents (a JSON-valued variable sets a whole subtree). */
function describeSource(path: readonly PropertyKey[], fromEnv: Map<string, string>): string {
  const key = path.map(String).join('.');
  for (let n = path.length; n > 0; n--) {
    const envName = fromEnv.get(path.slice(0, n).map(String).join('.'));
    if (envName) return `${key} (from ${envName})`;
  }
  return key;
}

/** Edit distance, for suggesting the setting a misspelt key meant. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

/** A key no setting has: named, with the nearest setting at that level when one is close. */
function unknownKeyMessage(path: readonly PropertyKey[], key: string): string {
  // The settings at this level, as the defaults have them (optional settings without a default are absent).
  let node: unknown = ConfigSchema.parse({});
  for (const part of path) node = typeof node === 'object' && node !== null ? (node as Record<PropertyKey, unknown>)[part] : undefined;
  const known = typeof node === 'object' && node !== null && !Array.isArray(node) ? Object.keys(node) : [];
  const nearest = known.map((k) => ({ k, d: editDistance(key, k) })).sort((x, y) => x.d - y.d)[0];
  const hint = nearest && nearest.d <= Math.max(2, Math.floor(key.length / 4)) ? `; did you mean ${nearest.k}?` : '';
  return `unknown setting "${key}"${hint} (nothing reads it, so a typo would be silently ignored)`;
}

/** Reads and checks the configuration; throws ConfigError naming every bad key, unknown ones too. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  let tree: Tree = {};
  const file = env['RELENGOTRON_CONFIG'];
  if (file) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new Error('the top level must be a JSON object');
      }
      tree = parsed as Tree;
    } catch (err) {
      throw new ConfigError(`RELENGOTRON_CONFIG=${file}: ${(err as Error).message}`);
    }
  }
  const fromEnv = new Map<string, string>();
  for (const [name, binding] of Object.entries(ENVIRONMENT)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    setPath(tree, binding.path, envValue(binding.kind, raw));
    fromEnv.set(binding.path.join('.'), name);
  }
  const result = ConfigSchema.safeParse(tree);
  if (!result.success) {
    const lines = result.error.issues.flatMap((issue) => {
      if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => `  ${describeSource([...issue.path, key], fromEnv)}: ${unknownKeyMessage(issue.path, key)}`);
      const where = describeSource(issue.path, fromEnv);
      return [`  ${where}: ${issue.message}`];
    });
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  if (result.data.profile === 'production') {
    const missing = productionGaps(result.data, tree);
    if (missing.length > 0) throw new ConfigError(`RELENGOTRON_PROFILE=production refuses to start:\n${missing.map((m) => `  ${m}`).join('\n')}`);
    return result.data;
  }
  return withSandboxLogins(result.data);
}

/** The variable that sets a key, for messages. */
function variableFor(path: readonly string[]): string {
  const found = Object.entries(ENVIRONMENT).find(([, b]) => b.path.join('.') === path.join('.'));
  return found ? ` (${found[0]})` : '';
}

function isSet(tree: Tree, path: readonly string[]): boolean {
  let node: unknown = tree;
  for (const key of path) {
    if (typeof node !== 'object' || node === null) return false;
    node = (node as Tree)[key];
  }
  return node !== undefined;
}

/**
 * Development: where Koji or Bodhi is the configured sandbox and no login is configured, log in as
 * the sandbox's releng account, with the credentials the sandbox makes under dataDir.
 */
function withSandboxLogins(config: Config): Config {
  const files = sandboxCredentialFiles(sandboxCredentialsDir(config.dataDir));
  const { host, port: httpPort, tlsPort } = config.sandbox;
  const inSandbox = (url: string) => url.startsWith(`http://${host}:${httpPort}/`);
  const services = { ...config.services };
  if (!services.kojiAuth && inSandbox(services.kojiHub)) {
    services.kojiAuth = { ...files.koji(SANDBOX_RELENG_USER), serverCa: files.ca, loginUrl: `https://${host}:${tlsPort}/kojihub/ssllogin` };
  }
  if (!services.bodhiAuth && inSandbox(services.bodhi)) {
    services.bodhiAuth = { tokenUrl: `http://${host}:${httpPort}/oidc/token`, clientId: SANDBOX_RELENG_USER, clientSecretFile: files.bodhiSecret(SANDBOX_RELENG_USER) };
  }
  return { ...config, services };
}

/** True when the configured bus transport includes this one (`both` includes either). */
export function usesTransport(transport: Config['bus']['transport'], which: 'fedmsg' | 'amqp'): boolean {
  return transport === which || transport === 'both';
}

/** Route handlers that start or signal runs: their topics need a named signer in production. */
const WORK_STARTING_HANDLERS = new Set(['test-compose', 'discover-compose', 'gate-build', 'gate-ci-result', 'gate-greenwave-decision', 'push']);

/** What a production deployment lacks, one line per missing setting. */
function productionGaps(config: Config, tree: Tree): string[] {
  const gaps: string[] = [];
  if (usesTransport(config.bus.transport, 'fedmsg')) gaps.push(...fedmsgGaps(config, tree));
  if (usesTransport(config.bus.transport, 'amqp')) gaps.push(...amqpGaps(config, tree));
  const services: readonly (readonly string[])[] = [
    ['services', 'kojiHub'],
    ['services', 'kojiFiles'],
    ['services', 'bodhi'],
    ['services', 'pdc'],
    ['services', 'datagrepper'],
    ['services', 'composes'],
  ];
  for (const path of services) if (!isSet(tree, path)) gaps.push(`${path.join('.')} must be set explicitly${variableFor(path)}: its default is the local sandbox`);
  if (!config.services.kojiAuth) gaps.push('services.kojiAuth must name the releng certificate and key (KOJI_CLIENT_CERT, KOJI_CLIENT_KEY): Koji refuses writes without a login');
  if (!config.services.bodhiAuth) gaps.push('services.bodhiAuth must name the OIDC client (BODHI_OIDC_TOKEN_URL, BODHI_OIDC_CLIENT_ID, BODHI_OIDC_CLIENT_SECRET_FILE): Bodhi refuses writes without a token');
  // What the pipelines fetch and trust (metadata, images, API answers) must come over TLS.
  for (const key of ['kojiHub', 'kojiFiles', 'bodhi', 'pdc', 'datagrepper', 'composes'] as const) {
    if (isSet(tree, ['services', key]) && !config.services[key].startsWith('https://')) gaps.push(`services.${key} must be an https URL${variableFor(['services', key])}: ${config.services[key]}`);
  }
  for (const base of config.bus.acceptComposeLocations) if (!base.startsWith('https://')) gaps.push(`bus.acceptComposeLocations must be https URLs: ${base}`);
  // Credentials travel to these: never in the clear.
  if (config.services.bodhiAuth && !config.services.bodhiAuth.tokenUrl.startsWith('https://')) gaps.push(`services.bodhiAuth.tokenUrl must be an https URL${variableFor(['services', 'bodhiAuth', 'tokenUrl'])}: the client secret is sent there`);
  if (config.services.kojiAuth?.loginUrl && !config.services.kojiAuth.loginUrl.startsWith('https://')) gaps.push(`services.kojiAuth.loginUrl must be an https URL${variableFor(['services', 'kojiAuth', 'loginUrl'])}: the client certificate is presented there`);
  if (config.bus.maxMessageAge === 'off') gaps.push(`bus.maxMessageAge must be a duration${variableFor(['bus', 'maxMessageAge'])}: with it off, a replayed old signed message starts work again`);
  if (config.bus.acceptPrefixes.some((p) => p.endsWith('.dev'))) gaps.push(`bus.acceptPrefixes includes a dev environment (${config.bus.acceptPrefixes.join(', ')}): only a sandbox accepts those`);
  return gaps;
}

/** The fedmsg side of a production trust boundary: signatures checked, against named signers. */
function fedmsgGaps(config: Config, tree: Tree): string[] {
  const gaps: string[] = [];
  if (!config.bus.verifySignatures) gaps.push(`bus.verifySignatures must be true${variableFor(['bus', 'verifySignatures'])}: unsigned or forged messages would start work`);
  if (config.bus.caCertificates.length === 0) gaps.push(`bus.caCertificates must name the fedmsg CA's PEM file${variableFor(['bus', 'caCertificates'])}: without it any self-signed sender passes`);
  const unsignedTopics = [...new Set(config.bus.routes.filter((r) => WORK_STARTING_HANDLERS.has(r.handler)).map((r) => r.topic))].filter(
    (topic) => !(config.bus.routingPolicy[topic]?.length),
  );
  for (const topic of unsignedTopics) gaps.push(`bus.routingPolicy names no signer for ${topic}, which starts work (e.g. "${topic}": ["bodhi-bodhi-backend01.iad2.fedoraproject.org"])`);
  if (!isSet(tree, ['bus', 'endpoints'])) gaps.push(`bus.endpoints must be set explicitly${variableFor(['bus', 'endpoints'])}: its default is the local sandbox`);
  return gaps;
}

/**
 * fedora-messaging carries no signatures: the broker's authentication is the trust boundary, so
 * production talks to it only over TLS, with a client certificate, to a broker named on purpose.
 */
function amqpGaps(config: Config, tree: Tree): string[] {
  const gaps: string[] = [];
  const { url, tls } = config.bus.amqp;
  if (!isSet(tree, ['bus', 'amqp', 'url'])) gaps.push(`bus.amqp.url must be set explicitly${variableFor(['bus', 'amqp', 'url'])}: its default is a local RabbitMQ`);
  else if (!url.startsWith('amqps://')) gaps.push('bus.amqp.url must be amqps://: the broker authenticates who publishes, and the messages carry no signature of their own');
  if (!tls?.ca || !tls.certificate || !tls.key) gaps.push("bus.amqp.tls must name the broker's CA, the client certificate and its key (AMQP_CA_CERT, AMQP_CLIENT_CERT, AMQP_CLIENT_KEY), as Fedora's broker requires");
  return gaps;
}
