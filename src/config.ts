import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { loadChannelConfig, type ChannelConfig } from './channels/config';
import type { UnsubscribeLinks } from './consent/tokens';
import type { FeatureDefaults } from './companies/definitions';
import type { Durability } from './temporal/durability';
import { parsePayloadKeys, PayloadKeysError, type PayloadKey } from './temporal/payload-codec';

/**
 * Every setting of the service, read from the environment once and validated.
 * A bad value stops the process at start-up with the variable's name, not later at first use.
 */
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

/** A switch: true/false, 1/0, on/off, yes/no (any case); unset or empty: the default. */
const flag = (fallback: boolean) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      const value = (v ?? '').trim().toLowerCase();
      if (value === '') return fallback;
      if (['true', '1', 'on', 'yes'].includes(value)) return true;
      if (['false', '0', 'off', 'no'].includes(value)) return false;
      ctx.addIssue({ code: 'custom', message: 'must be true or false (also 1/0, on/off, yes/no)' });
      return z.NEVER;
    });

/** Browser origins (`scheme://host[:port]`), comma-separated. */
const origins = optionalString.pipe(
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined) return undefined;
      const list = v
        .split(',')
        .map((o) => o.trim())
        .filter(Boolean);
      for (const o of list) {
        let parsed: URL | undefined;
        try {
          parsed = new URL(o);
        } catch {
          parsed = undefined;
        }
        if (!parsed || !/^https?:$/.test(parsed.protocol) || parsed.origin !== o.replace(/\/$/, ''))
          ctx.addIssue({ code: 'custom', message: `${o} is not an origin (scheme://host[:port], no path; * is not allowed)` });
      }
      return list.map((o) => o.replace(/\/$/, ''));
    }),
);

const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);

export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  // HTTP API
  HOST: z.string().default('127.0.0.1'),
  PORT: port(3000),
  BODY_LIMIT: z.string().default('100kb'),
  /**
   * The webhooks' own body limits (their senders', not the API's): a Cal.com booking with long free
   * texts or a seated event's attendees; a Retell call object with its transcript and word timings.
   */
  CALCOM_WEBHOOK_BODY_LIMIT: z.string().default('1mb'),
  RETELL_WEBHOOK_BODY_LIMIT: z.string().default('5mb'),
  /** How long the body of a rejected or unmapped Cal.com delivery is kept for an operator (the hourly purge empties it). */
  CALCOM_DELIVERY_BODY_TTL_HOURS: z.coerce.number().int().min(1).max(8760).default(168),
  /** Requests per minute per API key (429 above it); 0 turns the limit off. */
  API_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).default(1200),
  /** Failed authentications per minute per client address; past it, failures are 429 (valid credentials always pass); 0 turns it off. */
  API_AUTH_FAILURES_PER_MINUTE: z.coerce.number().int().min(0).default(30),
  /**
   * The API's address as customers and providers reach it (e.g. https://api.example.com): the base
   * of the unsubscribe links in emails and of the URL Twilio signs. Unset: http://HOST:PORT.
   */
  PUBLIC_BASE_URL: optionalString.pipe(z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).optional()),
  /**
   * Signs the one-click unsubscribe links (HMAC-SHA256): at least 32 characters, the same in the API
   * and the worker. Required in production; elsewhere one is generated once under DATA_DIR.
   */
  UNSUBSCRIBE_SECRET: optionalString.pipe(z.string().min(32, 'must be at least 32 characters (a long random secret)').optional()),
  /** How long an unsubscribe link works after its email was sent. */
  UNSUBSCRIBE_LINK_TTL_DAYS: z.coerce.number().int().min(1).max(3650).default(365),
  /** Creates companies: a secret of at least 24 characters (npm start generates one when unset). */
  PLATFORM_ADMIN_TOKEN: optionalString.pipe(z.string().min(24, 'must be at least 24 characters (a long random secret)').optional()),

  // PostgreSQL: DATABASE_URL, or a throwaway embedded server under DATA_DIR.
  DATABASE_URL: optionalString,
  /** Connections of the API process's pool (the worker sizes its own from its slots). */
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  /** How long a query may wait for a pooled connection before failing (and being retried). */
  DATABASE_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5_000),
  DATA_DIR: z.string().default('.data'),
  EMBEDDED_POSTGRES_PORT: port(5433),

  // Temporal: TEMPORAL_ADDRESS, or the CLI dev server (SQLite file under DATA_DIR, Web UI), or with
  // TEMPORAL_PERSISTENCE=postgres the full Temporal server on the same PostgreSQL (no Web UI).
  TEMPORAL_ADDRESS: optionalString,
  TEMPORAL_PERSISTENCE: optionalString.pipe(z.enum(['sqlite', 'postgres']).default('sqlite')),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_TASK_QUEUE: z.string().default('appointments'),
  TEMPORAL_CLI_PATH: optionalString,
  TEMPORAL_DEV_PORT: port(7233),
  TEMPORAL_UI_PORT: port(8233),

  // Worker tuning. The worker's pool has one connection per activity slot (activities + local
  // activities), so an activity never waits for a connection another one holds.
  WORKER_MAX_CONCURRENT_ACTIVITIES: z.coerce.number().int().min(1).max(200).default(20),
  WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES: z.coerce.number().int().min(1).max(200).default(20),
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).default(1000),
  WORKER_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(10_000),
  /** How long an Idempotency-Key is remembered; an hourly Temporal Schedule forgets older ones. */
  IDEMPOTENCY_KEY_TTL_HOURS: z.coerce.number().int().min(1).max(8760).default(72),
  // How patiently workflows ride out infrastructure trouble (a database outage): retried, never counted.
  WORKFLOW_INFRA_RETRY_HOURS: z.coerce.number().min(0.01).max(720).default(6),
  WORKFLOW_INFRA_RETRY_INITIAL_MS: z.coerce.number().int().min(10).max(60_000).default(1_000),
  WORKFLOW_INFRA_RETRY_MAX_SECONDS: z.coerce.number().int().min(1).max(3_600).default(300),
  WORKFLOW_HEARTBEAT_TIMEOUT_SECONDS: z.coerce.number().int().min(2).max(600).default(15),
  // The outbox reconciler (a Temporal Schedule): starts rows whose workflow never started, finishes orphans.
  RECONCILE_EVERY_SECONDS: z.coerce.number().int().min(10).max(86_400).default(60),
  RECONCILE_GRACE_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
  RECONCILE_LOOKBACK_HOURS: z.coerce.number().int().min(1).max(720).default(24),
  // The policy cache (src/policies/cache.ts): invalidated through LISTEN/NOTIFY; these bound it.
  POLICY_CACHE_MAX_ENTRIES: z.coerce.number().int().min(100).max(10_000_000).default(10_000),
  POLICY_CACHE_TTL_SECONDS: z.coerce.number().int().min(1).max(86_400).default(600),

  // Payload encryption (src/temporal/payload-codec.ts): `id:base64key` entries, newest last, in the
  // variable or in a file (one per line). Required with NODE_ENV=production (worker and API refuse
  // to start without); in development npm start keeps a generated key in DATA_DIR/payload-keys.
  PAYLOAD_KEYS: optionalString,
  PAYLOAD_KEYS_FILE: optionalString,
  // Tenant secrets at rest (src/integrations/secret-box.ts): the same format, a separate ring, read by
  // the API (and `migrate`, which seals existing rows). Required for the API with NODE_ENV=production;
  // in development npm start keeps a generated key in DATA_DIR/secret-keys.
  SECRET_KEYS: optionalString,
  SECRET_KEYS_FILE: optionalString,
  /** The codec server's token (src/api/codec-server.ts); unset: no codec server (npm start generates one). */
  CODEC_AUTH_TOKEN: optionalString.pipe(z.string().min(24, 'must be at least 24 characters (a long random secret)').optional()),
  /** Browser origins allowed to call the codec server (the Web UI's); default: the dev Web UI's, on localhost and 127.0.0.1. */
  CODEC_CORS_ORIGINS: origins,

  // Feature switches: what a company without its own setting gets (PUT /v1/company/features overrides per company).
  FEATURE_POLICIES: flag(true),
  FEATURE_CALLBACKS: flag(true),
  FEATURE_NOTIFICATIONS: flag(true),
  /** How long a process trusts the switches it read (another process's change shows within this; 0: read every time). */
  FEATURE_CACHE_TTL_SECONDS: z.coerce.number().int().min(0).max(300).default(5),

  /** host:port where the Temporal SDK serves worker metrics for Prometheus; unset: not served. */
  WORKER_METRICS_BIND_ADDRESS: optionalString.pipe(
    z
      .string()
      .regex(/^[^:]+:\d{1,5}$/, 'must be host:port, e.g. 0.0.0.0:9464')
      .optional(),
  ),
});

/**
 * The service's settings, and the notification channels' (src/channels/config.ts), read once.
 * `payloadKeys`: PAYLOAD_KEYS or PAYLOAD_KEYS_FILE parsed and checked (undefined when neither is set);
 * `secretKeys` likewise from SECRET_KEYS or SECRET_KEYS_FILE.
 */
export type Config = z.infer<typeof configSchema> & { channels: ChannelConfig; payloadKeys?: PayloadKey[]; secretKeys?: PayloadKey[] };

/** Settings that only make sense together. */
function consistent(c: z.infer<typeof configSchema>, issue: (path: string, message: string) => void): void {
  // A heartbeat timeout shorter than a pool wait would hand a live attempt to another worker.
  if (c.WORKFLOW_HEARTBEAT_TIMEOUT_SECONDS * 1000 < 2 * c.DATABASE_CONNECT_TIMEOUT_MS) {
    issue(
      'WORKFLOW_HEARTBEAT_TIMEOUT_SECONDS',
      `must be at least twice DATABASE_CONNECT_TIMEOUT_MS (${c.DATABASE_CONNECT_TIMEOUT_MS} ms): a pool wait must never outlast a heartbeat`,
    );
  }
  if (c.NODE_ENV === 'production' && !c.UNSUBSCRIBE_SECRET) {
    issue('UNSUBSCRIBE_SECRET', 'required in production: it signs the unsubscribe links of every email, in the API and the worker alike');
  }
  if (c.WORKFLOW_INFRA_RETRY_MAX_SECONDS * 1000 < c.WORKFLOW_INFRA_RETRY_INITIAL_MS) {
    issue('WORKFLOW_INFRA_RETRY_MAX_SECONDS', 'must not be shorter than WORKFLOW_INFRA_RETRY_INITIAL_MS');
  }
  if (c.PAYLOAD_KEYS && c.PAYLOAD_KEYS_FILE) issue('PAYLOAD_KEYS_FILE', 'set PAYLOAD_KEYS or PAYLOAD_KEYS_FILE, not both');
  if (c.SECRET_KEYS && c.SECRET_KEYS_FILE) issue('SECRET_KEYS_FILE', 'set SECRET_KEYS or SECRET_KEYS_FILE, not both');
}

/**
 * The unsubscribe links' settings. Without UNSUBSCRIBE_SECRET (development) the secret is read from
 * DATA_DIR/unsubscribe-secret, created once, so links keep working across restarts and processes.
 */
export function unsubscribeLinksOf(c: Config): UnsubscribeLinks {
  let secret = c.UNSUBSCRIBE_SECRET;
  if (!secret) {
    const file = path.join(c.DATA_DIR, 'unsubscribe-secret');
    if (!fs.existsSync(file)) {
      fs.mkdirSync(c.DATA_DIR, { recursive: true });
      // 'wx': two processes starting at once keep whichever was written first.
      try {
        fs.writeFileSync(file, randomBytes(32).toString('base64url'), { flag: 'wx', mode: 0o600 });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
    secret = fs.readFileSync(file, 'utf8').trim();
  }
  const host = c.HOST === '0.0.0.0' || c.HOST === '::' ? '127.0.0.1' : c.HOST;
  return { secret, baseUrl: c.PUBLIC_BASE_URL ?? `http://${host}:${c.PORT}`, ttlDays: c.UNSUBSCRIBE_LINK_TTL_DAYS };
}

/**
 * A key ring from its variable or its file (PAYLOAD_KEYS / PAYLOAD_KEYS_FILE, SECRET_KEYS /
 * SECRET_KEYS_FILE); problems name the variable (never a key).
 */
function keyRingOf(
  variable: 'PAYLOAD_KEYS' | 'SECRET_KEYS',
  inline: string | undefined,
  file: string | undefined,
  issue: (path: string, message: string) => void,
): PayloadKey[] | undefined {
  const [name, read] = inline
    ? [variable, () => inline]
    : file
      ? [`${variable}_FILE`, () => fs.readFileSync(file, 'utf8')]
      : [undefined, undefined];
  if (!name || !read) return undefined;
  try {
    return parsePayloadKeys(read());
  } catch (error) {
    if (error instanceof PayloadKeysError) issue(name, error.message);
    else issue(name, `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    return undefined;
  }
}

/** What a company gets for each feature unless it has its own setting. */
export const featureDefaultsOf = (c: Config): FeatureDefaults => ({
  policies: c.FEATURE_POLICIES,
  callbacks: c.FEATURE_CALLBACKS,
  notifications: c.FEATURE_NOTIFICATIONS,
});

/** The workflows' infrastructure retry policy (src/temporal/durability.ts), from the configuration. */
export function durabilityOf(c: Config): Durability {
  return {
    infraRetryMs: Math.round(c.WORKFLOW_INFRA_RETRY_HOURS * 3_600_000),
    infraInitialIntervalMs: c.WORKFLOW_INFRA_RETRY_INITIAL_MS,
    infraMaximumIntervalMs: c.WORKFLOW_INFRA_RETRY_MAX_SECONDS * 1000,
    heartbeatTimeoutMs: c.WORKFLOW_HEARTBEAT_TIMEOUT_SECONDS * 1000,
  };
}

/** The worker's pool: one connection per activity slot, so slots and connections always agree. */
export const workerPoolSize = (c: Config) => c.WORKER_MAX_CONCURRENT_ACTIVITIES + c.WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES;

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  let payloadKeys: PayloadKey[] | undefined;
  let secretKeys: PayloadKey[] | undefined;
  const parsed = configSchema
    .superRefine((c, ctx) => {
      const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
      consistent(c, issue);
      payloadKeys = keyRingOf('PAYLOAD_KEYS', c.PAYLOAD_KEYS, c.PAYLOAD_KEYS_FILE, issue);
      secretKeys = keyRingOf('SECRET_KEYS', c.SECRET_KEYS, c.SECRET_KEYS_FILE, issue);
    })
    .safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid configuration: ${problems}`);
  }
  return { ...parsed.data, channels: loadChannelConfig(env), payloadKeys, secretKeys };
}
