import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import Retell from 'retell-sdk';
import { createPool, type Pool } from '../../src/db/pool';
import { migrate } from '../../src/db/migrate';
import { freePort } from '../../src/dev/free-port';
import { SecretBox } from '../../src/integrations/secret-box';
import { sealSecrets } from '../../src/integrations/secrets';
import { parsePayloadKeys } from '../../src/temporal/payload-codec';
import { startTestApi, type TestApi } from '../support/api';
import { scratchDatabase } from '../support/database';
import { ROTATED_SECRET_KEY, TEST_SECRET_KEYS } from '../support/encryption';
import { envelope, pingPayload, sign } from './calcom-fixtures';

const ROOT = path.resolve(__dirname, '..', '..');

/** Every place a secret could sit: each text, varchar, char, json, jsonb, bytea column (and arrays of text) of every table. */
async function scan(db: Pick<Pool, 'query'>, secrets: string[]): Promise<string[]> {
  const { rows: columns } = await db.query<{ table: string; column: string; udt: string }>(
    `SELECT c.table_name AS table, c.column_name AS column, c.udt_name AS udt
       FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
      WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
        AND c.udt_name IN ('text', 'varchar', 'bpchar', 'json', 'jsonb', 'bytea', '_text', '_varchar')`,
  );
  expect(columns.length).toBeGreaterThan(50);
  expect(columns).toEqual(expect.arrayContaining([{ table: 'integrations', column: 'secret_ciphertext', udt: 'bytea' }]));
  const found: string[] = [];
  for (const { table, column, udt } of columns) {
    for (const secret of secrets) {
      const where =
        udt === 'bytea'
          ? `position(convert_to($1, 'UTF8') IN "${column}") > 0`
          : `strpos("${column}"::text, $1) > 0 OR strpos("${column}"::text, to_json($1::text)::text) > 0`;
      const { rows } = await db.query(`SELECT count(*)::int AS n FROM "${table}" WHERE ${where}`, [secret]);
      if (rows[0].n > 0) found.push(`${table}.${column}`);
    }
  }
  return found;
}

const box = (keys: string) => new SecretBox(parsePayloadKeys(keys));
const keyId = (entry: string) => entry.split(':')[0];

/** `npm run <command>` as an operator runs it, against `databaseUrl`; its exit code and output. */
async function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['-r', '@swc-node/register', 'src/main.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, output };
}

describe('integration secrets at rest', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi();
  });
  afterAll(() => api?.close());

  const ping = (hookPath: string, secret: string) => {
    const raw = envelope('PING', pingPayload());
    return api.request('POST', hookPath, { raw, headers: { 'x-cal-signature-256': sign(raw, secret) } });
  };

  it('no table holds a secret the API was given: every text, jsonb and bytea column is scanned; the secrets still verify', async () => {
    const company = await api.company();
    const generated = await api.request('PUT', '/v1/integrations/calcom', { key: company.admin, body: {} });
    const calcomSecret = generated.body.secret as string;
    const retellKey = `key_${randomUUID().replace(/-/g, '')}`;
    const retell = await api.request('PUT', '/v1/integrations/retell', { key: company.admin, body: { secret: retellKey } });
    // Replaced (the old one must not linger either), then switched off and on (re-sealed, not rotated).
    const replacedKey = `key_${randomUUID().replace(/-/g, '')}`;
    expect((await api.request('PUT', '/v1/integrations/retell', { key: company.admin, body: { secret: replacedKey } })).status).toBe(200);
    await api.request('PUT', '/v1/integrations/calcom', { key: company.admin, body: { enabled: false } });
    await api.request('PUT', '/v1/integrations/calcom', { key: company.admin, body: { enabled: true } });
    expect((await ping(generated.body.webhookPath, calcomSecret)).body).toMatchObject({ outcome: 'ignored' });
    const call = JSON.stringify({ event: 'call_started', call: { call_id: `call_${randomUUID()}`, from_number: '+34600999999' } });
    const event = await api.request('POST', retell.body.webhookPath, {
      raw: call,
      headers: { 'x-retell-signature': await Retell.sign(call, replacedKey) },
    });
    expect(event.body).toMatchObject({ outcome: 'recorded' });

    expect(await scan(api.pool, [calcomSecret, retellKey, replacedKey])).toEqual([]);
    const rows = await api.pool.query(
      `SELECT provider, webhook_secret, secret_key_id, length(secret_ciphertext) AS bytes FROM integrations WHERE company_id = $1 ORDER BY provider`,
      [company.id],
    );
    expect(rows.rows).toEqual([
      { provider: 'calcom', webhook_secret: null, secret_key_id: keyId(TEST_SECRET_KEYS), bytes: 12 + calcomSecret.length + 16 },
      { provider: 'retell', webhook_secret: null, secret_key_id: keyId(TEST_SECRET_KEYS), bytes: 12 + replacedKey.length + 16 },
    ]);

    // The scan finds a secret in clear: a row as the migration leaves it, until the application seals it.
    const legacy = await api.company();
    const legacySecret = `whsec_legacy_${randomUUID()}`;
    const {
      rows: [row],
    } = await api.pool.query(
      `INSERT INTO integrations (company_id, provider, webhook_secret) VALUES ($1, 'calcom', $2) RETURNING '/webhooks/calcom/' || hook_id AS path`,
      [legacy.id, legacySecret],
    );
    expect(await scan(api.pool, [legacySecret])).toEqual(['integrations.webhook_secret']);
    // In clear, it verifies all the same; sealed (what the API does at start-up), it still does.
    expect((await ping(row.path, legacySecret)).body).toMatchObject({ outcome: 'ignored' });
    const report = await sealSecrets(api.pool, box(TEST_SECRET_KEYS));
    expect(report.sealed).toBeGreaterThanOrEqual(1);
    expect(report.byKey['(clear)']).toBeUndefined();
    expect(await scan(api.pool, [legacySecret])).toEqual([]);
    expect((await ping(row.path, legacySecret)).status).toBe(200);
  });

  it('a sealed secret is bound to its row: one copied onto another company’s integration opens nowhere (503, nothing written)', async () => {
    const a = await api.company();
    const b = await api.company();
    const ia = await api.request('PUT', '/v1/integrations/calcom', { key: a.admin, body: {} });
    const ib = await api.request('PUT', '/v1/integrations/calcom', { key: b.admin, body: {} });
    await api.pool.query(
      `UPDATE integrations SET (secret_ciphertext, secret_key_id) = (SELECT secret_ciphertext, secret_key_id FROM integrations WHERE id = $1) WHERE id = $2`,
      [ia.body.id, ib.body.id],
    );
    const withA = await ping(ib.body.webhookPath, ia.body.secret);
    expect(withA.status).toBe(503);
    expect((await ping(ib.body.webhookPath, ib.body.secret)).status).toBe(503);
    expect(
      await api.pool.query(`SELECT count(*)::int AS n FROM calcom_deliveries WHERE company_id = $1`, [b.id]).then((r) => r.rows[0].n),
    ).toBe(0);
    expect((await ping(ia.body.webhookPath, ia.body.secret)).status).toBe(200);
    // The operator still sees the integration (and may set a new secret); the hint says it cannot be read.
    const listed = await api.request('GET', '/v1/integrations', { key: b.admin });
    expect([listed.status, listed.body[0].secretHint]).toEqual([200, '…????']);
    const reset = await api.request('PUT', '/v1/integrations/calcom', { key: b.admin, body: { secret: `whsec_${randomUUID()}` } });
    expect((await ping(ib.body.webhookPath, reset.body.secret)).status).toBe(200);
  });

  it('a production API without SECRET_KEYS refuses to start, naming the variable', async () => {
    const { code, output } = await run(['api'], {
      NODE_ENV: 'production',
      SECRET_KEYS: '',
      SECRET_KEYS_FILE: '',
      UNSUBSCRIBE_SECRET: 'x'.repeat(40),
      DATABASE_URL: process.env.TEST_DATABASE_URL!,
      TEMPORAL_ADDRESS: process.env.TEST_TEMPORAL_ADDRESS!,
      PORT: String(await freePort()),
    });
    expect(code).toBe(1);
    expect(output).toMatch(/SECRET_KEYS: required with NODE_ENV=production/);
  });

  it('existing rows: migrated in clear, sealed by `migrate` with SECRET_KEYS, rotated by `secrets rotate`, written back for a downgrade', async () => {
    const scratch = await scratchDatabase();
    const pool = createPool(scratch.url, { max: 3 });
    const apis: TestApi[] = [];
    const apiWith = async (keys: string) => {
      const started = await startTestApi({ pool, secrets: box(keys) });
      apis.push(started);
      return started;
    };
    try {
      // The schema before this change, with its plaintext secrets.
      await migrate({ databaseUrl: scratch.url, count: 12 });
      const {
        rows: [company],
      } = await pool.query(`INSERT INTO companies (name) VALUES ('Old Co') RETURNING id`);
      const calcomSecret = `whsec_old_${randomUUID()}`;
      const retellKey = `key_old_${randomUUID().replace(/-/g, '')}`;
      await pool.query(`INSERT INTO integrations (company_id, provider, webhook_secret) VALUES ($1, 'calcom', $2), ($1, 'retell', $3)`, [
        company.id,
        calcomSecret,
        retellKey,
      ]);
      // Migrated without keys: each row gets its URL, the secret stays in clear and verifies.
      await migrate({ databaseUrl: scratch.url });
      const hooks = (await pool.query(`SELECT provider, hook_id, webhook_secret FROM integrations ORDER BY provider`)).rows;
      expect(hooks.map((h) => [h.provider, h.webhook_secret])).toEqual([
        ['calcom', calcomSecret],
        ['retell', retellKey],
      ]);
      expect(hooks.every((h) => /^[0-9a-f]{32}$/.test(h.hook_id))).toBe(true);
      const k1 = await apiWith(TEST_SECRET_KEYS);
      const pingOn = (on: TestApi) => {
        const raw = envelope('PING', pingPayload());
        return on.request('POST', `/webhooks/calcom/${hooks[0].hook_id}`, {
          raw,
          headers: { 'x-cal-signature-256': sign(raw, calcomSecret) },
        });
      };
      expect((await pingOn(k1)).status).toBe(200);

      // `npm run migrate` with SECRET_KEYS seals them.
      const env = { DATABASE_URL: scratch.url, SECRET_KEYS_FILE: '' };
      const migrated = await run(['migrate', 'up'], { ...env, SECRET_KEYS: TEST_SECRET_KEYS });
      expect(migrated.code).toBe(0);
      expect(migrated.output).toMatch(/integration secrets sealed at rest/);
      expect(await scan(pool, [calcomSecret, retellKey])).toEqual([]);
      expect((await pingOn(k1)).status).toBe(200);

      // Rotation: the new key last; `secrets rotate` re-seals every row with it.
      const rotated = await run(['secrets', 'rotate'], { ...env, SECRET_KEYS: `${TEST_SECRET_KEYS},${ROTATED_SECRET_KEY}` });
      expect(rotated.code).toBe(0);
      expect(JSON.parse(rotated.output.trim().split('\n').at(-1)!)).toMatchObject({
        resealed: 2,
        byKey: { [keyId(ROTATED_SECRET_KEY)]: 2 },
      });
      const status = await run(['secrets', 'status'], { ...env, SECRET_KEYS: ROTATED_SECRET_KEY });
      expect(JSON.parse(status.output.trim().split('\n').at(-1)!)).toEqual({ byKey: { [keyId(ROTATED_SECRET_KEY)]: 2 } });
      // A process without the new key cannot open them (503, nothing written); one with only the new key can: the old key may go.
      expect((await pingOn(k1)).status).toBe(503);
      expect((await pingOn(await apiWith(ROTATED_SECRET_KEY))).status).toBe(200);

      // Down past this migration (after those that came later): refused while sealed; after `secrets decrypt`, the old schema
      // with its secrets in clear.
      const later = fs.readdirSync(path.join(__dirname, '../../migrations')).filter((f) => f.endsWith('.js') && f > '1764100000012_~');
      if (later.length > 0) await migrate({ databaseUrl: scratch.url, direction: 'down', count: later.length });
      const refused = await run(['migrate', 'down', '1'], { ...env, SECRET_KEYS: '' });
      expect(refused.code).not.toBe(0);
      expect(refused.output).toMatch(/secrets -- decrypt/);
      expect((await run(['secrets', 'decrypt'], { ...env, SECRET_KEYS: ROTATED_SECRET_KEY })).code).toBe(0);
      expect((await run(['migrate', 'down', '1'], { ...env, SECRET_KEYS: '' })).code).toBe(0);
      const back = await pool.query(`SELECT provider, webhook_secret FROM integrations ORDER BY provider`);
      expect(back.rows).toEqual([
        { provider: 'calcom', webhook_secret: calcomSecret },
        { provider: 'retell', webhook_secret: retellKey },
      ]);
      const columns = await pool.query(
        `SELECT column_name FROM information_schema.columns WHERE table_name = 'integrations' AND column_name IN ('hook_id', 'secret_ciphertext', 'secret_key_id')`,
      );
      expect(columns.rows).toEqual([]);
    } finally {
      for (const a of apis) await a.close().catch(() => undefined);
      await pool.end().catch(() => undefined);
      await scratch.drop();
    }
  });
});
