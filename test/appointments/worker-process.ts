/**
 * The product's worker (src/runtime/worker-process.ts: the same bundle, activities, pool and
 * channels as `src/main.ts worker`) in its own node process, for the worker-kill test on a
 * time-skipping server. `main.ts worker` cannot be used there: it also creates the reconciler's
 * Temporal Schedules, which the time-skipping test server does not implement.
 * Run as `node -r @swc-node/register test/appointments/worker-process.ts` with DATABASE_URL,
 * TEMPORAL_ADDRESS, TEMPORAL_TASK_QUEUE and the channel settings (SMTP_URL, ...); logs
 * `"msg":"worker running"` when it polls. The test ends it with SIGKILL.
 */
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { connectTemporalClient } from '../../src/temporal/client';
import { payloadCodecFor } from '../../src/runtime/payload-encryption';
import { startWorker } from '../../src/runtime/worker-process';

async function main() {
  const config = loadConfig();
  const logger = createLogger('info');
  // Encrypted like the product's worker (the test's PAYLOAD_KEYS, inherited from global setup).
  const codec = payloadCodecFor(config, logger);
  const temporal = await connectTemporalClient(process.env.TEMPORAL_ADDRESS!, config.TEMPORAL_NAMESPACE, undefined, codec);
  const worker = await startWorker(config, process.env.TEMPORAL_ADDRESS!, process.env.DATABASE_URL!, temporal.client, logger, codec);
  await worker.done;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
