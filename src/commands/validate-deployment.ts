import { loadConfig } from '../config';
import { createPool } from '../db/pool';
import { checkDeployment } from '../deployment/readiness';
import { connectTemporalClient } from '../temporal/client';

/**
 * `npm run validate-deployment`: checks the configured Postgres and Temporal (DATABASE_URL,
 * TEMPORAL_ADDRESS), prints the report as JSON, and exits 1 naming each missing part.
 */
export async function validateDeploymentCommand(): Promise<number> {
  const config = loadConfig();
  if (!config.DATABASE_URL || !config.TEMPORAL_ADDRESS) {
    process.stderr.write('validate-deployment needs DATABASE_URL and TEMPORAL_ADDRESS (the deployment to check)\n');
    return 2;
  }
  const pool = createPool(config.DATABASE_URL, { max: 2 });
  let temporal;
  try {
    temporal = await connectTemporalClient(config.TEMPORAL_ADDRESS, config.TEMPORAL_NAMESPACE, '3s').catch((error: Error) => error);
    const report =
      temporal instanceof Error
        ? {
            ok: false,
            temporal: { ok: false, namespace: config.TEMPORAL_NAMESPACE, error: temporal.message },
            problems: [`temporal unreachable (namespace ${config.TEMPORAL_NAMESPACE}): ${temporal.message}`],
          }
        : await checkDeployment(pool, temporal.connection, config.TEMPORAL_NAMESPACE);
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    if (!report.ok) {
      process.stderr.write(`deployment is NOT valid:\n${report.problems.map((p) => `  - ${p}`).join('\n')}\n`);
      return 1;
    }
    process.stderr.write('deployment is valid\n');
    return 0;
  } finally {
    await pool.end();
    if (temporal && !(temporal instanceof Error)) await temporal.close();
  }
}
