/** The ways a notification reaches someone. */
export const CHANNELS = ['email', 'sms', 'whatsapp', 'push'] as const;
export type Channel = (typeof CHANNELS)[number];

/** A browser push subscription as the Push API serialises it (stored on customers.push_subscription). */
export interface PushSubscriptionJSON {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

/** One rendered message for one recipient on one channel. */
export interface OutboundMessage {
  channel: Channel;
  /** Email address, E.164 phone number, `whatsapp:+…`, or the push endpoint. */
  to: string;
  /** For push only: the full subscription (endpoint and keys). */
  push?: PushSubscriptionJSON;
  subject?: string;
  body: string;
  /** Deterministic per attempt (`<notification>:<attempt>:<provider>`): the provider's deduplication key where it has one. */
  idempotencyKey: string;
  /** Email only: the one-click unsubscribe URL (RFC 8058), sent as List-Unsubscribe with List-Unsubscribe-Post. */
  unsubscribeUrl?: string;
}

export interface SendResult {
  providerMessageId: string | null;
}

/**
 * permanent: this recipient or message will never work here (bad address, rejected content);
 * transient: try again later (5xx, 429, timeout, refused connection, SMTP 4xx);
 * configuration: the provider refused *our* credentials (HTTP 401/403, SMTP 535): every message
 * fails until an operator fixes it, so it is retried like a transient error and reported loudly.
 */
export type ProviderErrorKind = 'permanent' | 'transient' | 'configuration';

/**
 * A provider's refusal or failure, classified (see ProviderErrorKind). Permanent ends the channel's
 * attempts; transient and configuration errors are retried.
 * `ambiguous`: the request may have reached the provider (e.g. it timed out after being sent).
 */
export class ProviderError extends Error {
  constructor(
    message: string,
    readonly kind: ProviderErrorKind,
    readonly options: { ambiguous?: boolean; status?: number | string; addressGone?: boolean } = {},
  ) {
    super(message);
    this.name = 'ProviderError';
  }
  get ambiguous(): boolean {
    return this.options.ambiguous ?? false;
  }
  /** The address itself no longer exists (an expired push subscription): stop using it. */
  get addressGone(): boolean {
    return this.options.addressGone ?? false;
  }
}

/** One way to reach a channel (SMTP server, SMS gateway, push service). */
export interface ChannelProvider {
  readonly name: string;
  readonly channel: Channel;
  /**
   * True only when the provider *documents* that a repeated send with the same idempotency key is
   * delivered once. Then a re-executed attempt sends again safely; otherwise the attempt row says
   * the message may have gone out twice (at-least-once).
   */
  readonly idempotent: boolean;
  /**
   * Sends one message. Throws ProviderError when the provider refuses or fails; rethrows the
   * abort reason untouched when `signal` aborts (activity cancelled, worker shutting down), so
   * that the attempt is retried instead of recorded as a failure.
   */
  send(message: OutboundMessage, signal: AbortSignal): Promise<SendResult>;
  close?(): Promise<void>;
}

/** Classifies an HTTP status the way SMS/WhatsApp/push gateways mean it. */
export function classifyHttpStatus(status: number): ProviderErrorKind {
  if (status === 401 || status === 403) return 'configuration';
  return status === 429 || status === 408 || status >= 500 ? 'transient' : 'permanent';
}

/**
 * Classifies a fetch() (or node http) failure: the caller's abort is rethrown; a refused or reset connection
 * before the request went out is transient and unambiguous; a timeout is transient and ambiguous.
 */
export function classifyFetchError(error: unknown, callerSignal: AbortSignal, provider: string): never {
  if (callerSignal.aborted) throw callerSignal.reason ?? error;
  const e = error as { name?: string; message?: string; code?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') {
    throw new ProviderError(`${provider}: request timed out`, 'transient', { ambiguous: true, status: 'timeout' });
  }
  const code = e?.cause?.code ?? e?.code; // fetch puts the system error in `cause`; node's http on the error itself
  const beforeSending = code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH';
  throw new ProviderError(`${provider}: ${e?.cause?.message ?? e?.message ?? String(error)}`, 'transient', {
    ambiguous: !beforeSending,
    status: code ?? 'network',
  });
}

/** A timeout signal combined with the caller's (activity cancellation). */
export function withTimeout(signal: AbortSignal, timeoutMs: number): AbortSignal {
  return AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
}
