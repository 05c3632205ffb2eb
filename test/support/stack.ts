import { NativeConnection } from '@temporalio/worker';
import { startTestApi, type TestApi } from './api';
import { startChannelServers, startTestWorker, testChannels, type ChannelServers, type TestWorker } from './workers';

/** The real API, the local channel servers (SMTP, Twilio, push) and a product worker on the API's task queue. */
export interface ApiStack {
  api: TestApi;
  servers: ChannelServers;
  worker: TestWorker;
  close(): Promise<void>;
}

/**
 * Starts what a route test that runs workflows needs, on the suite's PostgreSQL and Temporal.
 * `linksToApi`: unsubscribe links in emails point at this API (the consent tests follow them).
 */
export async function startApiStack(options: { linksToApi?: boolean } = {}): Promise<ApiStack> {
  const api = await startTestApi();
  const servers = await startChannelServers();
  const native = await NativeConnection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
  const worker = await startTestWorker({
    connection: native,
    client: api.temporal,
    pool: api.pool,
    taskQueue: api.taskQueue,
    channels: testChannels(servers),
    ...(options.linksToApi ? { publicBaseUrl: api.url } : {}),
  });
  return {
    api,
    servers,
    worker,
    async close() {
      await worker.stop();
      await native.close();
      await servers.close();
      await api.close();
    },
  };
}
