import webpush from 'web-push';
import type { Logger } from 'pino';
import { CHANNELS, type Channel } from './types';
import type { ChannelConfig } from './config';
import { SmtpProvider } from './smtp';
import { TwilioProvider } from './twilio';
import type { ChannelProvider } from './types';
import { WebPushProvider } from './webpush';

/**
 * The providers the worker can send through, by name. A channel's default failover order is the
 * order its providers were registered in; a configuration's `providers` list overrides it.
 */
export class ChannelRegistry {
  private readonly byName = new Map<string, ChannelProvider>();

  /**
   * @param defaults per channel, the providers tried when a configuration names none of the
   * channel's providers; a channel left out defaults to all its providers in registration order.
   */
  constructor(
    providers: ChannelProvider[],
    private readonly defaults: Partial<Record<Channel, string[]>> = {},
  ) {
    for (const p of providers) {
      if (this.byName.has(p.name)) throw new Error(`duplicate channel provider name: ${p.name}`);
      this.byName.set(p.name, p);
    }
  }

  get(name: string): ChannelProvider | undefined {
    return this.byName.get(name);
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  /**
   * The providers to try on `channel`, in order: the configured names that exist and serve the
   * channel, or, when none does, the channel's defaults. Empty when the channel has none.
   */
  providersFor(channel: Channel, configured: string[] | null): string[] {
    const serving = (name: string) => this.byName.get(name)?.channel === channel;
    const chosen = (configured ?? []).filter(serving);
    if (chosen.length > 0) return [...new Set(chosen)];
    const defaults = this.defaults[channel]?.filter(serving);
    if (defaults && defaults.length > 0) return defaults;
    return [...this.byName.values()].filter((p) => p.channel === channel).map((p) => p.name);
  }

  /** providersFor for every channel (what the workflow needs to plan its attempts). */
  plan(configured: string[] | null): Record<Channel, string[]> {
    return Object.fromEntries(CHANNELS.map((c) => [c, this.providersFor(c, configured)])) as Record<Channel, string[]>;
  }

  async close(): Promise<void> {
    await Promise.all([...this.byName.values()].map((p) => p.close?.()));
  }
}

/**
 * The production registry from the environment: `smtp` (and `smtp-backup` when SMTP_BACKUP_URL is
 * set), `twilio-sms`, `twilio-whatsapp`, `webpush`. Without VAPID keys an ephemeral pair is
 * generated (fine on a laptop; subscriptions made against it stop working after a restart).
 */
export function createChannelRegistry(config: ChannelConfig, logger?: Logger): ChannelRegistry {
  const timeoutMs = config.CHANNEL_TIMEOUT_MS;
  const providers: ChannelProvider[] = [new SmtpProvider({ name: 'smtp', url: config.SMTP_URL, from: config.SMTP_FROM, timeoutMs })];
  if (config.SMTP_BACKUP_URL)
    providers.push(new SmtpProvider({ name: 'smtp-backup', url: config.SMTP_BACKUP_URL, from: config.SMTP_FROM, timeoutMs }));
  const twilio = { baseUrl: config.TWILIO_BASE_URL, accountSid: config.TWILIO_ACCOUNT_SID, authToken: config.TWILIO_AUTH_TOKEN, timeoutMs };
  providers.push(new TwilioProvider({ ...twilio, name: 'twilio-sms', channel: 'sms', from: config.TWILIO_SMS_FROM }));
  providers.push(new TwilioProvider({ ...twilio, name: 'twilio-whatsapp', channel: 'whatsapp', from: config.TWILIO_WHATSAPP_FROM }));
  let vapid =
    config.VAPID_PUBLIC_KEY && config.VAPID_PRIVATE_KEY
      ? { publicKey: config.VAPID_PUBLIC_KEY, privateKey: config.VAPID_PRIVATE_KEY }
      : undefined;
  if (!vapid) {
    vapid = webpush.generateVAPIDKeys();
    logger?.warn('VAPID_PUBLIC_KEY/VAPID_PRIVATE_KEY not set: using an ephemeral VAPID key pair for web push');
  }
  providers.push(
    new WebPushProvider({
      name: 'webpush',
      vapid: { subject: config.VAPID_SUBJECT, ...vapid },
      ttlSeconds: config.PUSH_TTL_SECONDS,
      timeoutMs,
      allowLoopback: config.OUTGOING_ALLOW_LOOPBACK,
    }),
  );
  return new ChannelRegistry(providers);
}
