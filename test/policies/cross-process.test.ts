import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { startTestApi, type TestApi } from '../support/api';
import { testDatabaseUrl } from '../support/database';
import { seedDirectory, type Directory, type TestCompany } from '../support/directory';

const ROOT = path.resolve(__dirname, '..', '..');

interface SecondApi {
  url: string;
  pid: number;
  listener: string;
  child: ChildProcess;
}

/** The product's API in a second node process, with its own pool and its own policy cache. */
async function startSecondApi(): Promise<SecondApi> {
  const child = spawn(process.execPath, ['-r', '@swc-node/register', path.join(__dirname, 'second-api-process.ts')], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: testDatabaseUrl(), TEMPORAL_ADDRESS: process.env.TEST_TEMPORAL_ADDRESS },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n')) resolve({ ...JSON.parse(line), child });
    });
    child.once('exit', (code) => reject(new Error(`the second API process exited with ${code}`)));
  });
}

/**
 * The cache is correct across processes: the API in this process and a second API process each
 * have their own cache; a change made through either is seen by the other (trigger -> NOTIFY ->
 * LISTEN), and the second process's metrics prove it still answers repeats from memory.
 */
describe('policy cache across two processes (LISTEN/NOTIFY)', () => {
  let a: TestApi;
  let b: SecondApi;
  let co: TestCompany;
  let dir: Directory;

  beforeAll(async () => {
    [a, b] = await Promise.all([startTestApi(), startSecondApi()]);
    await a.policyCache.start();
  }, 60_000);
  beforeEach(async () => {
    co = await a.company();
    dir = await seedDirectory(a, co);
  });
  afterAll(async () => {
    if (b?.child.exitCode === null) {
      const exited = new Promise((r) => b.child.once('exit', r));
      b.child.kill('SIGTERM');
      await exited;
    }
    await a?.close();
  });

  const request = async (base: string, method: string, p: string, key: string, body?: unknown) => {
    const res = await fetch(base + p, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const put = (base: string, config: Record<string, unknown>, entity = { entityType: 'branch', entityId: dir.branch.id }) =>
    request(base, 'PUT', '/v1/policies', co.manager, { ...entity, policyType: 'cancellation', config });
  const resolveStaff = async (base: string) =>
    (await request(base, 'GET', `/v1/policies/resolve?entityType=staff&entityId=${dir.staff.id}&policyType=cancellation`, co.agent)).body;
  const metric = async (base: string, name: string) => {
    const text = await (await fetch(`${base}/metrics`)).text();
    return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1]);
  };

  /**
   * Asks `base` until it answers `expected`: how long after the writer's reply, and how many
   * answers still showed the old value (a notification is delivered, not shared memory: there is
   * a window of milliseconds between one process's COMMIT and another's LISTEN handler).
   */
  async function seenBy(base: string, expected: (r: any) => boolean): Promise<{ ms: number; stale: number }> {
    const started = performance.now();
    let stale = 0;
    for (;;) {
      if (expected(await resolveStaff(base))) return { ms: performance.now() - started, stale };
      stale++;
      if (performance.now() - started > 2_000) throw new Error(`${base} did not see the change within 2 s`);
    }
  }
  const lags: Array<{ ms: number; stale: number }> = [];
  afterAll(() => {
    if (!lags.length) return;
    const fresh = lags.filter((l) => l.stale === 0).length;
    const max = Math.max(...lags.map((l) => l.ms)).toFixed(1);
    console.log(
      `cross-process: ${fresh} of ${lags.length} first reads after the writer's reply were already fresh; the latest seen after ${max} ms`,
    );
  });

  it('a change through one process is seen by the other, both ways, while repeats stay in memory', async () => {
    await put(a.url, { hours_before: 1 });
    await seenBy(b.url, (r) => r.policy?.config.hours_before === 1);
    // Cached in B: repeats do not load.
    const loads = await metric(b.url, 'policy_cache_loads_total');
    for (let i = 0; i < 5; i++) expect((await resolveStaff(b.url)).policy.config).toEqual({ hours_before: 1 });
    expect(await metric(b.url, 'policy_cache_loads_total')).toBe(loads);

    for (let i = 2; i <= 6; i++) {
      // Alternate the writer: A then B then A...
      const [writer, reader] = i % 2 === 0 ? [a.url, b.url] : [b.url, a.url];
      expect((await put(writer, { hours_before: i })).status).toBe(200);
      const seen = await seenBy(reader, (r) => r.policy?.config.hours_before === i);
      lags.push(seen);
      // Once seen, never the old value again.
      for (let k = 0; k < 3; k++) expect((await resolveStaff(reader)).policy.config.hours_before).toBe(i);
    }
    expect(await metric(b.url, 'policy_cache_invalidations_total')).toBeGreaterThan(0);

    // A delete through A: B falls back to the next level (none here).
    const id = (await resolveStaff(b.url)).policy.id;
    expect((await request(a.url, 'DELETE', `/v1/policies/${id}`, co.manager)).status).toBe(200);
    lags.push(await seenBy(b.url, (r) => r.policy === null));

    // The hierarchy changes through A (the staff member moves branch): B resolves the new chain.
    await put(a.url, { hours_before: 99 }, { entityType: 'branch', entityId: dir.otherBranch.id });
    expect(
      (await request(a.url, 'PATCH', `/v1/staff/${dir.staff.id}`, co.admin, { branchId: dir.otherBranch.id, serviceIds: [] })).status,
    ).toBe(200);
    lags.push(await seenBy(b.url, (r) => r.policy?.config.hours_before === 99));
  });

  it('two managers updating the same policy at once, through two processes: one clean last write, both caches end on it', async () => {
    await put(a.url, { fee_cents: 1 });
    for (let round = 0; round < 10; round++) {
      const mine = { fee_cents: 1_000 + round * 2 };
      const theirs = { fee_cents: 1_001 + round * 2 };
      const [x, y] = await Promise.all([put(a.url, mine), put(b.url, theirs)]);
      expect([x.status, y.status]).toEqual([200, 200]);
      // Serialised: one wrote version n, the other n + 1, each a whole config.
      expect(Math.abs(x.body.version - y.body.version)).toBe(1);
      const last = x.body.version > y.body.version ? x.body : y.body;
      const { rows } = await a.pool.query(
        `SELECT config, version FROM policy_configurations WHERE company_id = $1 AND configurable_id = $2 AND deleted_at IS NULL`,
        [co.id, dir.branch.id],
      );
      expect(rows).toEqual([{ config: last.config, version: last.version }]);
      for (const base of [a.url, b.url]) {
        lags.push(await seenBy(base, (r) => r.policy?.version === last.version));
        expect((await resolveStaff(base)).policy.config).toEqual(last.config);
      }
    }
  });

  it('a process whose LISTEN connection is killed serves no stale policy, and listens again', async () => {
    await put(a.url, { hours_before: 5 });
    await seenBy(b.url, (r) => r.policy?.config.hours_before === 5);
    const { rows } = await a.pool.query(`SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1`, [
      b.listener,
    ]);
    expect(rows).toEqual([{ ok: true }]);
    const deadline = Date.now() + 5_000;
    while ((await metric(b.url, 'policy_cache_listening')) !== 0) {
      if (Date.now() > deadline) throw new Error('B did not notice');
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await metric(b.url, 'policy_cache_entries')).toBe(0);
    // B cannot hear this change, and still answers it at once: it reads the database while deaf.
    await put(a.url, { hours_before: 6 });
    expect((await resolveStaff(b.url)).policy.config.hours_before).toBe(6);
    while ((await metric(b.url, 'policy_cache_listening')) !== 1) {
      if (Date.now() > deadline + 5_000) throw new Error('B did not reconnect');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await metric(b.url, 'policy_cache_reconnects_total')).toBeGreaterThanOrEqual(1);
    await put(a.url, { hours_before: 7 });
    lags.push(await seenBy(b.url, (r) => r.policy?.config.hours_before === 7));
  });
});
