import { createHash, timingSafeEqual } from 'node:crypto';
import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { z } from 'zod';
import { PayloadCodecError } from '../temporal/payload-codec';
import type { FailureHook } from './auth';
import { HttpError, unauthorized, validationErrorFrom } from './errors';
import { assertJsonBody, jsonBody } from './json-body';

/**
 * Temporal's remote codec protocol (the Web UI's and the CLI's `--codec-endpoint`), served by the
 * API process: `POST <endpoint>/decode` and `POST <endpoint>/encode` with a body
 * `{"payloads": [{"metadata": {"encoding": "<base64>", ...}, "data": "<base64>"}]}` (protobuf
 * JSON: bytes in base64; `{}` is an empty list, as the CLI sends a query's or signal's empty
 * arguments) and the same shape back, decoded or encoded with the product's payload codec. The
 * endpoint is `/codec`.
 *
 * - Authorised by the codec token (CODEC_AUTH_TOKEN): `Authorization: Bearer <token>` (the CLI's
 *   `--codec-auth`, scripts, a proxy), or the token as a path segment, endpoint
 *   `/codec/<token>`: the Web UI sends no header of our choosing (its "pass access token" sends
 *   its own OIDC login token, over HTTPS only), so `npm start` gives it an endpoint that carries
 *   the token. Whoever can open that Web UI can read its settings: the token is as private as the
 *   Web UI. Wrong or missing: 401 (and it counts towards API_AUTH_FAILURES_PER_MINUTE).
 * - CORS for the configured browser origins (CODEC_CORS_ORIGINS): a preflight from one of them
 *   gets the methods and headers the Web UI sends (Content-Type, X-Namespace, Authorization), with
 *   credentials allowed; any other Origin is refused with 403.
 * - `X-Namespace`: the namespace whose payloads these are. The keys are this deployment's, for its
 *   namespace (TEMPORAL_NAMESPACE): another namespace is refused with 403 `namespace_not_served`;
 *   no header means ours.
 * - A payload that is not encrypted is decoded to itself; one this process cannot decrypt (a key
 *   it does not have, altered data) makes the request a 400 `undecodable_payload` naming the key id.
 * The token never reaches the logs: the request log redacts it (redactCodecToken).
 */
export interface CodecServerOptions {
  codec: PayloadCodec;
  /** CODEC_AUTH_TOKEN. */
  token: string;
  /** The namespace these keys serve. */
  namespace: string;
  /** Browser origins allowed to call (the Web UI's). */
  allowedOrigins: string[];
}

export const CODEC_PATH = '/codec';
/** Largest request body: a history event's payloads, each up to Temporal's 2 MB blob limit by default. */
const BODY_LIMIT = '8mb';
const MAX_PAYLOADS = 10_000;

const base64 = z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'must be base64');
const PayloadJson = z.object({ metadata: z.record(z.string(), base64).nullish(), data: base64.nullish() });
/**
 * Protobuf JSON leaves an empty repeated field out: the CLI encodes a query's or a signal's empty
 * argument list as `{}`. A missing (or null) list is an empty one; an unknown field is refused,
 * as Temporal's own codec handler (protojson) refuses it.
 */
const PayloadsJson = z
  .object({
    payloads: z
      .array(PayloadJson)
      .max(MAX_PAYLOADS)
      .nullish()
      .transform((p) => p ?? []),
  })
  .strict();

const fromJson = (p: z.infer<typeof PayloadJson>): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))])),
  data: new Uint8Array(Buffer.from(p.data ?? '', 'base64')),
});
const toJson = (p: Payload) => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')]),
  ),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

/** `/codec/<token>/decode` -> `/codec/***` + `/decode`, for logs. */
export const redactCodecToken = (url: string | undefined): string | undefined =>
  url?.replace(/^\/codec\/(?!(?:encode|decode)(?:[/?#]|$))[^/?#]+/, '/codec/***');

const digest = (s: string) => createHash('sha256').update(s).digest();
const bearer = (header: string | undefined) => /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1];

export function codecServer(
  options: CodecServerOptions,
  authFailures: { failed: FailureHook } = { failed: (_req, _res, next, error) => next(error) },
): Router {
  const router = Router();
  const allowed = new Set(options.allowedOrigins);
  const expected = digest(options.token);

  /** CORS: an allowed Origin gets its headers; another one is refused; no Origin (not a browser) passes. */
  const cors: RequestHandler = (req, res, next) => {
    const origin = req.headers.origin;
    if (origin === undefined) return next();
    if (!allowed.has(origin)) return next(new HttpError(403, 'origin_not_allowed', `origin ${origin} may not call the codec server`));
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Access-Control-Allow-Credentials', 'true');
    res.append('Vary', 'Origin');
    next();
  };

  const preflight: RequestHandler = (req, res) => {
    res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
    res.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization');
    res.setHeader('Access-Control-Max-Age', '600');
    res.status(204).end();
  };

  const operation = (req: Request) => req.params.op as string;
  const known: RequestHandler = (req, _res, next) => (operation(req) === 'encode' || operation(req) === 'decode' ? next() : next('route'));

  const authorise: RequestHandler = (req, res, next) => {
    const given = (req.params.token as string | undefined) ?? bearer(req.headers.authorization);
    if (!given || !timingSafeEqual(digest(given), expected)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="codec"');
      return authFailures.failed(req, res, next, unauthorized('missing or invalid codec token'));
    }
    next();
  };

  const namespaced: RequestHandler = (req, _res, next) => {
    const namespace = req.headers['x-namespace'];
    if (namespace !== undefined && namespace !== options.namespace)
      return next(new HttpError(403, 'namespace_not_served', `this codec server serves namespace ${options.namespace}, not ${namespace}`));
    next();
  };

  const handle: RequestHandler = async (req, res, next) => {
    try {
      assertJsonBody(req);
      const parsed = PayloadsJson.safeParse(req.body ?? {});
      if (!parsed.success) throw validationErrorFrom(parsed.error, 'body');
      const payloads = parsed.data.payloads.map(fromJson);
      let out: Payload[];
      try {
        out = operation(req) === 'encode' ? await options.codec.encode(payloads) : await options.codec.decode(payloads);
      } catch (error) {
        if (error instanceof PayloadCodecError) throw new HttpError(400, 'undecodable_payload', error.message);
        throw error;
      }
      res.status(200).json({ payloads: out.map(toJson) });
    } catch (error) {
      next(error);
    }
  };

  for (const path of [`${CODEC_PATH}/:op`, `${CODEC_PATH}/:token/:op`]) {
    router.options(path, known, cors, preflight);
    router.post(path, known, cors, authorise, namespaced, jsonBody({ limit: BODY_LIMIT }), handle);
  }
  return router;
}
