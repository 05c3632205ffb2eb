import type { Logger } from 'pino';
import type { ChannelConfig } from '../channels/config';
import { startDevMessagesSink, startDevSmtpSink, type DevSink } from '../dev/channel-sinks';

/**
 * For `npm start` without configured providers: local SMTP and Twilio-style sinks on the ports the
 * channel defaults point at, so email, SMS and WhatsApp notifications are delivered (and logged).
 * A provider that is configured, or a port already taken (e.g. by Mailpit), is left alone.
 */
export async function startDevSinks(channels: ChannelConfig, logger: Logger): Promise<DevSink[]> {
  const sinks: DevSink[] = [];
  const attempt = async (what: string, configured: boolean, url: string, start: (port: number) => Promise<DevSink>) => {
    if (configured) return;
    const { hostname, port } = new URL(url);
    if (hostname !== '127.0.0.1' && hostname !== 'localhost') return;
    try {
      sinks.push(await start(Number(port)));
    } catch (error) {
      logger.warn({ err: error, url }, `${what} dev sink not started (port in use?); using whatever listens there`);
    }
  };
  await attempt('SMTP', !!process.env.SMTP_URL, channels.SMTP_URL, (port) => startDevSmtpSink(port, logger));
  await attempt('messages', !!process.env.TWILIO_BASE_URL, channels.TWILIO_BASE_URL, (port) => startDevMessagesSink(port, logger));
  return sinks;
}
