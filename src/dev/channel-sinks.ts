import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { Logger } from 'pino';
import { SMTPServer } from 'smtp-server';

/**
 * Local stand-ins for the outside world, for `npm start` only: an SMTP server and a Twilio-style
 * Messages API on loopback that accept every message and log it, so notifications sent from a
 * laptop are delivered somewhere visible. Never started when SMTP_URL / TWILIO_BASE_URL are set,
 * and never in the worker/api production roles.
 */
export interface DevSink {
  url: string;
  close(): Promise<void>;
}

const header = (raw: string, name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(raw)?.[1]?.trim();

export async function startDevSmtpSink(port: number, logger: Logger): Promise<DevSink> {
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        logger.info(
          { component: 'dev-inbox', to: session.envelope.rcptTo.map((r) => r.address), subject: header(raw, 'Subject'), bytes: raw.length },
          'email delivered to the local dev inbox',
        );
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return { url: `smtp://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

export async function startDevMessagesSink(port: number, logger: Logger): Promise<DevSink> {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.method !== 'POST' || !/\/Messages\.json$/.test(req.url ?? '')) {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 20404, message: 'not found' }));
        return;
      }
      const form = new URLSearchParams(body);
      const sid = `SM${randomBytes(16).toString('hex')}`;
      logger.info(
        { component: 'dev-messages', to: form.get('To'), from: form.get('From'), body: form.get('Body') },
        'message delivered to the local dev messages sink',
      );
      res
        .writeHead(201, { 'content-type': 'application/json' })
        .end(JSON.stringify({ sid, status: 'queued', to: form.get('To'), from: form.get('From') }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
