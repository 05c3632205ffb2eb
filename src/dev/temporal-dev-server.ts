import fs from 'node:fs';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { devServerExecutable } from '../temporal/binaries';
import { ALL_SEARCH_ATTRIBUTES } from '../temporal/search-attributes';

export interface DevServerOptions {
  /** SQLite file so runs survive a restart; omit for an in-memory, throwaway server. */
  dbFilename?: string;
  namespace: string;
  port?: number;
  /** Web UI port; omit for no UI. */
  uiPort?: number;
  /** The remote codec the Web UI decodes payloads with (`--ui-codec-endpoint`; the UI calls `<endpoint>/decode`). */
  uiCodecEndpoint?: string;
}

export interface RunningTemporal {
  address: string;
  uiUrl?: string;
  stop(): Promise<void>;
}

/**
 * The official Temporal CLI dev server (`temporal server start-dev`), started through
 * @temporalio/testing with the product's search attributes registered.
 */
export async function startTemporalDevServer(options: DevServerOptions): Promise<RunningTemporal> {
  if (options.dbFilename) fs.mkdirSync(path.dirname(path.resolve(options.dbFilename)), { recursive: true });
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: devServerExecutable(),
      namespace: options.namespace,
      ip: '127.0.0.1',
      port: options.port,
      dbFilename: options.dbFilename ? path.resolve(options.dbFilename) : undefined,
      ui: options.uiPort !== undefined,
      uiPort: options.uiPort,
      searchAttributes: ALL_SEARCH_ATTRIBUTES,
      log: { format: 'json', level: 'warn' },
      extraArgs: options.uiCodecEndpoint && options.uiPort !== undefined ? ['--ui-codec-endpoint', options.uiCodecEndpoint] : undefined,
    },
  });
  const address = env.address;
  return {
    address,
    uiUrl: options.uiPort !== undefined ? `http://127.0.0.1:${options.uiPort}` : undefined,
    stop: () => env.teardown(),
  };
}
