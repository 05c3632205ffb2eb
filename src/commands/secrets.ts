import { loadConfig } from '../config';
import { createPool } from '../db/pool';
import { decryptSecrets, sealSecrets } from '../integrations/secrets';
import * as store from '../integrations/store';
import { logger } from '../logger';
import { secretBoxFor } from '../runtime/secret-keys';

const USAGE = `usage: secrets <status|rotate|decrypt>
  status   how many integration secrets each key of SECRET_KEYS seals ("(clear)": not sealed yet)
  rotate   seal the secrets still in clear and re-seal every other one with the newest key (each API start does it too)
  decrypt  write every secret back in clear: only to migrate down past 1764100000012 (it refuses while any is sealed)`;

/** `npm run secrets -- <status|rotate|decrypt>` against DATABASE_URL with SECRET_KEYS (src/integrations/secrets.ts). */
export async function secretsCommand(args: string[]): Promise<number> {
  const action = args[0];
  if (action !== 'status' && action !== 'rotate' && action !== 'decrypt') {
    process.stderr.write(USAGE + '\n');
    return 2;
  }
  const config = loadConfig();
  if (!config.DATABASE_URL) {
    process.stderr.write('secrets needs DATABASE_URL\n');
    return 2;
  }
  const pool = createPool(config.DATABASE_URL, { max: 2 });
  try {
    if (action === 'status') {
      process.stdout.write(JSON.stringify({ byKey: await store.secretsByKey(pool) }) + '\n');
      return 0;
    }
    const box = secretBoxFor(config, logger)!;
    if (action === 'rotate') {
      const report = await sealSecrets(pool, box);
      process.stdout.write(JSON.stringify({ sealsWith: box.currentKeyId, ...report }) + '\n');
      return report.unknownKeys.length ? 1 : 0;
    }
    process.stdout.write(JSON.stringify({ decrypted: await decryptSecrets(pool, box) }) + '\n');
    return 0;
  } finally {
    await pool.end();
  }
}
