import { randomBytes } from 'node:crypto';
import express, { type Express } from 'express';
import { pinoHttp } from 'pino-http';
import swaggerUi from 'swagger-ui-express';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { Client } from '@temporalio/client';
import type { Durability } from '../temporal/durability';
import { authenticate, failedAuthLimit, requirePlatformToken } from './auth';
import { codecServer, type CodecServerOptions } from './codec-server';
import { errorHandler, notFoundHandler } from './errors';
import { jsonBody } from './json-body';
import { serializeRequest } from './request-log';
import type { Metrics } from './metrics';
import { createOpenApiRegistry, openApiDocument } from './openapi';
import { apiKeyRateLimit } from './rate-limit';
import { ApiRoutes } from './route';
import { healthRoutes, type ReadinessCheck } from './health';
import { docsContentSecurityPolicy, securityHeaders, serializeResponse } from './security-headers';
import { consoleRouter, type ConsoleOptions } from '../console/router';
import { appointmentRoutes } from '../appointments/routes';
import { createBookingServices } from '../appointments/wiring';
import { callbackRoutes } from '../callbacks/routes';
import { createCallbackService } from '../callbacks/service';
import { companyRoutes } from '../companies/routes';
import { createFeatureSwitches, type FeatureSwitches } from '../companies/features';
import { createCompanyService } from '../companies/service';
import { directoryRoutes } from '../directory/routes';
import { createCalcomWebhook } from '../integrations/calcom';
import { ephemeralSecretBox, type SecretBox } from '../integrations/secret-box';
import { createRetellWebhook } from '../integrations/retell';
import { integrationRoutes } from '../integrations/routes';
import { createIntegrationService } from '../integrations/service';
import { consentRoutes } from '../consent/routes';
import { createConsentService } from '../consent/service';
import { privacyRoutes } from '../privacy/routes';
import { createPrivacyService } from '../privacy/service';
import { loadChannelConfig } from '../channels/config';
import { notificationRoutes } from '../notifications/routes';
import { createNotificationService } from '../notifications/service';
import type { PolicyCache } from '../policies/cache';
import { policyRoutes } from '../policies/routes';

export interface AppDeps {
  pool: Pool;
  temporal: Client;
  taskQueue: string;
  logger: Logger;
  metrics: Metrics;
  readiness: ReadinessCheck;
  platformAdminToken?: string;
  bodyLimit?: string;
  /** The webhooks' own body limits (their senders' sizes, not the API's): default 1mb (Cal.com), 5mb (Retell). */
  webhookBodyLimits?: { calcom?: string; retell?: string };
  /** Seals the integrations' secrets (SECRET_KEYS); default: a random key (what it seals, no other process opens). */
  secrets?: SecretBox;
  /** Requests per minute per API key; 0 turns the limit off. */
  rateLimitPerMinute?: number;
  /** Failed authentications per minute per client address before 429 (default 30); 0 turns it off. */
  authFailuresPerMinute?: number;
  /** How patiently the workflows the API starts retry infrastructure errors. */
  durability?: Durability;
  /** How long a create waits for Temporal before leaving the start to the reconciler (default 5 s). */
  startTimeoutMs?: number;
  /** The process's policy cache (the caller closes it); default: one of the policy service's own. */
  policyCache?: PolicyCache;
  /**
   * Unsubscribe links and Twilio's webhook signature. Default: a random secret (links the worker
   * signed elsewhere do not verify), http://127.0.0.1, and Twilio's placeholder token.
   */
  consent?: { unsubscribeSecret: string; publicBaseUrl: string; twilioAuthToken: string };
  /** The feature switches (with the deployment's defaults); default: the companies' own settings, every feature on otherwise. */
  features?: FeatureSwitches;
  /** Serve Temporal's remote codec protocol at /codec (src/api/codec-server.ts); absent: no codec server. */
  codecServer?: CodecServerOptions;
  /** The managers' console at /console (src/console); default: the build in dist/console. */
  console?: ConsoleOptions;
}

/** The HTTP API: thin routes over services; one error shape; OpenAPI from the validating schemas. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  // Security headers and the API's content security policy on every answer (/docs and /console set their own policy).
  app.use(securityHeaders());
  app.use(
    pinoHttp({
      logger: deps.logger,
      autoLogging: { ignore: (req) => req.url === '/health' || req.url === '/metrics' },
      // Tokens in URLs (unsubscribe, codec, webhook ids, query parameters) and credential headers: never logged.
      serializers: { req: serializeRequest, res: serializeResponse },
    }),
  );
  app.use(deps.metrics.middleware);
  const authFailures = failedAuthLimit(deps.authFailuresPerMinute ?? 30);
  // Before the API's JSON parser: codec requests carry whole payloads (its own, larger limit).
  if (deps.codecServer) app.use(codecServer(deps.codecServer, authFailures));
  // Webhooks are verified over the exact bytes signed: their bodies stay raw (a Buffer), never parsed here.
  // (Twilio's webhook is a signed form: parsed below, its signature covers the parameters.)
  // Each with its sender's limit: a Retell call object carries the transcript with word timings (~130 KiB for a long call).
  app.use('/webhooks/calcom', express.raw({ type: () => true, limit: deps.webhookBodyLimits?.calcom ?? '1mb' }));
  app.use('/webhooks/retell', express.raw({ type: () => true, limit: deps.webhookBodyLimits?.retell ?? '5mb' }));
  app.use(jsonBody({ limit: deps.bodyLimit ?? '100kb' }));
  // Form posts: the one-click unsubscribe (RFC 8058) and Twilio's webhooks.
  app.use(['/unsubscribe', '/webhooks/twilio'], express.urlencoded({ extended: false, limit: '20kb' }));

  const registry = createOpenApiRegistry();
  const { pool, temporal: client, taskQueue, logger, durability, startTimeoutMs } = deps;
  const features = deps.features ?? createFeatureSwitches({ db: pool });
  const routes = new ApiRoutes(registry, {
    authenticate: authenticate(deps.pool, authFailures.failed),
    platform: requirePlatformToken(deps.platformAdminToken, authFailures.failed),
    rateLimit: apiKeyRateLimit(deps.rateLimitPerMinute ?? 0),
    features,
  });
  // The features' services; each router gets only its own.
  const callbacks = createCallbackService({ pool, client, taskQueue, logger, durability, startTimeoutMs, features });
  callbacks.registerMetrics(deps.metrics.registry);
  healthRoutes(routes, deps);
  companyRoutes(routes, createCompanyService({ pool, features }));
  // Every appointment is a workflow: booked, moved or cancelled through any route, its workflow is started or told.
  const { appointments, policies, directory } = createBookingServices({
    pool,
    client,
    taskQueue,
    logger,
    durability,
    startTimeoutMs,
    policyCache: deps.policyCache,
    registry: deps.metrics.registry,
    onStaffAvailable: callbacks.staffBecameAvailable,
    features,
  });
  directoryRoutes(routes, directory);
  const notifications = createNotificationService({ pool, client, taskQueue, logger, durability, startTimeoutMs, features });
  notificationRoutes(routes, notifications);
  callbackRoutes(routes, callbacks);
  const consent = deps.consent ?? {
    unsubscribeSecret: randomBytes(32).toString('base64url'),
    publicBaseUrl: 'http://127.0.0.1',
    twilioAuthToken: loadChannelConfig({}).TWILIO_AUTH_TOKEN,
  };
  consentRoutes(routes, createConsentService({ pool, logger, unsubscribeSecret: consent.unsubscribeSecret }), consent);
  policyRoutes(routes, policies);
  appointmentRoutes(routes, appointments);
  const secrets = deps.secrets ?? ephemeralSecretBox();
  integrationRoutes(routes, {
    integrations: createIntegrationService({ pool, secrets, publicBaseUrl: consent.publicBaseUrl }),
    calcom: createCalcomWebhook({ pool, directory, policies, secrets, logger }),
    retell: createRetellWebhook({ pool, policies, callbacks, secrets, logger }),
  });
  privacyRoutes(routes, createPrivacyService({ pool, client, logger, callbacks, notifications }));

  app.use(routes.router);
  const document = openApiDocument(registry);
  app.get('/openapi.json', (_req, res) => res.json(document));
  app.use(
    '/docs',
    docsContentSecurityPolicy(),
    swaggerUi.serve,
    swaggerUi.setup(document, { customSiteTitle: 'Appointment orchestration API' }),
  );

  app.use('/console', consoleRouter(deps.console));

  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}
