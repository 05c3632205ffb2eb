import { timingSafeEqual, createHash } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Pool } from 'pg';
import { findApiKey } from '../companies/store';
import { roleAtLeast, type Role } from './roles';
import { forbidden, unauthorized } from './errors';

/** Who is calling: one company, one role. Every query of a request is scoped by companyId. */
export interface AuthContext {
  companyId: string;
  role: Role;
  keyId: string;
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

/** Resolves `Authorization: Bearer <api key>` to the key's company and role, or 401. */
export function authenticate(pool: Pool): RequestHandler {
  return async (req, _res, next) => {
    try {
      const key = bearer(req.headers.authorization);
      if (!key) throw unauthorized();
      const row = await findApiKey(pool, key);
      if (!row) throw unauthorized();
      req.auth = { companyId: row.company_id, role: row.role, keyId: row.id };
      next();
    } catch (error) {
      next(error);
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
export function requirePlatformToken(expected: string | undefined): RequestHandler {
  return (req, _res, next) => {
    const given = bearer(req.headers.authorization);
    if (!expected || !given || !timingSafeEqual(digest(given), digest(expected)))
      return next(unauthorized('missing or invalid platform token'));
    next();
  };
}
