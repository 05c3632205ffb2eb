import { EventEmitter } from 'node:events';
import { Client, type ClientConfig } from 'pg';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import {
  POLICY_CACHE_CHANNEL,
  POLICY_TYPES,
  type InvalidationMessage,
  type PolicyTarget,
  type PolicyType,
  type ResolvedPolicy,
} from './definitions';
import type { Queryable } from '../db/transaction';
import { resolvePolicyOnChain } from './resolution';
import type { TargetResolution } from './store';

/**
 * The resolved-policy cache of one process (the API and the worker each have one), correct across
 * processes:
 *
 * - Entries are keyed by (company, entity type, entity id, service context, policy type) and hold
 *   the resolution with the chain of levels it depends on (every level, since any key may come
 *   from any of them); an index from each level's entity to the entries that consulted it makes an
 *   invalidation exact: a change on a branch drops the branch's entries and those of its services
 *   and staff, nothing else.
 * - Every policy change (and every staff member or service moving branch) is announced by a
 *   trigger with NOTIFY on `policy_cache` when its transaction commits; a dedicated connection
 *   LISTENs and drops the affected entries. The writing process also drops them itself right
 *   after its COMMIT, so it reads its own writes without waiting for the echo.
 * - Only a listening cache serves hits. While the LISTEN connection is down (not yet connected,
 *   lost, a heartbeat unanswered) nothing is cached and every resolve reads the database; on
 *   (re)connection everything is dropped, since notifications may have been missed meanwhile.
 *   Reconnection backs off exponentially.
 * - A load that was in flight while an invalidation of its company arrived is returned to its
 *   callers but not stored (epoch counters), and later resolves do not join it: no stale entry can
 *   outlive the notification of the change it missed.
 * - Concurrent misses of one key share one load (single flight); a batch of misses is one load.
 */

/**
 * Loads resolutions from the database: one statement for any number of targets (store.resolveTargets).
 * `db`: the caller's transaction, when it asks from inside one (its own connection, not another).
 */
export type ResolutionLoader = (
  companyId: string,
  targets: PolicyTarget[],
  policyTypes: PolicyType[],
  db?: Queryable,
) => Promise<TargetResolution[]>;

export interface ResolveOptions {
  /**
   * A caller inside a transaction passes it: a miss is then loaded on that connection rather than
   * waiting for another one from the pool (every connection held by a transaction waiting for a
   * connection would be a deadlock until the pool's timeout). It reads no uncommitted policy: the
   * transactions that ask (a booking, a modification) write none.
   */
  db?: Queryable;
}

export interface PolicyCacheOptions {
  load: ResolutionLoader;
  /** Connection settings of the dedicated LISTEN connection (e.g. the pool's options). */
  listen: ClientConfig;
  logger?: Logger;
  /** Entries kept at most (least recently used dropped first). Default 10,000. */
  maxEntries?: number;
  /** A safety net on top of invalidation: an entry older than this is reloaded. Default 10 minutes. */
  ttlMs?: number;
  /** How often the LISTEN connection is checked with a query; no answer within this long means lost. Default 10 s. */
  heartbeatMs?: number;
  /** First and longest wait between reconnection attempts. Default 100 ms and 5 s. */
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  /** Let the LISTEN connection and timers not keep the process alive (for a cache nobody closes). */
  unref?: boolean;
}

export interface PolicyCacheStats {
  hits: number;
  misses: number;
  size: number;
  /** Entries dropped by invalidations (clears of everything not included). */
  invalidations: number;
  /** Invalidation messages received (or applied locally). */
  invalidationMessages: number;
  /** Times everything was dropped (connection lost or re-established, clear all). */
  clears: number;
  /** Database loads (one query each, however many keys). */
  loads: number;
  /** Resolves answered from the database without caching because the LISTEN connection was down. */
  bypassed: number;
  /** Successful (re)connections of the LISTEN connection after the first. */
  reconnects: number;
  connected: boolean;
}

interface Entry {
  value: ResolvedPolicy;
  /** `level:id` of every level the resolution consulted. */
  nodes: string[];
  expiresAt: number;
}

export interface ResolveRequest {
  target: PolicyTarget;
  policyType: PolicyType;
}

const nodeKey = (level: string, id: string) => `${level}:${id}`;
const targetKey = (companyId: string, t: PolicyTarget) =>
  `${companyId}|${t.entityType}:${t.entityId}|${t.entityType === 'staff' ? (t.serviceId ?? '') : ''}`;
const entryKey = (companyId: string, t: PolicyTarget, policyType: PolicyType) => `${targetKey(companyId, t)}|${policyType}`;

let instances = 0;

export class PolicyCache extends EventEmitter {
  /** application_name of the LISTEN connection (pg_stat_activity shows it). */
  readonly applicationName: string;
  private readonly entries = new Map<string, Entry>();
  private readonly index = new Map<string, Set<string>>();
  private readonly inflight = new Map<string, Promise<ResolvedPolicy | null>>();
  private readonly counters = { hits: 0, misses: 0, invalidations: 0, invalidationMessages: 0, clears: 0, loads: 0, bypassed: 0 };
  /** Bumped when everything is dropped; with the company's own epoch, tells a load whether it may store. */
  private epoch = 0;
  private readonly companyEpochs = new Map<string, number>();
  private connected = false;
  private connections = 0;
  private closed = false;
  private started: Promise<void> | undefined;
  private firstConnect: { promise: Promise<void>; resolve: () => void };
  /** The LISTEN connection being set up or in use; events of an older one are ignored. */
  private client: Client | undefined;
  private lost: (() => void) | undefined;
  private wake: (() => void) | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly maxEntries: number;
  private readonly ttlMs: number;
  private readonly heartbeatMs: number;

  constructor(private readonly options: PolicyCacheOptions) {
    super();
    this.maxEntries = options.maxEntries ?? 10_000;
    this.ttlMs = options.ttlMs ?? 600_000;
    this.heartbeatMs = options.heartbeatMs ?? 10_000;
    this.applicationName = `policy-cache-${process.pid}-${++instances}`;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.firstConnect = { promise, resolve };
  }

  /** Starts listening (once); resolves when the LISTEN connection is first up (or the cache is closed). Never rejects. */
  start(): Promise<void> {
    this.started ??=
      (this.listenLoop().catch((error) => this.options.logger?.error({ err: error }, 'policy cache listener stopped')),
      this.firstConnect.promise);
    return this.started;
  }

  /** Stops listening and drops everything. */
  async close(): Promise<void> {
    this.closed = true;
    this.markLost('closed');
    this.wake?.();
    this.firstConnect.resolve();
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  stats(): PolicyCacheStats {
    return { ...this.counters, size: this.entries.size, reconnects: Math.max(0, this.connections - 1), connected: this.connected };
  }

  /** One resolution; null when the entity is not in the company. */
  async resolve(
    companyId: string,
    target: PolicyTarget,
    policyType: PolicyType,
    options: ResolveOptions = {},
  ): Promise<ResolvedPolicy | null> {
    // The common case, a hit, without the batch machinery.
    const hit = this.hit(entryKey(companyId, target, policyType), Date.now());
    return hit ?? (await this.resolveMany(companyId, [{ target, policyType }], options))[0];
  }

  /**
   * Many resolutions: hits from the cache, every miss together in one load (one query), misses
   * already being loaded joined rather than loaded again. Null for an entity not in the company.
   */
  async resolveMany(
    companyId: string,
    requests: readonly ResolveRequest[],
    options: ResolveOptions = {},
  ): Promise<Array<ResolvedPolicy | null>> {
    void this.start();
    const results: Array<ResolvedPolicy | null> = new Array(requests.length);
    const waits: Array<Promise<unknown>> = [];
    const missing = new Map<string, ResolveRequest & { indexes: number[] }>();
    const now = Date.now();
    requests.forEach((request, index) => {
      const key = entryKey(companyId, request.target, request.policyType);
      const hit = this.hit(key, now);
      if (hit) {
        results[index] = hit;
        return;
      }
      this.counters.misses++;
      if (!this.connected) this.counters.bypassed++;
      const flying = this.inflight.get(key);
      if (flying) {
        waits.push(flying.then((value) => (results[index] = value)));
        return;
      }
      const known = missing.get(key);
      if (known) known.indexes.push(index);
      else missing.set(key, { ...request, indexes: [index] });
    });
    if (missing.size > 0) {
      const load = this.load(companyId, [...missing.entries()], options.db);
      for (const [key] of missing) {
        const one = load.then((loaded) => loaded.get(key) ?? null);
        this.inflight.set(key, one);
        // Another resolve may replace it (after an invalidation): only remove our own.
        const done = () => {
          if (this.inflight.get(key) === one) this.inflight.delete(key);
        };
        one.then(done, done);
      }
      waits.push(
        load.then((loaded) => {
          for (const [key, m] of missing) for (const index of m.indexes) results[index] = loaded.get(key) ?? null;
        }),
      );
    }
    await Promise.all(waits);
    return results;
  }

  /** Loads every policy type of an entity into the cache (one query). */
  async warm(companyId: string, target: PolicyTarget): Promise<Array<ResolvedPolicy | null>> {
    return this.resolveMany(
      companyId,
      POLICY_TYPES.map((policyType) => ({ target, policyType })),
    );
  }

  /**
   * Drops what depends on an entity of a company: its own entries and those of everything
   * inheriting from it, one policy type or all (null). What the LISTEN connection does for each notification; the
   * writing process calls it too, right after its COMMIT.
   */
  invalidate(message: InvalidationMessage): number {
    this.counters.invalidationMessages++;
    this.companyEpochs.set(message.c, (this.companyEpochs.get(message.c) ?? 0) + 1);
    // The company's loads in flight may predate the change: later resolves start their own.
    for (const key of [...this.inflight.keys()]) if (key.startsWith(`${message.c}|`)) this.inflight.delete(key);
    const keys = [...(this.index.get(nodeKey(message.t, message.i)) ?? [])];
    let dropped = 0;
    for (const key of keys) {
      const entry = this.entries.get(key);
      if (entry && (message.p === null || entry.value.policyType === message.p)) {
        this.remove(key);
        dropped++;
      }
    }
    this.counters.invalidations += dropped;
    this.emit('invalidated', message, dropped);
    return dropped;
  }

  /** Drops everything this process cached (nothing else: use the service's clear to tell every process). */
  clearAll(): void {
    this.counters.clears++;
    this.epoch++;
    this.inflight.clear();
    this.entries.clear();
    this.index.clear();
  }

  /** A live entry's value (counted, moved to most recently used); an expired one is dropped. Only while listening. */
  private hit(key: string, now: number): ResolvedPolicy | undefined {
    if (!this.connected) return undefined;
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      this.remove(key);
      return undefined;
    }
    this.counters.hits++;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  private remove(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    for (const node of entry.nodes) {
      const keys = this.index.get(node);
      keys?.delete(key);
      if (keys?.size === 0) this.index.delete(node);
    }
  }

  private store(key: string, value: ResolvedPolicy): void {
    const nodes = value.chain.map((c) => nodeKey(c.level, c.id));
    this.remove(key);
    this.entries.set(key, { value, nodes, expiresAt: Date.now() + this.ttlMs });
    for (const node of nodes) {
      let keys = this.index.get(node);
      if (!keys) this.index.set(node, (keys = new Set()));
      keys.add(key);
    }
    while (this.entries.size > this.maxEntries) this.remove(this.entries.keys().next().value as string);
  }

  /** One query for every missing key; stored only if nothing was invalidated (and the listener stayed up) meanwhile. */
  private async load(
    companyId: string,
    missing: Array<[string, ResolveRequest]>,
    db: Queryable | undefined,
  ): Promise<Map<string, ResolvedPolicy | null>> {
    const epoch = this.epoch;
    const companyEpoch = this.companyEpochs.get(companyId) ?? 0;
    const targets = new Map<string, PolicyTarget>();
    for (const [, m] of missing) targets.set(targetKey(companyId, m.target), m.target);
    const policyTypes = [...new Set(missing.map(([, m]) => m.policyType))];
    const list = [...targets.entries()];
    this.counters.loads++;
    const rows = await this.options.load(
      companyId,
      list.map(([, t]) => t),
      policyTypes,
      db,
    );
    const byTarget = new Map(list.map(([k], i) => [k, rows[i]]));
    const cacheable = this.connected && this.epoch === epoch && (this.companyEpochs.get(companyId) ?? 0) === companyEpoch;
    const out = new Map<string, ResolvedPolicy | null>();
    for (const [key, m] of missing) {
      const r = byTarget.get(targetKey(companyId, m.target));
      if (!r?.found) {
        out.set(key, null);
        continue;
      }
      const value: ResolvedPolicy = resolvePolicyOnChain(m.policyType, r.chain, r.policies[m.policyType] ?? []);
      out.set(key, value);
      if (cacheable) this.store(key, value);
    }
    return out;
  }

  // ---- the LISTEN connection ----

  private markLost(why: string): void {
    const wasConnected = this.connected;
    this.connected = false;
    this.clearAll();
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    const lost = this.lost;
    this.lost = undefined;
    lost?.();
    if (wasConnected) {
      this.options.logger?.warn({ why, applicationName: this.applicationName }, 'policy cache stopped listening: cache dropped');
      this.emit('disconnected', why);
    }
  }

  private onNotification(payload: string | undefined): void {
    let message: Partial<InvalidationMessage> | undefined;
    try {
      message = JSON.parse(payload ?? '');
    } catch {
      message = undefined;
    }
    const m = message ?? {};
    if (typeof m.c === 'string' && typeof m.t === 'string' && typeof m.i === 'string')
      this.invalidate({ c: m.c, t: m.t, i: m.i, p: typeof m.p === 'string' ? m.p : null });
    // Not a message we understand: the only safe reading is "anything may have changed".
    else this.clearAll();
  }

  private async listenLoop(): Promise<void> {
    const initial = this.options.reconnectInitialMs ?? 100;
    const max = this.options.reconnectMaxMs ?? 5_000;
    let delay = initial;
    while (!this.closed) {
      const client = new Client({
        connectionTimeoutMillis: 5_000,
        ...this.options.listen,
        application_name: this.applicationName,
        keepAlive: true,
      });
      this.client = client;
      const lost = new Promise<void>((resolve) => (this.lost = resolve));
      client.on('error', (error) => {
        if (this.client === client) this.markLost(`connection error: ${error.message}`);
      });
      client.on('end', () => {
        if (this.client === client) this.markLost('connection ended');
      });
      try {
        await client.connect();
        if (this.options.unref) (client as unknown as { connection?: { stream?: { unref?: () => void } } }).connection?.stream?.unref?.();
        client.on('notification', (n) => this.onNotification(n.payload));
        await client.query(`LISTEN ${POLICY_CACHE_CHANNEL}`);
        if (this.closed) {
          await client.end().catch(() => undefined);
          return;
        }
        // Notifications may have been missed before this point: start from nothing.
        this.clearAll();
        this.connected = true;
        this.connections++;
        delay = initial;
        this.startHeartbeat(client);
        this.options.logger?.info({ applicationName: this.applicationName }, 'policy cache listening for invalidations');
        this.emit('connected');
        this.firstConnect.resolve();
        await lost;
      } catch (error) {
        this.markLost(`could not listen: ${(error as Error).message}`);
      }
      if (this.client === client) this.client = undefined;
      client.end().catch(() => undefined);
      if (this.closed) return;
      // Back off before the next attempt, with jitter so many processes do not reconnect in step.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay / 2 + Math.random() * (delay / 2));
        if (this.options.unref) timer.unref();
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
      delay = Math.min(max, delay * 2);
    }
  }

  /** A half-open TCP connection raises no error: ask it something now and then, and call it lost if it does not answer. */
  private startHeartbeat(client: Client): void {
    this.heartbeat = setInterval(() => {
      let answered = false;
      const timeout = setTimeout(() => {
        if (!answered && this.client === client) {
          this.markLost('heartbeat unanswered');
          client.end().catch(() => undefined);
        }
      }, this.heartbeatMs);
      timeout.unref();
      client.query('SELECT 1').then(
        () => {
          answered = true;
          clearTimeout(timeout);
        },
        () => undefined,
      );
    }, this.heartbeatMs);
    if (this.options.unref) this.heartbeat.unref();
  }
}

export function createPolicyCache(options: PolicyCacheOptions): PolicyCache {
  return new PolicyCache(options);
}

/**
 * The cache's figures as Prometheus metrics of a registry (the API's GET /metrics). Read when
 * scraped; registered once per registry.
 */
export function registerPolicyCacheMetrics(registry: Registry, cache: PolicyCache): void {
  if (registry.getSingleMetric('policy_cache_entries')) return;
  const counter = (name: string, help: string, read: (s: PolicyCacheStats) => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read(cache.stats()));
      },
    });
  const gauge = (name: string, help: string, read: (s: PolicyCacheStats) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read(cache.stats()));
      },
    });
  gauge('policy_cache_entries', 'Resolved policies cached in this process', (s) => s.size);
  gauge('policy_cache_listening', '1 while the cache listens for invalidations (else it caches nothing)', (s) => (s.connected ? 1 : 0));
  counter('policy_cache_hits_total', 'Policy resolutions answered from the cache', (s) => s.hits);
  counter('policy_cache_misses_total', 'Policy resolutions that needed the database', (s) => s.misses);
  counter('policy_cache_loads_total', 'Database loads (one query each, for any number of misses)', (s) => s.loads);
  counter(
    'policy_cache_invalidations_total',
    'Cached resolutions dropped because a policy or the hierarchy changed',
    (s) => s.invalidations,
  );
  counter('policy_cache_invalidation_messages_total', 'Invalidation messages received', (s) => s.invalidationMessages);
  counter('policy_cache_clears_total', 'Times the whole cache was dropped (listener lost or reconnected)', (s) => s.clears);
  counter('policy_cache_bypassed_total', 'Resolutions read from the database uncached while the listener was down', (s) => s.bypassed);
  counter('policy_cache_reconnects_total', 'Reconnections of the LISTEN connection', (s) => s.reconnects);
}
