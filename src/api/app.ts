import express, { type Express } from 'express';
import { pinoHttp } from 'pino-http';
import swaggerUi from 'swagger-ui-express';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { Client } from '@temporalio/client';
import type { Durability } from '../temporal/durability';
import { authenticate, failedAuthLimit, requirePlatformToken } from './auth';
import { errorHandler, notFoundHandler } from './errors';
import type { Metrics } from './metrics';
import { createOpenApiRegistry, openApiDocument } from './openapi';
import { apiKeyRateLimit } from './rate-limit';
import { ApiRoutes } from './route';
import { healthRoutes, type ReadinessCheck } from './health';
import { appointmentRoutes } from '../appointments/routes';
import { createBookingServices } from '../appointments/wiring';
import { callbackRoutes } from '../callbacks/routes';
import { createCallbackService } from '../callbacks/service';
import { companyRoutes } from '../companies/routes';
import { createCompanyService } from '../companies/service';
import { directoryRoutes } from '../directory/routes';
import { createCalcomWebhook } from '../integrations/calcom';
import { createRetellWebhook } from '../integrations/retell';
import { integrationRoutes } from '../integrations/routes';
import { createIntegrationService } from '../integrations/service';
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
}

/** The HTTP API: thin routes over services; one error shape; OpenAPI from the validating schemas. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  app.use(pinoHttp({ logger: deps.logger, autoLogging: { ignore: (req) => req.url === '/health' || req.url === '/metrics' } }));
  app.use(deps.metrics.middleware);
  // Webhooks are verified over the exact bytes signed: their bodies stay raw (a Buffer), never parsed here.
  app.use('/webhooks', express.raw({ type: () => true, limit: deps.bodyLimit ?? '100kb' }));
  app.use(express.json({ limit: deps.bodyLimit ?? '100kb' }));

  const registry = createOpenApiRegistry();
  const authFailures = failedAuthLimit(deps.authFailuresPerMinute ?? 30);
  const routes = new ApiRoutes(registry, {
    authFailures: authFailures.check,
    authenticate: authenticate(deps.pool, authFailures.failed),
    platform: requirePlatformToken(deps.platformAdminToken, authFailures.failed),
    rateLimit: apiKeyRateLimit(deps.rateLimitPerMinute ?? 0),
  });
  // The features' services; each router gets only its own.
  const { pool, temporal: client, taskQueue, logger, durability, startTimeoutMs } = deps;
  const callbacks = createCallbackService({ pool, client, taskQueue, logger, durability, startTimeoutMs });
  healthRoutes(routes, deps);
  companyRoutes(routes, createCompanyService({ pool }));
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
  });
  directoryRoutes(routes, directory);
  notificationRoutes(routes, createNotificationService({ pool, client, taskQueue, logger, durability, startTimeoutMs }));
  callbackRoutes(routes, callbacks);
  policyRoutes(routes, policies);
  appointmentRoutes(routes, appointments);
  integrationRoutes(routes, {
    integrations: createIntegrationService({ pool }),
    calcom: createCalcomWebhook({ pool, directory, policies, logger }),
    retell: createRetellWebhook({ pool, policies, callbacks, logger }),
  });

  app.use(routes.router);
  const document = openApiDocument(registry);
  app.get('/openapi.json', (_req, res) => res.json(document));
  app.use('/docs', swaggerUi.serve, swaggerUi.setup(document, { customSiteTitle: 'Appointment orchestration API' }));

  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}
