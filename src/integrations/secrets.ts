import type { Pool } from 'pg';
import { withTransaction } from '../db/transaction';
import type { SecretBox, Sealed } from './secret-box';
import * as store from './store';

/**
 * An integration's secret, sealed with SECRET_KEYS (src/integrations/secret-box.ts) and bound to
 * its row. Rows written before sealing existed keep their plaintext until `sealSecrets` runs
 * (`npm run migrate` with SECRET_KEYS, and every API start); until then they still verify.
 *
 * Rotation: add the new key to every API process's SECRET_KEYS before the current one (known, not
 * used), then move it last; the next API start (or `npm run secrets -- rotate`) re-seals every row
 * under it, and `secretsByKey` shows when no row uses the old key any more, so it can be removed.
 */
export const secretContext = (integrationId: string) => `integrations.webhook_secret:${integrationId}`;

/** The secret of an integration row, in clear (SecretBoxError when its key is missing or it was tampered with). */
export function secretOf(box: SecretBox, row: store.IntegrationRow): string {
  if (row.secret_ciphertext && row.secret_key_id)
    return box.open({ ciphertext: row.secret_ciphertext, keyId: row.secret_key_id }, secretContext(row.id));
  if (row.webhook_secret !== null) return row.webhook_secret;
  throw new Error(`integration ${row.id} has no secret`);
}

export const sealFor = (box: SecretBox, integrationId: string, secret: string): Sealed => box.seal(secret, secretContext(integrationId));

export interface SealReport {
  /** Rows that were in clear and are sealed now. */
  sealed: number;
  /** Rows re-sealed under the newest key. */
  resealed: number;
  /** Secrets per key id afterwards (`(clear)`: not sealed): a key no row uses may be removed. */
  byKey: Record<string, number>;
  /** Key ids rows are sealed under that this process does not have (their webhooks fail until it does). */
  unknownKeys: string[];
}

/**
 * Seals every secret still in clear and re-seals those under an older key with the newest one, in
 * short transactions of `batch` rows (a concurrent sweep or PUT never waits long, nor writes twice).
 * Idempotent; safe from several processes at once.
 */
export async function sealSecrets(pool: Pool, box: SecretBox, batch = 100): Promise<SealReport> {
  let sealed = 0;
  let resealed = 0;
  for (;;) {
    const done = await withTransaction(pool, async (tx) => {
      const rows = await store.secretsToSeal(tx, box.currentKeyId, box.keyIds, batch);
      for (const row of rows) {
        await store.storeSealedSecret(tx, row.id, sealFor(box, row.id, secretOf(box, row)));
        if (row.webhook_secret !== null) sealed++;
        else resealed++;
      }
      return rows.length;
    });
    if (done < batch) break;
  }
  const byKey = await store.secretsByKey(pool);
  const unknownKeys = Object.keys(byKey).filter((k) => k !== '(clear)' && !box.has(k));
  return { sealed, resealed, byKey, unknownKeys };
}

/**
 * For a downgrade past the migration that introduced sealing (it refuses while a secret is
 * sealed): writes every secret back in clear. Nothing else calls it.
 */
export async function decryptSecrets(pool: Pool, box: SecretBox, batch = 100): Promise<number> {
  let total = 0;
  for (;;) {
    const done = await withTransaction(pool, async (tx) => {
      const rows = await store.sealedSecrets(tx, batch);
      for (const row of rows) await store.storePlainSecret(tx, row.id, secretOf(box, row));
      return rows.length;
    });
    total += done;
    if (done < batch) break;
  }
  return total;
}
