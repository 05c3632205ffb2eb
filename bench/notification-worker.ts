/**
 * A worker process of bench/notifications.ts. WORKER_KIND=product (default): the product's
 * worker (every workflow and activity, channels from the environment) on TASK_QUEUE.
 * WORKER_KIND=bare: one workflow running one plain nodemailer activity, the floor to compare with.
 * Reports its peak RSS to the parent when told to stop.
 */
import path from 'node:path';
import nodemailer from 'nodemailer';
import { NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { createActivities } from '../activities';
import { loadChannelConfig } from '../src/channels/config';
import { createChannelRegistry } from '../src/channels/registry';
import { createPool } from '../src/db/pool';
import { createLogger } from '../src/logger';
import { installSdkRuntime } from '../src/temporal/sdk-logger';
import { bundleWorkflows, createProductWorker } from '../src/temporal/worker';

const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

async function main(): Promise<void> {
  const logger = createLogger('error');
  installSdkRuntime(logger);
  const connection = await NativeConnection.connect({ address: env('TEMPORAL_ADDRESS') });
  const closers: Array<() => Promise<unknown>> = [() => connection.close()];
  let worker: Worker;
  if (process.env.WORKER_KIND === 'bare') {
    const smtp = new URL(env('SMTP_URL'));
    worker = await Worker.create({
      connection,
      namespace: 'default',
      taskQueue: env('TASK_QUEUE'),
      workflowBundle: await bundleWorkflowCode({
        workflowsPath: path.join(__dirname, 'bare-workflow.ts'),
        logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error },
      }),
      activities: {
        async sendPlainEmail(to: string, subject: string, text: string) {
          const transport = nodemailer.createTransport({ host: smtp.hostname, port: Number(smtp.port), ignoreTLS: true });
          try {
            await transport.sendMail({ from: 'Appointments <notifications@localhost>', to, subject, text });
          } finally {
            transport.close();
          }
        },
      },
      maxConcurrentActivityTaskExecutions: 100,
    });
  } else {
    const pool = createPool(env('DATABASE_URL'), { max: 20 });
    const clientConnection = await Connection.connect({ address: env('TEMPORAL_ADDRESS') });
    const channels = createChannelRegistry(loadChannelConfig(), logger);
    closers.unshift(
      () => pool.end(),
      () => clientConnection.close(),
      () => channels.close(),
    );
    const client = new Client({ connection: clientConnection, namespace: 'default' });
    worker = await createProductWorker({
      connection,
      namespace: 'default',
      taskQueue: env('TASK_QUEUE'),
      activities: createActivities({ pool, logger, channels, client, taskQueue: env('TASK_QUEUE') }),
      workflowBundle: await bundleWorkflows(),
      maxConcurrentActivityTaskExecutions: 100,
    });
  }
  let sampledPeak = 0;
  const sampler = setInterval(() => (sampledPeak = Math.max(sampledPeak, process.memoryUsage().rss)), 100);
  process.on('message', (message) => {
    if (message === 'stop' && worker.getState() === 'RUNNING') worker.shutdown();
  });
  process.send?.({ type: 'ready' });
  await worker.run();
  clearInterval(sampler);
  for (const close of closers) await close();
  // maxRSS is in kilobytes: the kernel's high-water mark for this process.
  process.send?.({ type: 'stopped', maxRssBytes: process.resourceUsage().maxRSS * 1024, sampledPeakRssBytes: sampledPeak });
  process.disconnect?.();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
