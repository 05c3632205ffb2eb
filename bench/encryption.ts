/**
 * `npm run bench:encryption`: what payload encryption (src/temporal/payload-codec.ts) costs.
 *
 * 1. The codec alone: encrypt + decrypt of one payload of a callback's input size (~0.4 KB), a
 *    notification's rendered message (~4 KB) and a large payload (64 KB), microseconds each.
 * 2. Workflows through a Temporal CLI dev server: an echo workflow (its input and result are one
 *    payload of callback size, so the start, the workflow task, the completion and the result each
 *    pass the codec) run to completion, 20 at a time, by a client and worker with the product's
 *    data converter and by a plain pair, in alternating blocks on one server and one process, so
 *    load from other work on a shared machine falls on both alike. Reported as the ratio.
 *
 * The other benchmarks import benchPayloadCodec, so they run encrypted as production does.
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter, type DataConverter } from '@temporalio/common';
import { NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { startTemporalDevServer } from '../src/dev/temporal-dev-server';
import { createLogger } from '../src/logger';
import { productDataConverter } from '../src/temporal/data-converter';
import { EncryptionCodec, generatePayloadKey, parsePayloadKeys } from '../src/temporal/payload-codec';
import { installSdkRuntime } from '../src/temporal/sdk-logger';

/**
 * The benchmarks run with payload encryption, as production does: one key (PAYLOAD_KEYS, generated
 * when unset) for the benchmark process and every process it starts, which inherit it.
 */
export function benchPayloadCodec(): EncryptionCodec {
  process.env.PAYLOAD_KEYS ||= generatePayloadKey('bench');
  return new EncryptionCodec(parsePayloadKeys(process.env.PAYLOAD_KEYS));
}

const log = (...args: unknown[]) => console.log('[bench:encryption]', ...args);
const WORKFLOWS_PER_BLOCK = Number(process.env.BENCH_WORKFLOWS ?? 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONCURRENCY = 20;

/** A callback's input as the API starts it (ids, the customer's name and number, notes). */
const callbackInput = {
  callbackId: randomUUID(),
  companyId: randomUUID(),
  branchId: randomUUID(),
  customerId: randomUUID(),
  customerName: 'Zofia Przybylska',
  phoneNumber: '+48600111222',
  priority: 'high',
  notes: 'wants to move the appointment to Thursday afternoon; prefers a call after 17:00',
  requestedAt: new Date().toISOString(),
  dueAt: new Date(Date.now() + 3_600_000).toISOString(),
  metadata: { source: 'web', campaign: 'autumn' },
};
const sized = (bytes: number) => ({ ...callbackInput, body: 'x'.repeat(Math.max(0, bytes - JSON.stringify(callbackInput).length - 10)) });

async function codecCost(codec: EncryptionCodec): Promise<void> {
  for (const [label, value] of [
    ['callback input', callbackInput],
    ['rendered message', sized(4 * 1024)],
    ['large payload', sized(64 * 1024)],
  ] as const) {
    const payload = defaultPayloadConverter.toPayload(value)!;
    const n = label === 'large payload' ? 2_000 : 20_000;
    for (let i = 0; i < 1_000; i++) await codec.decode(await codec.encode([payload])); // warm-up
    let encryptMs = 0;
    let decryptMs = 0;
    let encryptedBytes = 0;
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const [encrypted] = await codec.encode([payload]);
      const t1 = performance.now();
      await codec.decode([encrypted]);
      decryptMs += performance.now() - t1;
      encryptMs += t1 - t0;
      encryptedBytes = encrypted.data!.length;
    }
    log(
      `${label.padEnd(16)} ${String(payload.data!.length).padStart(6)} B -> ${String(encryptedBytes).padStart(6)} B:` +
        ` encrypt ${((encryptMs / n) * 1000).toFixed(1)} µs, decrypt ${((decryptMs / n) * 1000).toFixed(1)} µs per payload`,
    );
  }
}

async function throughput(codec: EncryptionCodec): Promise<void> {
  installSdkRuntime(createLogger('error'));
  const temporal = await startTemporalDevServer({ namespace: 'default' });
  const cleanups: Array<() => Promise<unknown>> = [() => temporal.stop()];
  try {
    const connection = await Connection.connect({ address: temporal.address });
    const native = await NativeConnection.connect({ address: temporal.address });
    cleanups.unshift(
      () => connection.close(),
      () => native.close(),
    );
    const workflowBundle = await bundleWorkflowCode({
      workflowsPath: path.join(__dirname, 'bare-workflow.ts'),
      logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error },
    });
    const pairs: Array<{ label: 'plain' | 'encrypted'; client: Client; taskQueue: string }> = [];
    for (const [label, dataConverter] of [
      ['plain', undefined],
      ['encrypted', productDataConverter(codec)],
    ] as Array<['plain' | 'encrypted', DataConverter | undefined]>) {
      const taskQueue = `bench-encryption-${label}`;
      const worker = await Worker.create({ connection: native, namespace: 'default', taskQueue, workflowBundle, dataConverter });
      const running = worker.run();
      cleanups.unshift(async () => {
        worker.shutdown();
        await running;
      });
      pairs.push({ label, client: new Client({ connection, namespace: 'default', dataConverter }), taskQueue });
    }

    const block = async (pair: (typeof pairs)[number], count: number): Promise<number> => {
      let next = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < count) {
            next++;
            await pair.client.workflow.execute('echoWorkflow', {
              taskQueue: pair.taskQueue,
              workflowId: `echo-${randomUUID()}`,
              args: [callbackInput],
            });
          }
        }),
      );
      return count / ((performance.now() - t0) / 1000);
    };
    for (const pair of pairs) await block(pair, 40); // warm-up: bundles loaded, connections open
    const rates: Record<string, number[]> = { plain: [], encrypted: [] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const pair of round % 2 === 0 ? pairs : [...pairs].reverse()) {
        const rate = await block(pair, WORKFLOWS_PER_BLOCK);
        rates[pair.label].push(rate);
        log(`round ${round + 1} ${pair.label.padEnd(9)} ${rate.toFixed(1)} workflows/s`);
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const plain = median(rates.plain);
    const encrypted = median(rates.encrypted);
    log(
      `median: plain ${plain.toFixed(1)} workflows/s, encrypted ${encrypted.toFixed(1)} workflows/s, ` +
        `ratio encrypted/plain ${(encrypted / plain).toFixed(2)} (${WORKFLOWS_PER_BLOCK} per block, ${CONCURRENCY} at a time, ${ROUNDS} rounds)`,
    );
  } finally {
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const codec = new EncryptionCodec(parsePayloadKeys(generatePayloadKey('bench')));
  log('codec alone (AES-256-GCM, one payload per call)');
  await codecCost(codec);
  log('echo workflows start to result through a Temporal CLI dev server');
  await throughput(codec);
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
