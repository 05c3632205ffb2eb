/**
 * `npm run bench`: every benchmark, one after the other, each in its own process so that one's
 * servers and memory do not colour the next one's figures.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const BENCHMARKS = ['api.ts', 'notifications.ts', 'callbacks.ts', 'policies.ts', 'encryption.ts'];

let failed = 0;
for (const file of BENCHMARKS) {
  console.log(`\n=== bench/${file} ===`);
  const run = spawnSync(process.execPath, ['-r', '@swc-node/register', path.join(__dirname, file)], {
    stdio: 'inherit',
    cwd: path.resolve(__dirname, '..'),
  });
  if (run.status !== 0) {
    console.error(`bench/${file} exited with ${run.status ?? run.signal}`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
