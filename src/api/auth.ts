import { timingSafeEqual, createHash } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import type { Pool } from 'pg';
import { findApiKey } from '../companies/store';
import { roleAtLeast, type Role } from './roles';
import { forbidden, HttpError, unauthorized, type ErrorBody } from './errors';

/** Who is calling: one company, one role. Every query of a request is scoped by companyId. */
export interface AuthContext {
  companyId: string;
  role: Role;
  keyId: string;
  /** The staff member the key belongs to, if any (an agent works the callbacks assigned to them). */
  staffId?: string | null;
}

declare module 'express-serve-static-core' {
  interface Request {
    auth?: AuthContext;
  }
}

function bearer(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

/** The shape of every key generateApiKey makes: anything else is refused without asking the database. */
const API_KEY_SHAPE = /^ak_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/;

export type FailureHook = (req: Request, res: Response, next: NextFunction, error: unknown) => void;
const passOn: FailureHook = (_req, _res, next, error) => next(error);

/** Resolves `Authorization: Bearer <api key>` to the key's company and role, or 401 (reported to `failed`). */
export function authenticate(pool: Pool, failed: FailureHook = passOn): RequestHandler {
  return async (req, res, next) => {
    try {
      const key = bearer(req.headers.authorization);
      if (!key || !API_KEY_SHAPE.test(key)) throw unauthorized();
      const row = await findApiKey(pool, key);
      if (!row) throw unauthorized();
      req.auth = { companyId: row.company_id, role: row.role, keyId: row.id, staffId: row.staff_id };
      next();
    } catch (error) {
      if (error instanceof HttpError && error.status === 401) failed(req, res, next, error);
      else next(error);
    }
  };
}

export function authOf(req: { auth?: AuthContext }): AuthContext {
  if (!req.auth) throw unauthorized();
  return req.auth;
}

export function assertRole(auth: AuthContext, required: Role): void {
  if (!roleAtLeast(auth.role, required)) throw forbidden(`this operation needs the ${required} role; the key has ${auth.role}`);
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** The platform token (PLATFORM_ADMIN_TOKEN) that creates companies; 401 when absent or wrong. */
export function requirePlatformToken(expected: string | undefined, failed: FailureHook = passOn): RequestHandler {
  return (req, res, next) => {
    const given = bearer(req.headers.authorization);
    if (!expected || !given || !timingSafeEqual(digest(given), digest(expected)))
      return failed(req, res, next, unauthorized('missing or invalid platform token'));
    next();
  };
}

/**
 * Failed authentications (401) are throttled per client address: after `perMinute` of them within
 * a minute, that address's further failures are answered 429 (with Retry-After) instead of 401,
 * until the window passes. Only requests whose credentials fail are counted or refused: a valid
 * key (or platform or codec token) always passes, so one client guessing keys behind a NAT or a
 * proxy never locks out the other tenants behind it. Malformed keys never reach the database;
 * a well-formed one costs one indexed lookup, refused or not. 0 turns it off.
 */
export function failedAuthLimit(perMinute: number): { failed: FailureHook } {
  if (perMinute <= 0) return { failed: passOn };
  const limiter = rateLimit({
    windowMs: 60_000,
    limit: perMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: (req) => ipKeyGenerator(req.ip ?? 'unknown'),
    handler: (_req, res, _next, options) => {
      const body: ErrorBody = {
        error: {
          code: 'rate_limited',
          message: `too many requests with invalid credentials from this address; try again in ${options.windowMs / 1000} s`,
          details: { limit: perMinute, windowSeconds: options.windowMs / 1000 },
        },
      };
      res.status(429).json(body);
    },
  });
  // Counts this failure; over the limit the limiter answers 429, else the 401 goes on.
  return { failed: (req, res, next, error) => void limiter(req, res, () => next(error)) };
}
