import type { Channel } from './types';
import {
  classifyFetchError,
  classifyHttpStatus,
  ProviderError,
  withTimeout,
  type ChannelProvider,
  type OutboundMessage,
  type SendResult,
} from './types';

export interface TwilioProviderOptions {
  name: string;
  channel: Extract<Channel, 'sms' | 'whatsapp'>;
  /** e.g. https://api.twilio.com, or a local gateway speaking the same API. */
  baseUrl: string;
  accountSid: string;
  authToken: string;
  /** Sender: an E.164 number for SMS, `whatsapp:+…` for WhatsApp. */
  from: string;
  timeoutMs: number;
}

/**
 * SMS and WhatsApp through an HTTP gateway shaped like Twilio's Messages API:
 * POST {base}/2010-04-01/Accounts/{sid}/Messages.json, form-encoded To/From/Body, basic auth.
 * WhatsApp addresses are `whatsapp:+…`.
 *
 * Not idempotent: Twilio documents `I-Twilio-Idempotency-Token` only as a header *it sends to your
 * webhooks* (so you can spot its retries), not as a way to deduplicate `Messages.create`; the API
 * has no documented idempotency key. A re-executed attempt may therefore send twice, and the attempt
 * row says so (`may_have_sent`).
 */
export class TwilioProvider implements ChannelProvider {
  readonly idempotent = false;
  readonly name: string;
  readonly channel: Extract<Channel, 'sms' | 'whatsapp'>;
  private readonly url: string;
  private readonly authorization: string;

  constructor(private readonly options: TwilioProviderOptions) {
    this.name = options.name;
    this.channel = options.channel;
    this.url = `${options.baseUrl.replace(/\/+$/, '')}/2010-04-01/Accounts/${encodeURIComponent(options.accountSid)}/Messages.json`;
    this.authorization = `Basic ${Buffer.from(`${options.accountSid}:${options.authToken}`).toString('base64')}`;
  }

  async send(message: OutboundMessage, signal: AbortSignal): Promise<SendResult> {
    const to = this.channel === 'whatsapp' && !message.to.startsWith('whatsapp:') ? `whatsapp:${message.to}` : message.to;
    if (!/^(whatsapp:)?\+[1-9]\d{6,14}$/.test(to)) throw new ProviderError(`${this.name}: not an E.164 number: ${message.to}`, 'permanent');
    let response: Response;
    try {
      response = await fetch(this.url, {
        method: 'POST',
        headers: {
          authorization: this.authorization,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: new URLSearchParams({ To: to, From: this.options.from, Body: message.body }).toString(),
        signal: withTimeout(signal, this.options.timeoutMs),
      });
    } catch (error) {
      classifyFetchError(error, signal, this.name);
    }
    const text = await response.text().catch(() => '');
    let json: { sid?: string; message?: string; code?: number } = {};
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      /* not JSON: keep the status */
    }
    if (response.ok) return { providerMessageId: json.sid ?? null };
    const detail = json.message ?? text.slice(0, 200) ?? response.statusText;
    throw new ProviderError(
      `${this.name}: HTTP ${response.status}${json.code ? ` (${json.code})` : ''}: ${detail}`,
      classifyHttpStatus(response.status),
      {
        status: response.status,
      },
    );
  }
}
