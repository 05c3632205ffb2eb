import net from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP proxy on loopback in front of a dependency (the Temporal frontend, PostgreSQL) that fault
 * tests switch between three modes:
 * - forward: bytes flow both ways (the default);
 * - stall: connections stay open (and new ones are accepted, and their upstream opened) but no byte
 *   moves in either direction; what arrives is held, in order, and flows on forward(). The
 *   dependency is *slow*, not down: clients see their deadlines and timeouts, not a refusal.
 * - refuse: every current connection is destroyed and new ones are closed as soon as accepted.
 */
export interface TcpProxy {
  /** host:port to connect to instead of the target */
  address: string;
  port: number;
  /** forward bytes both ways (default) */
  forward(): void;
  /** accept new connections and keep existing ones open, but forward nothing in either direction (bytes are buffered, not dropped) until forward() is called again; then the buffered bytes flow in order */
  stall(): void;
  /** destroy every current connection and refuse (immediately close) new ones until forward() */
  refuse(): void;
  /** number of client connections accepted so far (those closed at once by refuse() included) */
  readonly connections: number;
  close(): Promise<void>;
}

type Mode = 'forward' | 'stall' | 'refuse' | 'closed';

/**
 * One direction of a connection. Flow control is the sockets' own: the source is paused while the
 * destination's write buffer is full (until 'drain') and while the proxy is not forwarding, so a
 * stalled connection holds at most a chunk or two in memory and the rest waits in the kernel
 * buffers, where TCP flow control pushes back on the sender. Stalling also corks the destination,
 * so what was queued in its write buffer but not yet handed to the kernel waits too.
 */
class Pipe {
  private held: Buffer[] = [];
  private ended = false;
  private endPassed = false;
  private corked = false;

  constructor(
    private readonly source: net.Socket,
    private readonly destination: net.Socket,
    private readonly mode: () => Mode,
  ) {
    source.on('data', (chunk: Buffer) => {
      if (this.mode() === 'forward' && this.held.length === 0) {
        if (!destination.write(chunk)) source.pause();
      } else {
        // Stalled (or a flush is pending): keep the chunk, and read nothing more until forward().
        this.held.push(chunk);
        source.pause();
      }
    });
    source.on('end', () => {
      this.ended = true;
      if (this.mode() === 'forward' && this.held.length === 0) this.passEnd();
    });
    destination.on('drain', () => {
      if (this.mode() === 'forward' && this.held.length === 0 && !this.ended) source.resume();
    });
  }

  stall(): void {
    this.source.pause();
    if (!this.corked && !this.destination.destroyed) {
      this.destination.cork();
      this.corked = true;
    }
  }

  /** Write what was held, in order, then pass the end on, or read again (unless the destination is full). */
  forward(): void {
    if (this.destination.destroyed) return;
    if (this.corked) {
      this.corked = false;
      this.destination.uncork();
    }
    let full = false;
    for (const chunk of this.held.splice(0)) full = !this.destination.write(chunk);
    if (this.ended) this.passEnd();
    else if (!full && !this.destination.writableNeedDrain) this.source.resume();
  }

  private passEnd(): void {
    if (this.endPassed) return;
    this.endPassed = true;
    this.destination.end();
  }
}

interface Link {
  client: net.Socket;
  upstream: net.Socket;
  pipes: [Pipe, Pipe];
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let mode: Mode = 'forward';
  let accepted = 0;
  const links = new Set<Link>();
  const currentMode = () => mode;

  const destroy = (link: Link) => {
    links.delete(link);
    link.client.destroy();
    link.upstream.destroy();
  };

  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    accepted += 1;
    if (mode !== 'forward' && mode !== 'stall') {
      client.destroy();
      return;
    }
    client.setNoDelay(true);
    // Opened even while stalled (the TCP handshake with the target happens), but nothing is written
    // to it, nor read from it, until forward().
    const upstream = net.connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true });
    upstream.pause();
    const link: Link = {
      client,
      upstream,
      pipes: [new Pipe(client, upstream, currentMode), new Pipe(upstream, client, currentMode)],
    };
    links.add(link);
    const onGone = () => destroy(link);
    // An error or a full close on either side ends the pair (half-closes are passed on by the pipes).
    client.on('error', onGone).on('close', onGone);
    upstream.on('error', onGone).on('close', onGone);
    if (mode === 'forward') {
      client.resume();
      upstream.resume();
    } else for (const pipe of link.pipes) pipe.stall();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  let closing: Promise<void> | undefined;
  return {
    address: `127.0.0.1:${port}`,
    port,
    get connections() {
      return accepted;
    },
    forward() {
      if (mode === 'closed') return;
      mode = 'forward';
      for (const link of links) for (const pipe of link.pipes) pipe.forward();
    },
    stall() {
      if (mode === 'closed') return;
      mode = 'stall';
      for (const link of links) for (const pipe of link.pipes) pipe.stall();
    },
    refuse() {
      if (mode === 'closed') return;
      mode = 'refuse';
      for (const link of [...links]) destroy(link);
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        mode = 'closed';
        // The server stops accepting, then every connection is destroyed, so its close callback waits on none.
        server.close(() => resolve());
        for (const link of [...links]) destroy(link);
      });
      return closing;
    },
  };
}
