import type { OpenAPIRegistry, RouteConfig } from '@asteasolutions/zod-to-openapi';
import { Router, type Request, type RequestHandler, type Response } from 'express';
import type { ZodType } from 'zod';
import type { Feature } from '../companies/definitions';
import type { Role } from './roles';
import { assertRole, authOf, type AuthContext } from './auth';
import { ValidationError, type FieldIssue } from '../errors';
import { validationErrorFrom } from './errors';
import { assertJsonBody } from './json-body';
import { ErrorResponse } from './fields';

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** Who may call a route: nobody special, the platform token, or an API key with at least this role. */
export type Access = 'public' | 'platform' | Role;

export interface HandlerContext<P, Q, B, H = Record<string, string | undefined>> {
  params: P;
  query: Q;
  body: B;
  /** The documented request headers, validated (names in lower case). */
  headers: H;
  /** The caller (absent on public and platform routes). */
  auth: AuthContext;
  req: Request;
  res: Response;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface RouteSpec<P, Q, B> {
  method: Method;
  /** Express-style path, e.g. `/v1/branches/:id`. */
  path: string;
  summary: string;
  tags: string[];
  access: Access;
  params?: ZodType<P>;
  query?: ZodType<Q>;
  body?: ZodType<B>;
  /** Extra request headers documented (e.g. Idempotency-Key). */
  headers?: ZodType;
  responses: Record<number, { description: string; schema?: ZodType }>;
  /**
   * The feature whose new work this route starts (API-key routes only): while the caller's company
   * has it switched off (PUT /v1/company/features) the route answers 409 `feature_disabled` before
   * anything is parsed, written or started. Reads, configuration and messages to work already
   * running leave it out. Callers without an API key use FeatureSwitches.require in the service.
   */
  feature?: Feature;
  handler(ctx: HandlerContext<P, Q, B>): Promise<Reply>;
}

export interface RouteGuards {
  authenticate: RequestHandler;
  platform: RequestHandler;
  /** Runs after authenticate on API-key routes (per-key request limit). */
  rateLimit?: RequestHandler;
  /** The feature switches (src/companies/features.ts), for routes that declare a `feature`. */
  features?: { require(companyId: string, feature: Feature): Promise<void> };
}

/**
 * One rule for every route and every field, free-form JSON included: a string with the NUL
 * character (\u0000) is refused, naming the field. PostgreSQL cannot store it in text or jsonb,
 * and no name, note or message needs it.
 */
function nulFields(value: unknown, path: string, found: FieldIssue[] = []): FieldIssue[] {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) found.push({ field: path, message: 'must not contain the NUL character (\\u0000)' });
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => nulFields(v, `${path}.${i}`, found));
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k.includes('\u0000'))
        found.push({ field: `${path}.${k.replace(/\u0000/g, '\\u0000')}`, message: 'a key must not contain the NUL character' });
      nulFields(v, `${path}.${k}`, found);
    }
  }
  return found;
}

function parse<T>(schema: ZodType<T> | undefined, value: unknown, where: string): T {
  if (!schema) return undefined as T;
  const nul = nulFields(value, where);
  if (nul.length > 0) throw new ValidationError(`invalid request: ${nul.map((i) => i.field).join(', ')}`, nul);
  const result = schema.safeParse(value);
  if (!result.success) throw validationErrorFrom(result.error, where);
  return result.data;
}

const openApiPath = (path: string) => path.replace(/:([A-Za-z_]\w*)/g, '{$1}');

const STANDARD_ERRORS: Record<number, string> = {
  400: 'Invalid input; `details.fields` names each bad field',
  401: 'Missing or invalid credentials',
  403: 'The key lacks the role this operation needs',
  404: 'Not found (also for another company’s ids)',
  409: 'Conflict: a duplicate, an invalid state transition, or a concurrent change (retry it)',
  413: 'The request body is larger than the limit',
  415: 'The request body is not JSON in a supported encoding and charset',
  429: 'Too many requests with this API key (or with invalid credentials from this address); see Retry-After',
  503: 'A dependency is down; nothing was written',
};

/**
 * One route, declared once: the Express handler (authorisation, validation of params, query and
 * body, the reply) and its OpenAPI operation come from the same schemas.
 */
export class ApiRoutes {
  readonly router = Router();

  constructor(
    private readonly registry: OpenAPIRegistry,
    private readonly guards: RouteGuards,
  ) {}

  add<P = undefined, Q = undefined, B = undefined>(spec: RouteSpec<P, Q, B>): this {
    const { features } = this.guards;
    if (spec.feature && (spec.access === 'public' || spec.access === 'platform' || !features))
      throw new Error(`${spec.method.toUpperCase()} ${spec.path}: a feature switch needs an API-key route and the switches`);
    const keyGuards = [this.guards.authenticate, ...(this.guards.rateLimit ? [this.guards.rateLimit] : [])];
    const guard: RequestHandler[] = spec.access === 'public' ? [] : spec.access === 'platform' ? [this.guards.platform] : keyGuards;
    const handler: RequestHandler = async (req, res, next) => {
      try {
        const auth = spec.access === 'public' || spec.access === 'platform' ? (undefined as unknown as AuthContext) : authOf(req);
        if (auth) assertRole(auth, spec.access as Role);
        if (spec.feature) await features!.require(auth.companyId, spec.feature);
        if (spec.body) assertJsonBody(req);
        const ctx: HandlerContext<P, Q, B> = {
          params: parse(spec.params, req.params, 'params'),
          query: parse(spec.query, req.query, 'query'),
          body: parse(spec.body, req.body ?? {}, 'body'),
          headers: (spec.headers ? parse(spec.headers, req.headers, 'headers') : {}) as Record<string, string | undefined>,
          auth,
          req,
          res,
        };
        const reply = await spec.handler(ctx);
        if (res.headersSent) return; // the handler streamed its own reply (e.g. /metrics)
        for (const [name, value] of Object.entries(reply.headers ?? {})) res.setHeader(name, value);
        if (reply.body === undefined) res.status(reply.status).end();
        else res.status(reply.status).json(reply.body);
      } catch (error) {
        next(error);
      }
    };
    this.router[spec.method](spec.path, ...guard, handler);
    this.registry.registerPath(this.operation(spec));
    return this;
  }

  private operation<P, Q, B>(spec: RouteSpec<P, Q, B>): RouteConfig {
    const responses: RouteConfig['responses'] = {};
    for (const [status, r] of Object.entries(spec.responses)) {
      responses[status] = r.schema
        ? { description: r.description, content: { 'application/json': { schema: r.schema } } }
        : { description: r.description };
    }
    const bodyErrors = spec.body ? [413, 415] : [];
    const keyErrors = spec.access === 'platform' ? [429] : [403, 404, 409, 429];
    const errorStatuses = spec.access === 'public' ? [400, ...bodyErrors, 503] : [400, 401, ...keyErrors, ...bodyErrors, 503];
    for (const status of errorStatuses) {
      responses[status] ??= { description: STANDARD_ERRORS[status], content: { 'application/json': { schema: ErrorResponse } } };
    }
    return {
      method: spec.method,
      path: openApiPath(spec.path),
      summary: spec.summary,
      tags: spec.tags,
      description:
        spec.access === 'public'
          ? undefined
          : spec.access === 'platform'
            ? 'Needs the platform token.'
            : `Needs an API key with role ${spec.access} or above.` +
              (spec.feature
                ? ` Answers 409 \`feature_disabled\` (and starts nothing) while the company has the ${spec.feature} feature switched off.`
                : ''),
      security: spec.access === 'public' ? [] : [{ bearerAuth: [] }],
      request: {
        ...(spec.params ? { params: spec.params as never } : {}),
        ...(spec.query ? { query: spec.query as never } : {}),
        ...(spec.headers ? { headers: spec.headers as never } : {}),
        ...(spec.body ? { body: { content: { 'application/json': { schema: spec.body } } } } : {}),
      },
      responses,
    };
  }
}
