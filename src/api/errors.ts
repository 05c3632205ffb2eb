import type { ErrorRequestHandler, RequestHandler } from 'express';
import { ZodError } from 'zod';
import { DomainError, ValidationError, type FieldIssue } from '../errors';

/** The one error body of the API: `{"error": {"code", "message", "details"}}`. */
export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export const unauthorized = (message = 'missing or invalid API key') => new HttpError(401, 'unauthorized', message);
export const forbidden = (message: string) => new HttpError(403, 'forbidden', message);

const STATUS_BY_CODE: Record<string, number> = {
  validation_error: 400,
  forbidden: 403,
  not_found: 404,
  rate_limited: 429,
  unavailable: 503,
};

/** Zod issues as `{ field, message }`, the field being a dotted path such as `body.priority`. */
export function fieldIssues(error: ZodError, prefix?: string): FieldIssue[] {
  const fieldOf = (path: PropertyKey[]) => [prefix, ...path.map(String)].filter(Boolean).join('.') || prefix || '(root)';
  const issues = error.issues.flatMap((issue) =>
    // A strict object reports its unknown keys as one issue on the object itself: name each key.
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ field: fieldOf([...issue.path, key]), message: 'unknown field' }))
      : [{ field: fieldOf(issue.path), message: issue.message }],
  );
  // One entry per field: several broken rules of one field are one problem with several reasons.
  const byField = new Map<string, string[]>();
  for (const { field, message } of issues) byField.set(field, [...(byField.get(field) ?? []), message]);
  return [...byField].map(([field, messages]) => ({ field, message: [...new Set(messages)].join('; ') }));
}

export function validationErrorFrom(error: ZodError, prefix?: string): ValidationError {
  const issues = fieldIssues(error, prefix);
  return new ValidationError(`invalid request: ${issues.map((i) => i.field).join(', ')}`, issues);
}

/** Postgres errors that are the client's fault or a dependency outage, as HTTP errors. */
function fromPostgres(error: { code?: string; constraint?: string; detail?: string }): HttpError | undefined {
  switch (error.code) {
    case '23505':
      return new HttpError(409, 'duplicate', 'a resource with these values already exists', { constraint: error.constraint });
    case '23503':
      return new HttpError(404, 'not_found', 'a referenced resource does not exist', { constraint: error.constraint });
    case '22P02': // invalid text representation
    case '23514': // check violation
    case '22001': // string too long for its column
    case '22003': // numeric value out of range
    case '22007': // invalid datetime format
    case '22008': // datetime field overflow
    case '22009': // time zone displacement out of range (an offset Postgres does not accept)
    case '22P05': // untranslatable character (NUL in jsonb)
    case '22021': // a character not in the encoding (NUL)
      return new HttpError(400, 'validation_error', 'a value is not valid', { constraint: error.constraint });
    case '54000': // program limit exceeded (e.g. a value too large for an index row)
      return new HttpError(400, 'validation_error', 'a value is too large');
    case '40001': // serialization failure
    case '40P01': // deadlock detected
      return new HttpError(
        409,
        'concurrent_update',
        'the request conflicted with a concurrent one and was rolled back; nothing was written, retry it',
      );
    case '57014': // query cancelled (statement timeout)
      return new HttpError(503, 'unavailable', 'the database did not answer in time; nothing was written');
    case '53300': // too many connections
    case '53400': // configuration limit exceeded
    case '57P01':
    case '57P03':
    case '08000':
    case '08003':
    case '08006':
      return new HttpError(503, 'unavailable', 'the database is unavailable; nothing was written');
    default:
      return undefined;
  }
}

function isConnectionFailure(error: unknown): boolean {
  const code = (error as { code?: string })?.code;
  return (
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET' ||
    code === 'ETIMEDOUT' ||
    /Connection terminated|timeout exceeded when trying to connect/i.test(String((error as Error)?.message))
  );
}

export function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof ZodError) return toHttpError(validationErrorFrom(error));
  if (error instanceof DomainError) {
    const status = STATUS_BY_CODE[error.code] ?? 409;
    return new HttpError(status, error.code, error.message, error.details);
  }
  const body = error as { type?: string; status?: number; expose?: boolean; message?: string; maxDepth?: number };
  // JsonTooDeepError (src/api/json-body.ts), as body-parser passes it on.
  if (body?.type === 'entity.too.deep')
    return new HttpError(400, 'validation_error', body.message ?? 'the JSON body is nested too deep', {
      fields: [{ field: 'body', message: `must not nest objects and arrays more than ${body.maxDepth} levels deep` }],
      maxDepth: body.maxDepth,
    });
  if (body?.type === 'entity.parse.failed') return new HttpError(400, 'malformed_json', 'the request body is not valid JSON');
  if (body?.type === 'entity.too.large') return new HttpError(413, 'payload_too_large', 'the request body is too large');
  if (body?.type === 'charset.unsupported' || body?.type === 'encoding.unsupported')
    return new HttpError(415, 'unsupported_media_type', body.message ?? 'unsupported charset or content encoding');
  if (body?.expose && body.status && body.status < 500) return new HttpError(body.status, 'bad_request', body.message ?? 'bad request');
  const pg = fromPostgres(error as { code?: string });
  if (pg) return pg;
  if (isConnectionFailure(error)) return new HttpError(503, 'unavailable', 'a dependency is unavailable; nothing was written');
  if ((error as Error)?.name === 'ServiceError' || /UNAVAILABLE|DEADLINE_EXCEEDED/.test(String((error as Error)?.message))) {
    return new HttpError(503, 'unavailable', 'Temporal is unavailable; nothing was written');
  }
  return new HttpError(500, 'internal', 'internal server error');
}

export const errorHandler: ErrorRequestHandler = (error, req, res, _next) => {
  const http = toHttpError(error);
  if (http.status >= 500) req.log?.error({ err: error }, 'request failed');
  const body: ErrorBody = {
    error: { code: http.code, message: http.message, ...(http.details !== undefined ? { details: http.details } : {}) },
  };
  res.status(http.status).json(body);
};

export const notFoundHandler: RequestHandler = (req, res) => {
  const body: ErrorBody = { error: { code: 'not_found', message: `no route ${req.method} ${req.path}` } };
  res.status(404).json(body);
};
