import { z } from 'zod';
import { loadChannelConfig, type ChannelConfig } from './channels/config';

/**
 * Every setting of the service, read from the environment once and validated.
 * A bad value stops the process at start-up with the variable's name, not later at first use.
 */
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);

export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  // HTTP API
  HOST: z.string().default('127.0.0.1'),
  PORT: port(3000),
  BODY_LIMIT: z.string().default('100kb'),
  /** Requests per minute per API key (429 above it); 0 turns the limit off. */
  API_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).default(1200),
  PLATFORM_ADMIN_TOKEN: optionalString,

  // PostgreSQL: DATABASE_URL, or a throwaway embedded server under DATA_DIR.
  DATABASE_URL: optionalString,
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  DATA_DIR: z.string().default('.data'),
  EMBEDDED_POSTGRES_PORT: port(5433),

  // Temporal: TEMPORAL_ADDRESS, or the CLI dev server (SQLite file under DATA_DIR, Web UI).
  TEMPORAL_ADDRESS: optionalString,
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_TASK_QUEUE: z.string().default('appointments'),
  TEMPORAL_CLI_PATH: optionalString,
  TEMPORAL_DEV_PORT: port(7233),
  TEMPORAL_UI_PORT: port(8233),

  // Worker tuning
  WORKER_MAX_CONCURRENT_ACTIVITIES: z.coerce.number().int().min(1).default(100),
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).default(1000),
  WORKER_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(10_000),
  /** How long an Idempotency-Key is remembered; an hourly Temporal Schedule forgets older ones. */
  IDEMPOTENCY_KEY_TTL_HOURS: z.coerce.number().int().min(1).max(8760).default(72),
  /** host:port where the Temporal SDK serves worker metrics for Prometheus; unset: not served. */
  WORKER_METRICS_BIND_ADDRESS: optionalString.pipe(
    z
      .string()
      .regex(/^[^:]+:\d{1,5}$/, 'must be host:port, e.g. 0.0.0.0:9464')
      .optional(),
  ),
});

/** The service's settings, and the notification channels' (src/channels/config.ts), read once. */
export type Config = z.infer<typeof configSchema> & { channels: ChannelConfig };

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid configuration: ${problems}`);
  }
  return { ...parsed.data, channels: loadChannelConfig(env) };
}
