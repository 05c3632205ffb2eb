import { redactCodecToken } from './codec-server';

/**
 * What the request log may show of a URL. Secrets travel in some URLs, and a log is read by more
 * people, kept longer and copied further than the secrets it would leak:
 * - `/unsubscribe/<token>`: the signed token that opts a customer out;
 * - `/codec/<token>/...`: the codec token in the Web UI's endpoint;
 * - `/webhooks/<provider>/<id>/...`: a webhook URL's id is a capability (whoever knows it may post
 *   deliveries): every segment after the provider, except the fixed action names;
 * - the query: the value of a parameter whose name says it carries a credential or personal data,
 *   or whose value looks like one (an API key, a long opaque string).
 * Each is replaced by `***`; the rest (method, route shape, ids, harmless parameters) stays.
 */
export const REDACTED = '***';

/** Fixed path words after /webhooks/<provider>/ (routes, not ids): kept. */
const WEBHOOK_ACTIONS = new Set(['sms', 'whatsapp', 'voice', 'status']);
/** Query parameter names whose value is a secret or personal data. */
const SECRET_NAME = /token|key|secret|sig|auth|pass|pwd|session|code|credential|jwt|hook|otp|ticket|nonce|phone|email/i;
const API_KEY = /^ak_/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** 24 or more characters of base64, base64url, hex or a JWT: opaque enough to be a credential. */
const OPAQUE = /^[A-Za-z0-9._~+/=-]{24,}$/;

const secretValue = (value: string) => API_KEY.test(value) || (OPAQUE.test(value) && !UUID.test(value));

function redactPath(path: string): string {
  const unsubscribe = /^\/unsubscribe\/[^/]+/;
  if (unsubscribe.test(path)) return path.replace(unsubscribe, `/unsubscribe/${REDACTED}`);
  const webhook = /^\/webhooks\/([^/]+)\/(.+)$/.exec(path);
  if (webhook) {
    const rest = webhook[2]
      .split('/')
      .map((segment) => (segment === '' || WEBHOOK_ACTIONS.has(segment) ? segment : REDACTED))
      .join('/');
    return `/webhooks/${webhook[1]}/${rest}`;
  }
  return redactCodecToken(path) ?? path;
}

function redactQuery(query: string): string {
  return query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 0) return pair;
      const name = pair.slice(0, eq);
      let value = pair.slice(eq + 1);
      try {
        value = decodeURIComponent(value.replace(/\+/g, ' '));
      } catch {
        /* malformed escapes: judge the raw text */
      }
      let decodedName = name;
      try {
        decodedName = decodeURIComponent(name);
      } catch {
        /* as it is */
      }
      return SECRET_NAME.test(decodedName) || secretValue(value) ? `${name}=${REDACTED}` : pair;
    })
    .join('&');
}

/** A request URL (path and query) as the log may show it. */
export function redactUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  const q = url.indexOf('?');
  if (q < 0) return redactPath(url);
  return `${redactPath(url.slice(0, q))}?${redactQuery(url.slice(q + 1))}`;
}

/** Request headers that carry credentials: never logged. */
const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'x-api-key']);
const SIGNATURE_HEADER = /signature/i;

/**
 * pino-http's request serializer (it receives pino's serialized request): the URL redacted, the
 * credential and signature headers dropped, and no separate `query` and `params` (they repeat
 * the URL's secrets unredacted: `params.token` is the unsubscribe token).
 */
export function serializeRequest(req: { id?: unknown; method?: string; url?: string; headers?: Record<string, unknown> } & object) {
  const headers = Object.fromEntries(
    Object.entries(req.headers ?? {}).filter(([name]) => !SECRET_HEADERS.has(name.toLowerCase()) && !SIGNATURE_HEADER.test(name)),
  );
  const { query: _query, params: _params, ...rest } = req as Record<string, unknown>;
  return { ...rest, url: redactUrl(req.url), headers };
}
