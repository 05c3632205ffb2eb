import { randomUUID } from 'node:crypto';
import type { PolicyCache } from '../../src/policies/cache';
import type { PolicyTarget } from '../../src/policies/definitions';
import { resolveTargets } from '../../src/policies/store';
import { testDatabaseUrl, testPool } from '../support/database';
import { createOrganisation, type Organisation } from '../support/fixtures';
import { startTcpProxy } from '../support/tcp-proxy';
import { countingCache, invalidationOf, nextEvent, setPolicy, setPolicyHeard, until } from './support';

/**
 * The policy cache against the suite's real PostgreSQL: database queries are counted at the pool,
 * invalidations arrive through the trigger's NOTIFY exactly as they would from another process.
 */
describe('policy cache (real PostgreSQL, LISTEN/NOTIFY)', () => {
  const pool = testPool();
  const caches: PolicyCache[] = [];
  let org: Organisation;
  const staff = (o = org): PolicyTarget => ({ entityType: 'staff', entityId: o.staffId });
  const branch = (o = org): PolicyTarget => ({ entityType: 'branch', entityId: o.branchId });

  async function listening(options: Parameters<typeof countingCache>[1] = {}) {
    const c = countingCache(pool, options);
    caches.push(c.cache);
    await c.cache.start();
    return c;
  }

  beforeEach(async () => {
    org = await createOrganisation(pool);
  });
  afterAll(async () => {
    await Promise.all(caches.map((c) => c.close()));
    await pool.end();
  });

  it('the second resolve of a key does not touch the database (queries counted at the pool)', async () => {
    const { cache, queries } = await listening();
    const policyId = await setPolicyHeard(cache, pool, org.companyId, 'branch', org.branchId, 'cancellation', { hours_before: 24 });
    const first = await cache.resolve(org.companyId, staff(), 'cancellation');
    expect(queries()).toBe(1);
    expect(first).toMatchObject({
      policyType: 'cancellation',
      level: 'branch',
      policy: { id: policyId, config: { hours_before: 24 } },
      chain: [
        { level: 'staff', id: org.staffId },
        { level: 'branch', id: org.branchId },
        { level: 'company', id: org.companyId },
      ],
    });
    expect(await cache.resolve(org.companyId, staff(), 'cancellation')).toEqual(first);
    expect(queries()).toBe(1);
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 1, loads: 1, size: 1, connected: true });
  });

  it('keys are unique per (entity type, entity id, policy type), and a service context is its own key', async () => {
    const { cache, queries } = await listening();
    await setPolicyHeard(cache, pool, org.companyId, 'service', org.serviceId, 'cancellation', { fee_cents: 500 });
    const alone = await cache.resolve(org.companyId, staff(), 'cancellation');
    const withService = await cache.resolve(org.companyId, { ...staff(), serviceId: org.serviceId }, 'cancellation');
    const reschedule = await cache.resolve(org.companyId, staff(), 'reschedule');
    const asBranch = await cache.resolve(org.companyId, branch(), 'cancellation');
    expect(queries()).toBe(4);
    expect(alone).toMatchObject({ policy: null, level: null });
    expect(withService).toMatchObject({ level: 'service', policy: { config: { fee_cents: 500 } } });
    expect(withService!.chain.map((c) => c.level)).toEqual(['staff', 'service', 'branch', 'company']);
    expect(reschedule?.policy).toBeNull();
    expect(asBranch?.policy).toBeNull();
    expect(cache.stats().size).toBe(4);
    // Each is a hit now.
    await cache.resolve(org.companyId, { ...staff(), serviceId: org.serviceId }, 'cancellation');
    await cache.resolve(org.companyId, staff(), 'cancellation');
    expect(queries()).toBe(4);
  });

  it('50 concurrent resolves of one key make one query (no stampede)', async () => {
    const { cache, queries } = await listening();
    await setPolicyHeard(cache, pool, org.companyId, 'company', org.companyId, 'cancellation', { hours_before: 48 });
    const results = await Promise.all(Array.from({ length: 50 }, () => cache.resolve(org.companyId, staff(), 'cancellation')));
    expect(queries()).toBe(1);
    expect(new Set(results.map((r) => r?.policy?.id)).size).toBe(1);
    expect(results[0]).toMatchObject({ level: 'company', policy: { config: { hours_before: 48 } } });
    expect(cache.stats()).toMatchObject({ misses: 50, loads: 1, size: 1 });
  });

  it('batch-resolves 1,000 entities in one query, then from the cache in none', async () => {
    const { cache, queries } = await listening();
    const { rows } = await pool.query<{ id: string }>(
      `INSERT INTO staff (company_id, branch_id, name)
       SELECT $1, CASE WHEN n % 2 = 0 THEN $2::uuid ELSE $3::uuid END, 'Staff ' || n FROM generate_series(1, 998) AS n RETURNING id`,
      [org.companyId, org.branchId, org.otherBranchId],
    );
    await setPolicyHeard(cache, pool, org.companyId, 'branch', org.branchId, 'reschedule', { max_reschedules_per_appointment: 2 });
    await setPolicyHeard(cache, pool, org.companyId, 'company', org.companyId, 'reschedule', { max_reschedules_per_appointment: 5 });
    const targets: PolicyTarget[] = [...rows.map((r) => ({ entityType: 'staff' as const, entityId: r.id })), branch(), staff()];
    expect(targets).toHaveLength(1_000);
    const resolved = await cache.resolveMany(
      org.companyId,
      targets.map((target) => ({ target, policyType: 'reschedule' })),
    );
    expect(queries()).toBe(1);
    const levels = resolved.map((r) => r?.level);
    // 499 staff of the branch + the branch + the fixture's staff member; 499 staff of the other branch (no policy there).
    expect(levels.filter((l) => l === 'branch')).toHaveLength(501);
    expect(levels.filter((l) => l === 'company')).toHaveLength(499);
    expect(cache.stats().size).toBe(1_000);
    await cache.resolveMany(
      org.companyId,
      targets.map((target) => ({ target, policyType: 'reschedule' })),
    );
    expect(queries()).toBe(1);
  });

  it('an entity not in the company resolves to null (another company’s ids too) and is not cached', async () => {
    const { cache, queries } = await listening();
    const other = await createOrganisation(pool);
    expect(await cache.resolve(org.companyId, staff(other), 'cancellation')).toBeNull();
    expect(await cache.resolve(org.companyId, { entityType: 'company', entityId: other.companyId }, 'cancellation')).toBeNull();
    expect(await cache.resolve(org.companyId, { ...staff(), serviceId: randomUUID() }, 'cancellation')).toBeNull();
    expect(cache.stats().size).toBe(0);
    // An entity without a parent (the company) resolves without error.
    expect(await cache.resolve(org.companyId, { entityType: 'company', entityId: org.companyId }, 'cancellation')).toMatchObject({
      policy: null,
      chain: [{ level: 'company', id: org.companyId }],
    });
    expect(queries()).toBe(4);
  });

  it('warms every policy type of an entity in one query', async () => {
    const { cache, queries } = await listening();
    await setPolicyHeard(cache, pool, org.companyId, 'staff', org.staffId, 'recurring', { max_occurrences: 10 });
    await cache.warm(org.companyId, staff());
    expect(queries()).toBe(1);
    expect(cache.stats().size).toBe(3);
    expect(await cache.resolve(org.companyId, staff(), 'recurring')).toMatchObject({
      level: 'staff',
      policy: { config: { max_occurrences: 10 } },
    });
    expect(await cache.resolve(org.companyId, staff(), 'cancellation')).toMatchObject({ policy: null });
    expect(queries()).toBe(1);
  });

  it('a change announced by another connection drops the entity and everything inheriting from it, nothing else', async () => {
    const { cache, queries } = await listening();
    const other = await createOrganisation(pool);
    await setPolicyHeard(cache, pool, org.companyId, 'branch', org.branchId, 'cancellation', { hours_before: 24 });
    const keys: Array<[string, PolicyTarget]> = [
      [org.companyId, staff()],
      [org.companyId, { ...staff(), serviceId: org.serviceId }],
      [org.companyId, { entityType: 'service', entityId: org.serviceId }],
      [org.companyId, branch()],
      [org.companyId, { entityType: 'branch', entityId: org.otherBranchId }],
      [other.companyId, staff(other)],
    ];
    for (const [c, t] of keys) await cache.resolve(c, t, 'cancellation');
    await cache.resolve(org.companyId, staff(), 'reschedule');
    expect(cache.stats().size).toBe(7);
    const before = queries();

    // Update: through the pool (another connection, as another process would), announced at COMMIT.
    const seen = invalidationOf(cache, org.branchId);
    await setPolicy(pool, org.companyId, 'branch', org.branchId, 'cancellation', { hours_before: 48 });
    expect((await seen).dropped).toBe(4);
    // The other branch, the other company and the other policy type stayed.
    expect(cache.stats().size).toBe(3);
    expect(await cache.resolve(org.companyId, staff(), 'cancellation')).toMatchObject({
      policy: { config: { hours_before: 48 }, version: 2 },
    });
    expect(queries()).toBe(before + 1);
    await cache.resolve(org.companyId, { entityType: 'branch', entityId: org.otherBranchId }, 'cancellation');
    await cache.resolve(other.companyId, staff(other), 'cancellation');
    await cache.resolve(org.companyId, staff(), 'reschedule');
    expect(queries()).toBe(before + 1);

    // Delete (soft): the staff member falls back to the company level, which has nothing.
    const deleted = invalidationOf(cache, org.branchId);
    await pool.query(`UPDATE policy_configurations SET deleted_at = now() WHERE company_id = $1 AND configurable_id = $2`, [
      org.companyId,
      org.branchId,
    ]);
    expect((await deleted).dropped).toBeGreaterThanOrEqual(1);
    expect(await cache.resolve(org.companyId, staff(), 'cancellation')).toMatchObject({ policy: null, level: null });
    expect(cache.stats().invalidations).toBeGreaterThanOrEqual(5);
  });

  it('keys from several levels: one query per batch, the merged answer cached, and a change at any level it inherits from drops it', async () => {
    const { cache, queries } = await listening();
    // The staff member's cancellation terms come from three levels (the service is on the chain of the appointment's target only).
    await setPolicyHeard(cache, pool, org.companyId, 'company', org.companyId, 'cancellation', { max_cancellations_per_month: 3 });
    await setPolicyHeard(cache, pool, org.companyId, 'branch', org.branchId, 'cancellation', { fee_cents: 900 });
    await setPolicyHeard(cache, pool, org.companyId, 'staff', org.staffId, 'cancellation', { hours_before: 2 });
    await setPolicyHeard(cache, pool, org.companyId, 'service', org.serviceId, 'cancellation', { currency: 'USD' });
    const withService: PolicyTarget = { ...staff(), serviceId: org.serviceId };
    const other: PolicyTarget = { entityType: 'branch', entityId: org.otherBranchId };
    const before = queries();
    const [merged, alone, elsewhere] = await cache.resolveMany(
      org.companyId,
      [withService, staff(), other].map((target) => ({ target, policyType: 'cancellation' as const })),
    );
    expect(queries()).toBe(before + 1);
    expect(merged).toMatchObject({
      config: { hours_before: 2, currency: 'USD', fee_cents: 900, max_cancellations_per_month: 3 },
      provenance: {
        hours_before: { level: 'staff' },
        currency: { level: 'service' },
        fee: { level: 'branch' },
        max_cancellations_per_month: { level: 'company' },
      },
    });
    expect(alone!.config).toEqual({ hours_before: 2, fee_cents: 900, max_cancellations_per_month: 3 });
    expect(elsewhere!.config).toEqual({ max_cancellations_per_month: 3 });
    await cache.resolveMany(
      org.companyId,
      [withService, staff(), other].map((target) => ({ target, policyType: 'cancellation' as const })),
    );
    expect(queries()).toBe(before + 1);

    // A change at each level one of the merged keys comes from drops exactly the entries that inherit from it.
    const changes: Array<[string, 'company' | 'branch' | 'service' | 'staff', Record<string, unknown>, number, Record<string, unknown>]> = [
      [org.serviceId, 'service', { currency: 'GBP' }, 1, { currency: 'GBP' }],
      [org.staffId, 'staff', { hours_before: 5 }, 2, { hours_before: 5 }],
      [org.branchId, 'branch', { fee_cents: null }, 2, { fee_cents: null }],
      [org.companyId, 'company', { max_cancellations_per_month: 7 }, 3, { max_cancellations_per_month: 7 }],
    ];
    for (const [entityId, level, config, dropped, expected] of changes) {
      const seen = invalidationOf(cache, entityId);
      await setPolicy(pool, org.companyId, level, entityId, 'cancellation', config);
      expect([level, (await seen).dropped]).toEqual([level, dropped]);
      const q = queries();
      expect((await cache.resolve(org.companyId, withService, 'cancellation'))!.config).toMatchObject(expected);
      expect(queries()).toBe(q + 1);
      // Everything is cached again before the next change.
      await cache.resolveMany(
        org.companyId,
        [staff(), other].map((target) => ({ target, policyType: 'cancellation' as const })),
      );
    }
  });

  it('a company-level change drops every entry of that company', async () => {
    const { cache } = await listening();
    await cache.resolve(org.companyId, staff(), 'cancellation');
    await cache.resolve(org.companyId, branch(), 'cancellation');
    await cache.resolve(org.companyId, { entityType: 'service', entityId: org.serviceId }, 'cancellation');
    const seen = invalidationOf(cache, org.companyId);
    await setPolicy(pool, org.companyId, 'company', org.companyId, 'cancellation', { fee_cents: 100 });
    expect((await seen).dropped).toBe(3);
    expect(await cache.resolve(org.companyId, staff(), 'cancellation')).toMatchObject({ level: 'company' });
  });

  it('a staff member moving to another branch drops what they resolved (the hierarchy changed)', async () => {
    const { cache } = await listening();
    await setPolicyHeard(cache, pool, org.companyId, 'branch', org.otherBranchId, 'cancellation', { hours_before: 72 });
    expect(await cache.resolve(org.companyId, staff(), 'cancellation')).toMatchObject({ policy: null });
    const seen = invalidationOf(cache, org.staffId);
    await pool.query(`UPDATE staff SET branch_id = $2 WHERE id = $1`, [org.staffId, org.otherBranchId]);
    expect((await seen).message).toMatchObject({ t: 'staff', p: null });
    expect(await cache.resolve(org.companyId, staff(), 'cancellation')).toMatchObject({
      level: 'branch',
      policy: { config: { hours_before: 72 } },
    });
  });

  it('clears one policy type, or every type, of an entity', async () => {
    const { cache, queries } = await listening();
    await cache.warm(org.companyId, staff());
    await cache.warm(org.companyId, branch());
    expect(cache.stats().size).toBe(6);
    expect(cache.invalidate({ c: org.companyId, t: 'staff', i: org.staffId, p: 'reschedule' })).toBe(1);
    expect(cache.stats().size).toBe(5);
    // The branch: its own three and the staff member's two remaining.
    expect(cache.invalidate({ c: org.companyId, t: 'branch', i: org.branchId, p: null })).toBe(5);
    expect(cache.stats().size).toBe(0);
    const before = queries();
    await cache.resolve(org.companyId, staff(), 'cancellation');
    expect(queries()).toBe(before + 1);
  });

  it('keeps statistics: hits, misses, size, invalidations, loads', async () => {
    const { cache } = await listening();
    await cache.resolve(org.companyId, staff(), 'cancellation');
    await cache.resolve(org.companyId, staff(), 'cancellation');
    await cache.resolve(org.companyId, staff(), 'cancellation');
    cache.invalidate({ c: org.companyId, t: 'staff', i: org.staffId, p: null });
    expect(cache.stats()).toMatchObject({
      hits: 2,
      misses: 1,
      size: 0,
      invalidations: 1,
      loads: 1,
      bypassed: 0,
      connected: true,
      reconnects: 0,
    });
  });

  it('a load in flight when its company is invalidated is returned but not stored, and later resolves do not join it', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let loads = 0;
    const { cache } = await listening({
      load: async (companyId, targets, types) => {
        const n = ++loads;
        const rows = await resolveTargets(pool, companyId, targets, types);
        if (n === 1) await gate; // the first load read the old policy and is slow to return
        return rows;
      },
    });
    await setPolicyHeard(cache, pool, org.companyId, 'branch', org.branchId, 'cancellation', { hours_before: 1 });
    const slow = cache.resolve(org.companyId, staff(), 'cancellation');
    await until(() => loads === 1);
    await new Promise((r) => setTimeout(r, 50)); // its query has read the old policy
    const seen = invalidationOf(cache, org.branchId);
    await setPolicy(pool, org.companyId, 'branch', org.branchId, 'cancellation', { hours_before: 2 });
    await seen;
    // A resolve after the invalidation does not join the stale load: it reads the new policy.
    expect(await cache.resolve(org.companyId, staff(), 'cancellation')).toMatchObject({ policy: { config: { hours_before: 2 } } });
    release();
    expect(await slow).toMatchObject({ policy: { config: { hours_before: 1 } } });
    // And the stale result was not stored over the fresh one.
    expect(await cache.resolve(org.companyId, staff(), 'cancellation')).toMatchObject({ policy: { config: { hours_before: 2 } } });
  });

  it('a lost LISTEN connection (backend terminated) drops the cache, reads the database meanwhile, never a stale policy, then reconnects', async () => {
    const { cache, queries } = await listening({ reconnectInitialMs: 1_500, reconnectMaxMs: 1_500 });
    await setPolicyHeard(cache, pool, org.companyId, 'branch', org.branchId, 'cancellation', { hours_before: 10 });
    await cache.resolve(org.companyId, staff(), 'cancellation');
    expect(cache.stats().size).toBe(1);

    const disconnected = nextEvent(cache, 'disconnected');
    const { rows } = await pool.query(`SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1`, [
      cache.applicationName,
    ]);
    expect(rows).toEqual([{ ok: true }]);
    await disconnected;
    expect(cache.stats()).toMatchObject({ size: 0, connected: false });

    // While it cannot hear about changes, nothing is served from memory: a change is seen at once.
    await setPolicy(pool, org.companyId, 'branch', org.branchId, 'cancellation', { hours_before: 20 });
    const before = queries();
    for (let i = 0; i < 3; i++) {
      expect(await cache.resolve(org.companyId, staff(), 'cancellation')).toMatchObject({ policy: { config: { hours_before: 20 } } });
    }
    expect(queries()).toBe(before + 3);
    expect(cache.stats().bypassed).toBeGreaterThanOrEqual(3);

    await nextEvent(cache, 'connected');
    expect(cache.stats()).toMatchObject({ connected: true, reconnects: 1 });
    await cache.resolve(org.companyId, staff(), 'cancellation');
    await cache.resolve(org.companyId, staff(), 'cancellation');
    expect(queries()).toBe(before + 4);
    // And it hears changes again.
    const seen = invalidationOf(cache, org.branchId);
    await setPolicy(pool, org.companyId, 'branch', org.branchId, 'cancellation', { hours_before: 30 });
    await seen;
    expect(await cache.resolve(org.companyId, staff(), 'cancellation')).toMatchObject({ policy: { config: { hours_before: 30 } } });
  });

  it('a LISTEN connection that stops answering (a stalled network) is called lost by the heartbeat and the cache is dropped', async () => {
    const url = new URL(testDatabaseUrl());
    const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port) });
    try {
      const listen = new URL(testDatabaseUrl());
      listen.host = proxy.address;
      const { cache, queries } = await listening({
        listen: { connectionString: listen.toString(), connectionTimeoutMillis: 1_000 },
        heartbeatMs: 300,
        reconnectInitialMs: 200,
        reconnectMaxMs: 400,
      });
      await cache.resolve(org.companyId, staff(), 'cancellation');
      expect(cache.stats().size).toBe(1);
      const disconnected = nextEvent(cache, 'disconnected');
      proxy.stall();
      // No error, no end: only the unanswered heartbeat tells.
      await disconnected;
      expect(cache.stats()).toMatchObject({ size: 0, connected: false });
      // A change nobody could announce to this cache is still seen: it reads the database.
      await setPolicy(pool, org.companyId, 'branch', org.branchId, 'cancellation', { hours_before: 5 });
      const before = queries();
      expect(await cache.resolve(org.companyId, staff(), 'cancellation')).toMatchObject({ policy: { config: { hours_before: 5 } } });
      expect(queries()).toBe(before + 1);
      const connected = nextEvent(cache, 'connected');
      proxy.forward();
      await connected;
      expect(cache.stats().connected).toBe(true);
    } finally {
      await proxy.close();
    }
  });
});
