import express, { type Request, type RequestHandler } from 'express';
import { HttpError } from './errors';

/** Deepest nesting of objects and arrays a JSON body may have (the root counts as 1). */
export const MAX_JSON_DEPTH = 64;

/** A body nested deeper than MAX_JSON_DEPTH: 400 (src/api/errors.ts), before anything recurses into it. */
export class JsonTooDeepError extends Error {
  readonly status = 400;
  readonly type = 'entity.too.deep';
  constructor(readonly maxDepth: number) {
    super(`the JSON body is nested more than ${maxDepth} levels deep`);
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPENERS = new Set([0x5b, 0x7b]); // [ {
const CLOSERS = new Set([0x5d, 0x7d]); // ] }

/**
 * Whether a JSON text nests objects and arrays deeper than `max`, by one pass over it (no
 * recursion, no parse): brackets inside strings do not count. UTF-8 bytes are scanned as they are
 * (no byte of a multi-byte character is ASCII); malformed text is left to the parser.
 */
export function exceedsJsonDepth(text: Uint8Array | string, max: number): boolean {
  const at = typeof text === 'string' ? (i: number) => text.charCodeAt(i) : (i: number) => text[i];
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const b = at(i);
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) inString = true;
    else if (OPENERS.has(b)) {
      if (++depth > max) return true;
    } else if (CLOSERS.has(b)) depth--;
  }
  return false;
}

function decode(buf: Buffer, encoding: string): string {
  try {
    return new TextDecoder(encoding).decode(buf);
  } catch {
    throw Object.assign(new Error(`unsupported charset "${encoding.toUpperCase()}"`), { status: 415, type: 'charset.unsupported' });
  }
}

/**
 * express.json with a bound on nesting, checked on the raw bytes before JSON.parse: the route
 * builder's checks and zod walk a parsed body recursively, and a body nested 20,000 levels deep
 * would overflow the stack (a 500) instead of answering 400.
 */
export function jsonBody(options: { limit: string | number; maxDepth?: number }): RequestHandler {
  const maxDepth = options.maxDepth ?? MAX_JSON_DEPTH;
  return express.json({
    limit: options.limit,
    verify: (_req, _res, buf, encoding) => {
      // JSON is UTF-8, or another UTF the client declared (body-parser accepts utf-*): decode those first.
      const text = /^utf-?8$/i.test(encoding) ? buf : decode(buf, encoding);
      if (exceedsJsonDepth(text, maxDepth)) throw new JsonTooDeepError(maxDepth);
    },
  });
}

/** The request carries a body (a Content-Length above 0, or a chunked one); an empty POST does not. */
const hasBody = (req: Request) => req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;

/**
 * A route with a JSON body takes `application/json` only (any UTF charset): a body of another type
 * is 415, not a 400 about fields it never had a chance to carry (jsonBody leaves it unparsed).
 */
export function assertJsonBody(req: Request): void {
  if (hasBody(req) && !req.is('application/json'))
    throw new HttpError(
      415,
      'unsupported_media_type',
      `the request body must be application/json, not ${req.headers['content-type'] || 'a body without Content-Type'}`,
    );
}
