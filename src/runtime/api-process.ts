import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { createApp } from '../api/app';
import type { PayloadCodec } from '@temporalio/common';
import { createMetrics } from '../api/metrics';
import { createFeatureSwitches } from '../companies/features';
import { durabilityOf, featureDefaultsOf, unsubscribeLinksOf, type Config } from '../config';
import type { Pool } from '../db/pool';
import { checkDeployment } from '../deployment/readiness';
import type { SecretBox } from '../integrations/secret-box';
import { sealSecrets } from '../integrations/secrets';
import { policyCacheFor } from '../policies/service';
import type { TemporalClientHandle } from '../temporal/client';

export interface RunningApi {
  url: string;
  close(): Promise<void>;
}

/** The browser origins allowed to call the codec server: CODEC_CORS_ORIGINS, else the dev Web UI's. */
export const codecOriginsOf = (config: Config): string[] =>
  config.CODEC_CORS_ORIGINS ?? [`http://localhost:${config.TEMPORAL_UI_PORT}`, `http://127.0.0.1:${config.TEMPORAL_UI_PORT}`];

/**
 * Serves the HTTP API until close(), which stops accepting and lets in-flight requests finish.
 * `payloadCodec` (the one `temporal`'s client uses) also serves the codec server at /codec when
 * CODEC_AUTH_TOKEN is set. `secrets` (SECRET_KEYS) seals the integrations' secrets; before
 * listening, the API seals any still in clear and re-seals those under an older key (best effort:
 * a row in clear still verifies, and the next start or `npm run secrets -- rotate` tries again).
 */
export async function startApi(
  config: Config,
  pool: Pool,
  temporal: TemporalClientHandle,
  logger: Logger,
  payloadCodec: PayloadCodec,
  secrets: SecretBox,
): Promise<RunningApi> {
  try {
    const report = await sealSecrets(pool, secrets);
    const level = report.unknownKeys.length ? 'error' : 'info';
    logger[level](
      { ...report, sealsWith: secrets.currentKeyId },
      report.unknownKeys.length
        ? 'integration secrets sealed under keys this process lacks: add them to SECRET_KEYS (their webhooks fail until then)'
        : 'integration secrets sealed at rest',
    );
  } catch (error) {
    logger.warn({ err: error }, 'could not seal the integration secrets now; the next start tries again');
  }
  // The process's policy cache: listening from the start, closed with the API.
  const policyCache = policyCacheFor(pool, {
    logger,
    maxEntries: config.POLICY_CACHE_MAX_ENTRIES,
    ttlMs: config.POLICY_CACHE_TTL_SECONDS * 1000,
  });
  void policyCache.start();
  const app = createApp({
    pool,
    temporal: temporal.client,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    logger,
    metrics: createMetrics(),
    readiness: () => checkDeployment(pool, temporal.connection, temporal.namespace),
    platformAdminToken: config.PLATFORM_ADMIN_TOKEN,
    bodyLimit: config.BODY_LIMIT,
    webhookBodyLimits: { calcom: config.CALCOM_WEBHOOK_BODY_LIMIT, retell: config.RETELL_WEBHOOK_BODY_LIMIT },
    secrets,
    rateLimitPerMinute: config.API_RATE_LIMIT_PER_MINUTE,
    authFailuresPerMinute: config.API_AUTH_FAILURES_PER_MINUTE,
    durability: durabilityOf(config),
    policyCache,
    consent: (() => {
      const links = unsubscribeLinksOf(config);
      return { unsubscribeSecret: links.secret, publicBaseUrl: links.baseUrl, twilioAuthToken: config.channels.TWILIO_AUTH_TOKEN };
    })(),
    features: createFeatureSwitches({ db: pool, defaults: featureDefaultsOf(config), ttlMs: config.FEATURE_CACHE_TTL_SECONDS * 1000 }),
    codecServer: config.CODEC_AUTH_TOKEN
      ? {
          codec: payloadCodec,
          token: config.CODEC_AUTH_TOKEN,
          namespace: config.TEMPORAL_NAMESPACE,
          allowedOrigins: codecOriginsOf(config),
        }
      : undefined,
  });
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(config.PORT, config.HOST, () => resolve(s));
    s.on('error', reject);
  });
  const url = `http://${config.HOST}:${config.PORT}`;
  logger.info({ url }, 'API listening');
  if (config.CODEC_AUTH_TOKEN) logger.info({ endpoint: `${url}/codec`, allowedOrigins: codecOriginsOf(config) }, 'codec server on');
  else logger.info('codec server off (set CODEC_AUTH_TOKEN to decode payloads for the Web UI)');
  return {
    url,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await policyCache.close();
    },
  };
}
