import net from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago (for throwaway local servers). */
export function freePort(): Promise<number> {
  return listenOnce(0).then((port) => port!);
}

/**
 * A free port within [min, max] (random tries), for servers that cannot take any port: Temporal
 * stores its membership ports in a PostgreSQL SMALLINT, so they must stay below 32768 while the
 * kernel's ephemeral range starts above it.
 */
export async function freePortInRange(min: number, max: number): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = await listenOnce(min + Math.floor(Math.random() * (max - min + 1)));
    if (port) return port;
  }
  throw new Error(`no free TCP port between ${min} and ${max} on 127.0.0.1`);
}

/** Listens on `port` (0: any) and closes again; undefined when the port is taken. */
function listenOnce(port: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', (error: NodeJS.ErrnoException) =>
      error.code === 'EADDRINUSE' || error.code === 'EACCES' ? resolve(undefined) : reject(error),
    );
    server.listen(port, '127.0.0.1', () => {
      const { port: bound } = server.address() as net.AddressInfo;
      server.close(() => resolve(bound));
    });
  });
}
