import type { RequestHandler } from 'express';
import helmet from 'helmet';

/**
 * Security headers on every response (helmet: nosniff, frame and referrer policies, HSTS,
 * cross-origin isolation headers) and the API's content security policy: a JSON API loads nothing,
 * so every fetch directive is 'none'. The only pages it serves besides the console and /docs are
 * the unsubscribe pages: plain HTML whose form posts to the same address (`form-action 'self'`).
 * No `upgrade-insecure-requests`: the API runs on plain http on a laptop (127.0.0.1).
 */
export function securityHeaders(): RequestHandler {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
  });
}

/**
 * The policy of the OpenAPI browser at /docs (swagger-ui-express): its scripts are files served
 * beside the page (no inline script), it calls the API on the same origin ("Try it out"), and its
 * page carries two inline <style> blocks and SVG icons as data: URLs, so styles may be inline
 * (scripts may not).
 */
export function docsContentSecurityPolicy(): RequestHandler {
  return helmet.contentSecurityPolicy({
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'none'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
    },
  });
}

/** The headers securityHeaders() and the pages' policies set: the same on every answer. */
const SECURITY_HEADERS = new Set([
  'content-security-policy',
  'cross-origin-opener-policy',
  'cross-origin-resource-policy',
  'origin-agent-cluster',
  'referrer-policy',
  'strict-transport-security',
  'x-content-type-options',
  'x-dns-prefetch-control',
  'x-download-options',
  'x-frame-options',
  'x-permitted-cross-domain-policies',
  'x-xss-protection',
]);

/** The request log's view of an answer (pino-http's serialised response) without the fixed security headers, which would add ~700 bytes to every line. */
export function serializeResponse(res: { statusCode?: number; headers?: Record<string, unknown> }): Record<string, unknown> {
  const headers = Object.fromEntries(Object.entries(res.headers ?? {}).filter(([name]) => !SECURITY_HEADERS.has(name.toLowerCase())));
  return { statusCode: res.statusCode, headers };
}
