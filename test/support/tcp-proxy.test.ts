import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Client, Connection, isGrpcDeadlineError } from '@temporalio/client';
import { testClient } from './encryption';
import { startTcpProxy, type TcpProxy } from './tcp-proxy';

/** A TCP echo server that also counts the bytes and connections that reach it. */
async function startEchoServer() {
  const sockets = new Set<net.Socket>();
  const state = { received: 0, connections: 0 };
  const server = net.createServer((socket) => {
    state.connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => (state.received += chunk.length));
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    state,
    sockets,
    /** Write to every connected client, unasked. */
    push: (text: string) => {
      for (const socket of sockets) socket.write(text);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A client socket on the proxy that collects what it reads and notes when it is closed. */
async function dial(port: number) {
  const socket = net.connect({ host: '127.0.0.1', port });
  const state = { data: Buffer.alloc(0), closed: false };
  socket.on('data', (chunk: Buffer) => (state.data = Buffer.concat([state.data, chunk])));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) =>
    socket.on('close', () => {
      state.closed = true;
      resolve();
    }),
  );
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return { socket, state, closed };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}

const within = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise, sleep(ms).then(() => Promise.reject(new Error(`not settled within ${ms} ms`)))]);

describe('TCP proxy (fault tests)', () => {
  describe('with a TCP echo server', () => {
    let echo: Awaited<ReturnType<typeof startEchoServer>>;
    let proxy: TcpProxy;
    const dialed: net.Socket[] = [];
    const open = async () => {
      const d = await dial(proxy.port);
      dialed.push(d.socket);
      return d;
    };

    beforeEach(async () => {
      echo = await startEchoServer();
      proxy = await startTcpProxy({ host: '127.0.0.1', port: echo.port });
    });
    afterEach(async () => {
      for (const socket of dialed.splice(0)) socket.destroy();
      await within(proxy.close(), 2000);
      await echo.close();
    });

    it('forwards both ways and counts connections', async () => {
      expect(proxy.address).toBe(`127.0.0.1:${proxy.port}`);
      const a = await open();
      a.socket.write('ping');
      await until(() => a.state.data.toString() === 'ping');
      await open();
      expect(proxy.connections).toBe(2);
    });

    it('refuse() closes current connections at once and closes new ones on accept; forward() restores', async () => {
      const a = await open();
      a.socket.write('before');
      await until(() => a.state.data.toString() === 'before');

      proxy.refuse();
      await within(a.closed, 500);
      const refused = await open();
      await within(refused.closed, 500);
      expect(refused.state.data.length).toBe(0);
      expect(echo.state.connections).toBe(1);

      proxy.forward();
      const b = await open();
      b.socket.write('after');
      await until(() => b.state.data.toString() === 'after');
      expect(proxy.connections).toBe(3);
    });

    it('stall() holds bytes both ways, also on connections opened while stalled, then delivers them in order', async () => {
      const a = await open();
      a.socket.write('one;');
      await until(() => a.state.data.toString() === 'one;');
      const receivedBefore = echo.state.received;

      proxy.stall();
      a.socket.write('two;');
      a.socket.write('three;');
      const b = await open(); // accepted while stalled
      b.socket.write('fresh');
      await sleep(300);
      expect(echo.state.received).toBe(receivedBefore); // the upstream got nothing
      expect(a.state.data.toString()).toBe('one;');
      expect(b.state.data.length).toBe(0);
      expect(a.state.closed || b.state.closed).toBe(false);

      proxy.forward();
      await until(() => a.state.data.toString() === 'one;two;three;' && b.state.data.toString() === 'fresh');
    });

    it('stall() holds what the upstream sends on its own, then delivers it', async () => {
      const a = await open();
      await until(() => echo.sockets.size === 1);
      proxy.stall();
      echo.push('unsolicited;');
      echo.push('more');
      await sleep(200);
      expect(a.state.data.length).toBe(0);
      proxy.forward();
      await until(() => a.state.data.toString() === 'unsolicited;more');
    });

    it('keeps order and loses nothing under backpressure across stall/forward', async () => {
      const a = await open();
      const payload = randomBytes(8 * 1024 * 1024);
      let sent = 0;
      const chunk = 64 * 1024;
      // Write in pieces, toggling stall/forward along the way; the echo returns the whole stream.
      const writer = (async () => {
        while (sent < payload.length) {
          const piece = payload.subarray(sent, sent + chunk);
          sent += piece.length;
          if (!a.socket.write(piece)) await new Promise((resolve) => a.socket.once('drain', resolve));
        }
      })();
      for (let i = 0; i < 4; i++) {
        await sleep(40);
        proxy.stall();
        await sleep(40);
        proxy.forward();
      }
      await writer;
      await until(() => a.state.data.length >= payload.length, 5000);
      expect(a.state.data.length).toBe(payload.length);
      expect(a.state.data.equals(payload)).toBe(true);
    });

    it('close() destroys everything and does not hang, even while stalled', async () => {
      const a = await open();
      proxy.stall();
      a.socket.write('held');
      await within(proxy.close(), 1000);
      await within(a.closed, 1000);
      await within(proxy.close(), 100); // idempotent
      await expect(dial(proxy.port)).rejects.toThrow(/ECONNREFUSED/);
    });
  });

  describe('with the Temporal dev server', () => {
    let proxy: TcpProxy;
    let connection: Connection;
    let client: Client;

    beforeAll(async () => {
      const address = process.env.TEST_TEMPORAL_ADDRESS!;
      const colon = address.lastIndexOf(':');
      proxy = await startTcpProxy({ host: address.slice(0, colon), port: Number(address.slice(colon + 1)) });
      connection = await Connection.connect({ address: proxy.address });
      client = testClient(connection);
    });
    afterAll(async () => {
      await connection?.close();
      await proxy?.close();
    });

    const systemInfo = (deadlineMs: number) => client.withDeadline(Date.now() + deadlineMs, () => client.workflowService.getSystemInfo({}));

    it('answers through the proxy, times out on its deadline while stalled, and answers again on the same connection', async () => {
      await expect(systemInfo(5000)).resolves.toHaveProperty('capabilities');
      await expect(
        client.withDeadline(Date.now() + 5000, () =>
          client.workflowService.describeNamespace({ namespace: process.env.TEST_TEMPORAL_NAMESPACE ?? 'default' }),
        ),
      ).resolves.toHaveProperty('namespaceInfo');
      const connections = proxy.connections;
      expect(connections).toBeGreaterThanOrEqual(1);

      proxy.stall();
      const started = Date.now();
      const error = await systemInfo(1500).then(
        () => undefined,
        (err: unknown) => err,
      );
      const elapsed = Date.now() - started;
      expect(error).toBeDefined();
      expect(isGrpcDeadlineError(error)).toBe(true);
      expect(elapsed).toBeGreaterThanOrEqual(1400);
      expect(elapsed).toBeLessThan(4000);

      proxy.forward();
      await expect(systemInfo(5000)).resolves.toHaveProperty('capabilities');
      // Same TCP connection: the client neither reconnected during the stall nor after it.
      expect(proxy.connections).toBe(connections);
    });
  });
});
