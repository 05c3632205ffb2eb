import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import webpush from 'web-push';
import { isRefusedAddress, outgoingAgents, outgoingUrlProblem, statusLine } from '../net/outgoing';
import {
  classifyFetchError,
  classifyHttpStatus,
  ProviderError,
  withTimeout,
  type ChannelProvider,
  type OutboundMessage,
  type SendResult,
} from './types';

export interface WebPushProviderOptions {
  name: string;
  vapid: { subject: string; publicKey: string; privateKey: string };
  /** Seconds the push service keeps an undelivered message. */
  ttlSeconds: number;
  timeoutMs: number;
  /**
   * OUTGOING_ALLOW_LOOPBACK (tests and development only): http endpoints and loopback addresses
   * are let through, for a push service on this machine. Never in production.
   */
  allowLoopback?: boolean;
  /** The DNS resolver (default dns.lookup): whatever it answers is checked before connecting. */
  lookup?: LookupFunction;
}

/** Longest push message id (the push service's Location header) kept. */
const MAX_LOCATION = 512;

/**
 * Web Push (RFC 8030) with VAPID (RFC 8292): `web-push` builds the encrypted request (aes128gcm
 * payload, VAPID JWT), node's https sends it to the subscription's endpoint (with a timeout and the
 * activity's cancellation). The endpoint is a URL a tenant supplied, so it goes through the
 * outgoing-URL rules (src/net/outgoing.ts): https only, and the connection goes only to a public
 * address, checked when the name is resolved. A refused endpoint is a permanent failure (never
 * retried); the push service's answer is kept as its status line only (`HTTP 404 Not Found`),
 * never its body. Web Push has no idempotency key; the Topic header (derived from the attempt key)
 * makes the push service replace a not-yet-delivered duplicate, which narrows, but does not close,
 * the window: hence idempotent = false.
 */
export class WebPushProvider implements ChannelProvider {
  readonly channel = 'push' as const;
  readonly idempotent = false;
  readonly name: string;
  private readonly agents: ReturnType<typeof outgoingAgents>;

  constructor(private readonly options: WebPushProviderOptions) {
    this.name = options.name;
    this.agents = outgoingAgents({ allowLoopback: options.allowLoopback, lookup: options.lookup });
  }

  async send(message: OutboundMessage, signal: AbortSignal): Promise<SendResult> {
    const subscription = message.push;
    if (!subscription?.endpoint) throw new ProviderError(`${this.name}: no push subscription`, 'permanent');
    const problem = outgoingUrlProblem(subscription.endpoint, { allowLoopback: this.options.allowLoopback });
    if (problem) throw new ProviderError(`${this.name}: endpoint refused: ${problem}`, 'permanent', { status: 'endpoint_refused' });
    const topic = createHash('sha256').update(message.idempotencyKey).digest('base64url').slice(0, 32);
    let details: ReturnType<typeof webpush.generateRequestDetails>;
    try {
      details = webpush.generateRequestDetails(subscription, JSON.stringify({ title: message.subject ?? '', body: message.body }), {
        vapidDetails: this.options.vapid,
        TTL: this.options.ttlSeconds,
        topic,
      });
    } catch (error) {
      // A malformed subscription (bad keys, bad endpoint) will never work.
      throw new ProviderError(`${this.name}: invalid push subscription: ${(error as Error).message}`, 'permanent');
    }
    const url = new URL(details.endpoint);
    let answer: { status: number; location: string | undefined };
    try {
      answer = await post(url, {
        method: details.method,
        headers: details.headers as Record<string, string>,
        body: details.body as Buffer | null,
        agent: this.agents.for(url),
        signal: withTimeout(signal, this.options.timeoutMs),
      });
    } catch (error) {
      if (isRefusedAddress(error) && !signal.aborted)
        throw new ProviderError(`${this.name}: endpoint refused: its host resolves to a non-public address`, 'permanent', {
          status: 'endpoint_refused',
        });
      classifyFetchError(error, signal, this.name);
    }
    const { status, location } = answer;
    if (status >= 200 && status < 300) return { providerMessageId: location?.slice(0, MAX_LOCATION) ?? null };
    // 404/410: the subscription expired or was removed; other 4xx: the request itself is wrong.
    throw new ProviderError(`${this.name}: ${statusLine(status)}`, classifyHttpStatus(status), {
      status,
      addressGone: status === 404 || status === 410,
    });
  }

  async close(): Promise<void> {
    this.agents.destroy();
  }
}

/**
 * One request through `agent`: resolves with the status and the Location header once the answer's
 * head arrives. The body is never read (it is drained and dropped): nothing the endpoint says
 * beyond its status is kept.
 */
function post(
  url: URL,
  options: { method: string; headers: Record<string, string>; body: Buffer | null; agent: http.Agent; signal: AbortSignal },
): Promise<{ status: number; location: string | undefined }> {
  return new Promise((resolve, reject) => {
    const request = (url.protocol === 'http:' ? http : https).request(
      url,
      { method: options.method, headers: options.headers, agent: options.agent, signal: options.signal },
      (response) => {
        response.resume();
        response.on('error', () => undefined);
        const location = response.headers.location;
        resolve({ status: response.statusCode ?? 0, location: typeof location === 'string' ? location : undefined });
      },
    );
    request.on('error', reject);
    request.end(options.body ?? undefined);
  });
}
