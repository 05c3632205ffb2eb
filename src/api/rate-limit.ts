import type { RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import type { ErrorBody } from './errors';

/**
 * Requests per minute per API key (after authentication), answered with 429, the API's error
 * body and `Retry-After`. The count is kept in this process's memory: with N API replicas behind
 * a load balancer a key gets up to N times the limit (a shared store is the upgrade path).
 */
export function apiKeyRateLimit(perMinute: number): RequestHandler {
  if (perMinute <= 0) return (_req, _res, next) => next();
  return rateLimit({
    windowMs: 60_000,
    limit: perMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: (req) => req.auth?.keyId ?? 'anonymous',
    handler: (_req, res, _next, options) => {
      const body: ErrorBody = {
        error: {
          code: 'rate_limited',
          message: `more than ${perMinute} requests per minute with this API key`,
          details: { limit: perMinute, windowSeconds: options.windowMs / 1000 },
        },
      };
      res.status(429).json(body);
    },
  });
}
