import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config';
import { startEmbeddedPostgres } from '../dev/embedded-postgres';
import { startTemporalDevServer } from '../dev/temporal-dev-server';
import { startTemporalServer } from '../dev/temporal-server';

export interface ResolvedDependencies {
  databaseUrl: string;
  temporalAddress: string;
  temporalUiUrl?: string;
  /** Stops what this process started (embedded Postgres, dev server), in reverse order. */
  stop(): Promise<void>;
}

/**
 * The database and Temporal server to use: the configured ones (DATABASE_URL, TEMPORAL_ADDRESS),
 * or, for `npm start` on a laptop, a real PostgreSQL and a real Temporal CLI dev server started
 * here with their data under DATA_DIR so that runs survive a restart. With
 * TEMPORAL_PERSISTENCE=postgres the Temporal server is the full one with its data in that
 * PostgreSQL (databases temporal and temporal_visibility), as deployed; it has no Web UI.
 */
export async function resolveDependencies(
  config: Config,
  logger: Logger,
  /** uiCodecEndpoint: the codec server the dev server's Web UI decodes payloads with. */
  options: { embedded: boolean; uiCodecEndpoint?: string },
): Promise<ResolvedDependencies> {
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch((error) => logger.warn({ err: error }, 'stopping a dependency failed'));
  };
  try {
    let databaseUrl = config.DATABASE_URL;
    /** A URL whose role may create databases: the embedded server's superuser, or DATABASE_URL's role. */
    let adminUrl = databaseUrl;
    if (!databaseUrl) {
      if (!options.embedded) throw new Error('DATABASE_URL is required');
      logger.info({ dataDir: path.resolve(config.DATA_DIR, 'postgres') }, 'starting embedded PostgreSQL');
      const pg = await startEmbeddedPostgres({
        dataDir: path.join(config.DATA_DIR, 'postgres'),
        port: config.EMBEDDED_POSTGRES_PORT,
        persistent: true,
        onLog: (line) => logger.debug({ component: 'postgres' }, line.trim()),
      });
      stops.push(pg.stop);
      databaseUrl = pg.databaseUrl;
      adminUrl = pg.adminUrl;
    }

    let temporalAddress = config.TEMPORAL_ADDRESS;
    let temporalUiUrl: string | undefined;
    if (!temporalAddress && !options.embedded) throw new Error('TEMPORAL_ADDRESS is required');
    if (!temporalAddress && config.TEMPORAL_PERSISTENCE === 'postgres') {
      logger.info({ postgres: adminUrl!.replace(/:[^:@/]+@/, ':***@') }, 'starting the Temporal server on PostgreSQL');
      const temporal = await startTemporalServer({
        postgresUrl: adminUrl!,
        dataDir: path.join(config.DATA_DIR, 'temporal-server'),
        namespace: config.TEMPORAL_NAMESPACE,
        port: config.TEMPORAL_DEV_PORT,
      });
      stops.push(temporal.stop);
      temporalAddress = temporal.address;
      logger.info({ ...temporal.timings, pid: temporal.pid }, 'Temporal server on PostgreSQL ready (no Web UI in this mode)');
    } else if (!temporalAddress) {
      logger.info({ dbFile: path.resolve(config.DATA_DIR, 'temporal.sqlite') }, 'starting the Temporal CLI dev server');
      const temporal = await startTemporalDevServer({
        dbFilename: path.join(config.DATA_DIR, 'temporal.sqlite'),
        namespace: config.TEMPORAL_NAMESPACE,
        port: config.TEMPORAL_DEV_PORT,
        uiPort: config.TEMPORAL_UI_PORT,
        uiCodecEndpoint: options.uiCodecEndpoint,
      });
      stops.push(temporal.stop);
      temporalAddress = temporal.address;
      temporalUiUrl = temporal.uiUrl;
    }
    return { databaseUrl, temporalAddress, temporalUiUrl, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
