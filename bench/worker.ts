/**
 * A worker process for the benchmarks.
 *
 * WORKER_KIND=product (default): the product's worker exactly as `npm run worker` starts it
 * (src/runtime/worker-process.ts), configured from the environment (DATABASE_URL,
 * TEMPORAL_ADDRESS, TEMPORAL_TASK_QUEUE, SMTP_URL, WORKER_MAX_CACHED_WORKFLOWS, ...).
 * WORKER_KIND=bare: the floor to compare with: bench/bare-workflow.ts (an empty workflow, and one
 * running a plain nodemailer activity) on TASK_QUEUE.
 *
 * IPC: sends 'ready'; answers 'status' with its RSS and the SDK's worker status (cached workflows,
 * in-flight activations); on 'stop' drains and reports its peak RSS ('stopped').
 */
import path from 'node:path';
import nodemailer from 'nodemailer';
import { NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../src/config';
import { createLogger } from '../src/logger';
import { payloadCodecFor } from '../src/runtime/payload-encryption';
import { startWorker } from '../src/runtime/worker-process';
import { productDataConverter } from '../src/temporal/data-converter';
import { installSdkRuntime } from '../src/temporal/sdk-logger';

const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

async function startBareWorker(): Promise<{ worker: Worker; stop: () => Promise<void> }> {
  const logger = createLogger('error');
  installSdkRuntime(logger);
  const connection = await NativeConnection.connect({ address: env('TEMPORAL_ADDRESS') });
  const smtp = process.env.SMTP_URL ? new URL(process.env.SMTP_URL) : undefined;
  const worker = await Worker.create({
    connection,
    namespace: 'default',
    taskQueue: env('TASK_QUEUE'),
    // The floor runs encrypted too, like the product and the benchmark's clients (PAYLOAD_KEYS from
    // the parent): without it every bare workflow's task fails on "Unknown encoding" and retries.
    dataConverter: productDataConverter(payloadCodecFor(loadConfig(), logger)),
    workflowBundle: await bundleWorkflowCode({
      workflowsPath: path.join(__dirname, 'bare-workflow.ts'),
      logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error },
    }),
    activities: {
      async sendPlainEmail(to: string, subject: string, text: string) {
        if (!smtp) throw new Error('SMTP_URL is required for sendPlainEmail');
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
  const done = worker.run();
  return {
    worker,
    stop: async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
      await connection.close();
    },
  };
}

async function startProductWorker(): Promise<{ worker: Worker; stop: () => Promise<void> }> {
  const logger = createLogger(process.env.LOG_LEVEL === 'silent' ? 'silent' : 'error');
  installSdkRuntime(logger, { metricsBindAddress: process.env.WORKER_METRICS_BIND_ADDRESS || undefined });
  const config = loadConfig();
  const address = env('TEMPORAL_ADDRESS');
  const codec = payloadCodecFor(config, logger);
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, dataConverter: productDataConverter(codec) });
  const running = await startWorker(config, address, env('DATABASE_URL'), client, logger, codec);
  return {
    worker: running.worker,
    stop: async () => {
      await running.shutdown();
      await connection.close();
    },
  };
}

async function main(): Promise<void> {
  const { worker, stop } = process.env.WORKER_KIND === 'bare' ? await startBareWorker() : await startProductWorker();
  let sampledPeak = 0;
  const sampler = setInterval(() => (sampledPeak = Math.max(sampledPeak, process.memoryUsage().rss)), 100);
  const stopped = new Promise<void>((resolve) => {
    process.on('message', (message) => {
      if (message === 'status') {
        process.send?.({ type: 'status', rssBytes: process.memoryUsage().rss, status: worker.getStatus() });
      } else if (message === 'stop') {
        void stop().then(resolve);
      }
    });
  });
  process.send?.({ type: 'ready' });
  await stopped;
  clearInterval(sampler);
  // maxRSS is in kilobytes: the kernel's high-water mark for this process.
  process.send?.({ type: 'stopped', maxRssBytes: process.resourceUsage().maxRSS * 1024, sampledPeakRssBytes: sampledPeak });
  process.disconnect?.();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
