import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

/**
 * The remote ends of the notification channels, run in-process on loopback. They are the real
 * protocol peers (SMTP via smtp-server, HTTP via node:http) and fail on demand: the only fakes the
 * notification tests use.
 */

export interface ReceivedMail {
  from: string;
  to: string[];
  messageId: string | null;
  subject: string | null;
  raw: string;
}

/** A scripted refusal: an SMTP reply code (550 permanent, 451 transient) and text. */
export interface SmtpRefusal {
  code: number;
  message?: string;
}

export interface SmtpTestServer {
  url: string;
  port: number;
  /** Messages the server accepted (end of DATA answered 250). */
  messages: ReceivedMail[];
  /** Every DATA the server received, accepted or refused. */
  received: number;
  /** The next DATA commands get these replies, one each, then 250 again. */
  refuseNext(...refusals: SmtpRefusal[]): void;
  /** Refuse every message until cleared. */
  refuseAll(refusal: SmtpRefusal | null): void;
  /** Hold the reply to RCPT TO until release(): a send stays in flight before any message data. */
  hold(): { release(): void; arrived: Promise<void> };
  /** Resolves when the server has accepted `count` messages in all (end of DATA answered 250). */
  accepted(count: number): Promise<void>;
  close(): Promise<void>;
}

export async function startSmtpServer(): Promise<SmtpTestServer> {
  const queue: SmtpRefusal[] = [];
  let always: SmtpRefusal | null = null;
  let gate: { promise: Promise<void>; release: () => void; arrived: () => void } | null = null;
  const state: Pick<SmtpTestServer, 'messages' | 'received'> = { messages: [], received: 0 };
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const notify = () => {
    for (const w of waiters.filter((w) => state.messages.length >= w.count)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: process.env.SMTP_DEBUG === '1',
    // Accept many connections quickly (the benchmark sends in parallel).
    maxClients: 1000,
    disableReverseLookup: true,
    // A held server answers RCPT TO only on release: a client that hangs up meanwhile never gets to DATA.
    onRcptTo(_address, _session, callback) {
      if (!gate) return callback();
      gate.arrived();
      gate.promise.then(() => callback());
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        state.received += 1;
        const refusal = queue.shift() ?? always;
        if (refusal) {
          const error = new Error(refusal.message ?? (refusal.code >= 500 ? 'mailbox unavailable' : 'try again later')) as Error & {
            responseCode: number;
          };
          error.responseCode = refusal.code;
          return callback(error);
        }
        const raw = Buffer.concat(chunks).toString('utf8');
        state.messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          messageId: /^Message-ID:\s*(.+)$/im.exec(raw)?.[1]?.trim() ?? null,
          subject: /^Subject:\s*(.+)$/im.exec(raw)?.[1]?.trim() ?? null,
          raw,
        });
        callback();
        setImmediate(notify); // after the 250 reply is on its way
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    get messages() {
      return state.messages;
    },
    get received() {
      return state.received;
    },
    refuseNext: (...refusals) => queue.push(...refusals),
    refuseAll: (refusal) => {
      always = refusal;
    },
    hold() {
      let release!: () => void;
      let arrived!: () => void;
      const promise = new Promise<void>((r) => (release = r));
      const arrivedPromise = new Promise<void>((r) => (arrived = r));
      gate = { promise, release, arrived };
      return {
        release: () => {
          gate = null;
          release();
        },
        arrived: arrivedPromise,
      };
    },
    accepted: (count) =>
      new Promise<void>((resolve) => {
        waiters.push({ count, resolve });
        notify();
      }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  } as SmtpTestServer;
}

export interface HttpRequestRecord {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

interface ScriptedHttp {
  baseUrl: string;
  requests: HttpRequestRecord[];
  /** The next requests get these HTTP statuses (one each), then success again. */
  failNext(...statuses: number[]): void;
  /** Fail every request with this status until cleared (null). */
  failAll(status: number | null): void;
  /** Hold the next requests (their bodies read, no answer) until release(). */
  hold(): { release(): void; arrived: Promise<void> };
  /** Resolves once `count` responses have been written in all (the answer is on its way to the client). */
  answered(count: number): Promise<void>;
  close(): Promise<void>;
}

async function startScriptedHttp(handle: (req: HttpRequestRecord, res: http.ServerResponse) => void): Promise<ScriptedHttp> {
  const queue: number[] = [];
  let always: number | null = null;
  const requests: HttpRequestRecord[] = [];
  let gate: { promise: Promise<void>; arrived: () => void } | null = null;
  let answeredCount = 0;
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const notify = () => {
    for (const w of waiters.filter((w) => answeredCount >= w.count)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    res.on('finish', () => {
      answeredCount += 1;
      notify();
    });
    req.on('end', async () => {
      if (gate) {
        gate.arrived();
        await gate.promise;
      }
      const record: HttpRequestRecord = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      requests.push(record);
      const status = queue.shift() ?? always;
      if (status) {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: 20000 + status, message: `scripted failure ${status}`, status }));
        return;
      }
      handle(record, res);
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    failNext: (...statuses) => queue.push(...statuses),
    failAll: (status) => {
      always = status;
    },
    hold() {
      let release!: () => void;
      let arrived!: () => void;
      const promise = new Promise<void>((r) => (release = r));
      const arrivedPromise = new Promise<void>((r) => (arrived = r));
      gate = { promise, arrived };
      return {
        release: () => {
          gate = null;
          release();
        },
        arrived: arrivedPromise,
      };
    },
    answered: (count) =>
      new Promise<void>((resolve) => {
        waiters.push({ count, resolve });
        notify();
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface TwilioMessage {
  sid: string;
  to: string;
  from: string;
  body: string;
}

export interface TwilioTestServer extends ScriptedHttp {
  accountSid: string;
  authToken: string;
  /** Messages accepted (every accepted request is a message, as on the real API: it has no idempotency key). */
  messages: TwilioMessage[];
}

/** An HTTP server speaking Twilio's Messages API: basic auth, form body, 201 with the message sid. */
export async function startTwilioServer(accountSid = 'ACtest', authToken = 'secret'): Promise<TwilioTestServer> {
  const messages: TwilioMessage[] = [];
  const expectedAuth = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`;
  const base = await startScriptedHttp((req, res) => {
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'POST' || req.path !== `/2010-04-01/Accounts/${accountSid}/Messages.json`)
      return json(404, { code: 20404, message: 'not found' });
    if (req.headers.authorization !== expectedAuth) return json(401, { code: 20003, message: 'authenticate' });
    const form = new URLSearchParams(req.body.toString('utf8'));
    const to = form.get('To') ?? '';
    if (!/^(whatsapp:)?\+\d{7,15}$/.test(to))
      return json(400, { code: 21211, message: `The 'To' number ${to} is not a valid phone number.` });
    const message: TwilioMessage = {
      sid: `SM${messages.length + 1}`.padEnd(34, '0'),
      to,
      from: form.get('From') ?? '',
      body: form.get('Body') ?? '',
    };
    messages.push(message);
    json(201, { sid: message.sid, status: 'queued' });
  });
  return Object.assign(base, { accountSid, authToken, messages });
}

/** A push service endpoint: accepts Web Push requests (201 + Location) or fails on demand. */
export async function startPushServer(): Promise<ScriptedHttp & { endpoint(id: string): string }> {
  let n = 0;
  const base = await startScriptedHttp((req, res) => {
    res.writeHead(201, { location: `${req.path}/messages/${++n}` });
    res.end();
  });
  return Object.assign(base, { endpoint: (id: string) => `${base.baseUrl}/push/${id}` });
}

/** A header of a received message, unfolded (RFC 5322: a long header continues on lines that start with white space). */
export function mailHeader(raw: string, name: string): string | undefined {
  const head = raw.split(/\r?\n\r?\n/)[0].replace(/\r?\n[ \t]+/g, ' ');
  const line = head.split(/\r?\n/).find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(name.length + 1).trim();
}
