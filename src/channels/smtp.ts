import net from 'node:net';
import nodemailer from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import { ProviderError, type ChannelProvider, type OutboundMessage, type SendResult } from './types';

export interface SmtpProviderOptions {
  name: string;
  /** smtp://[user:pass@]host:port[?ignoreTLS=true&requireTLS=true&rejectUnauthorized=false], or smtps:// for implicit TLS. */
  url: string;
  from: string;
  timeoutMs: number;
}

/** Parses an SMTP URL into nodemailer transport options. */
export function smtpOptionsFromUrl(url: string): SMTPTransport.Options {
  const u = new URL(url);
  if (u.protocol !== 'smtp:' && u.protocol !== 'smtps:') throw new Error(`not an smtp:// or smtps:// URL: ${url}`);
  const flag = (name: string) => u.searchParams.get(name) === 'true';
  const secure = u.protocol === 'smtps:';
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : secure ? 465 : 25,
    secure,
    auth: u.username ? { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } : undefined,
    ignoreTLS: flag('ignoreTLS'),
    requireTLS: flag('requireTLS'),
    tls: { rejectUnauthorized: u.searchParams.get('rejectUnauthorized') !== 'false' },
  };
}

type SmtpError = Error & { code?: string; responseCode?: number; command?: string; response?: string };

/**
 * Email through nodemailer over SMTP. Each send opens its own connection on a socket this provider
 * owns, so cancelling the activity (worker shutdown) really closes it: the server never sees the
 * end of DATA and stores nothing. SMTP has no idempotency key; each attempt carries a deterministic
 * Message-ID so that receivers can spot a duplicate, and the activity marks re-executed attempts
 * as may_have_sent.
 */
export class SmtpProvider implements ChannelProvider {
  readonly channel = 'email' as const;
  readonly idempotent = false;
  readonly name: string;
  private readonly transportOptions: SMTPTransport.Options;
  private readonly domain: string;

  constructor(private readonly options: SmtpProviderOptions) {
    this.name = options.name;
    this.transportOptions = {
      ...smtpOptionsFromUrl(options.url),
      connectionTimeout: options.timeoutMs,
      greetingTimeout: options.timeoutMs,
      socketTimeout: options.timeoutMs,
    };
    const address = /<([^>]+)>/.exec(options.from)?.[1] ?? options.from;
    this.domain = address.split('@')[1]?.replace(/[^A-Za-z0-9.-]/g, '') || 'localhost';
  }

  /** The Message-ID of an attempt: same attempt key, same id. */
  messageIdFor(idempotencyKey: string): string {
    return `<${idempotencyKey.replace(/[^A-Za-z0-9.-]/g, '.')}@${this.domain}>`;
  }

  async send(message: OutboundMessage, signal: AbortSignal): Promise<SendResult> {
    if (!message.to || !/^[^\s@<>]+@[^\s@<>]+$/.test(message.to)) {
      throw new ProviderError(`${this.name}: not an email address: ${message.to}`, 'permanent');
    }
    signal.throwIfAborted();
    const sockets: net.Socket[] = [];
    let onAbort = () => undefined as void;
    // On abort: close the connection (the server never sees the end of DATA) and stop waiting at once.
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => {
        sockets.forEach((s) => s.destroy());
        reject(signal.reason);
      };
    });
    signal.addEventListener('abort', onAbort, { once: true });
    const transport = nodemailer.createTransport({
      ...this.transportOptions,
      // Implicit TLS needs nodemailer's own TLS socket; plain connections use ours so that abort closes them.
      ...(this.transportOptions.secure
        ? {}
        : {
            getSocket: (_options: unknown, callback: (err: Error | null, socketOptions?: { connection: net.Socket }) => void) => {
              const { host, port } = this.transportOptions;
              const socket = net.connect({ host: host!, port: port! });
              sockets.push(socket);
              const timer = setTimeout(
                () => socket.destroy(Object.assign(new Error('Connection timeout'), { code: 'ETIMEDOUT' })),
                this.options.timeoutMs,
              );
              socket.once('connect', () => {
                clearTimeout(timer);
                socket.removeAllListeners('error');
                callback(null, { connection: socket });
              });
              socket.once('error', (error) => {
                clearTimeout(timer);
                // Nothing was said to the server yet: classified as "not sent".
                callback(Object.assign(error, { command: 'CONN' }));
              });
            },
          }),
    } as SMTPTransport.Options);
    try {
      const sending = transport.sendMail({
        from: this.options.from,
        to: message.to,
        subject: message.subject ?? '',
        text: message.body,
        messageId: this.messageIdFor(message.idempotencyKey),
        headers: {
          'X-Notification-Attempt': message.idempotencyKey,
          // RFC 8058 one-click unsubscribe: mail clients POST `List-Unsubscribe=One-Click` to the URL.
          ...(message.unsubscribeUrl
            ? { 'List-Unsubscribe': `<${message.unsubscribeUrl}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' }
            : {}),
        },
      });
      sending.catch(() => undefined); // settled by the race below; never unhandled
      const info = await Promise.race([sending, aborted]);
      return { providerMessageId: info.messageId ?? null };
    } catch (error) {
      if (signal.aborted) throw signal.reason ?? error;
      throw classifySmtpError(error as SmtpError, this.name);
    } finally {
      signal.removeEventListener('abort', onAbort);
      transport.close();
    }
  }
}

/**
 * SMTP 530/535 or a failed AUTH: our credentials (configuration); 5xx: permanent; 4xx: transient;
 * connection trouble: transient (ambiguous once the message may have been handed over).
 */
export function classifySmtpError(error: SmtpError, provider: string): ProviderError {
  const text = `${provider}: ${error.response ?? error.message}`;
  if (error.code === 'EAUTH' || error.responseCode === 530 || error.responseCode === 535) {
    return new ProviderError(text, 'configuration', { status: error.responseCode ?? error.code });
  }
  if (typeof error.responseCode === 'number') {
    return new ProviderError(text, error.responseCode >= 500 ? 'permanent' : 'transient', { status: error.responseCode });
  }
  if (error.code === 'EENVELOPE') return new ProviderError(text, 'permanent', { status: error.code });
  // Refused or failed before any command: nothing went out. A timeout or reset mid-conversation may have.
  const beforeSending = error.code === 'ECONNREFUSED' || error.command === 'CONN' || error.code === 'EDNS';
  return new ProviderError(text, 'transient', { ambiguous: !beforeSending, status: error.code ?? 'network' });
}
