import { ConflictError } from '../errors';
import type { Queryable } from '../db/transaction';
import { ALL_FEATURES_ON, FEATURE_DISABLED, featureStates, type Feature, type FeatureDefaults, type FeatureOverrides } from './definitions';
import { findCompanyFeatures } from './store';

/**
 * The feature switches of every company, as one process sees them (src/companies/definitions.ts).
 *
 * Read on every request that starts new work, so they are cached per process for `ttlMs`
 * (FEATURE_CACHE_TTL_SECONDS, default 5 s): a change made through this process is seen at once
 * (forget), one made through another process within the TTL. Concurrent misses of one company
 * share one query; a load that overlapped a change is returned but not kept. A caller inside a
 * transaction passes it (`db`) and reads the row there, uncached.
 *
 * How to guard new work (one line, wherever the company is known):
 * - a route with an API key: `feature: 'callbacks'` in its RouteSpec (src/api/route.ts): 409
 *   `feature_disabled` before anything is parsed or written, and the 409 documented in OpenAPI;
 * - anywhere else (a service, a webhook once it has found the company):
 *   `await features.require(companyId, 'callbacks')` throws FeatureDisabledError (409).
 */
export class FeatureDisabledError extends ConflictError {
  constructor(readonly feature: Feature) {
    super(`the ${feature} feature is switched off for this company`, FEATURE_DISABLED, { feature });
  }
}

export interface FeatureSwitches {
  /** The deployment's defaults (FEATURE_POLICIES, FEATURE_CALLBACKS, FEATURE_NOTIFICATIONS). */
  readonly defaults: FeatureDefaults;
  /** The company's own settings (null: the default), cached; with `db`, read on that connection. */
  overrides(companyId: string, db?: Queryable): Promise<FeatureOverrides>;
  isEnabled(companyId: string, feature: Feature, db?: Queryable): Promise<boolean>;
  /** Throws FeatureDisabledError when the feature is off for the company. */
  require(companyId: string, feature: Feature, db?: Queryable): Promise<void>;
  /** Drops what this process cached about the company (after it changed its switches). */
  forget(companyId: string): void;
}

export interface FeatureSwitchOptions {
  /** Where the settings are read (the process's pool). */
  db: Queryable;
  defaults?: FeatureDefaults;
  /** How long a read is trusted; 0 reads every time. Default 5 s. */
  ttlMs?: number;
  /** Companies kept (the oldest dropped first). Default 10,000. */
  maxEntries?: number;
}

export function createFeatureSwitches(options: FeatureSwitchOptions): FeatureSwitches {
  const defaults = options.defaults ?? ALL_FEATURES_ON;
  const ttlMs = options.ttlMs ?? 5_000;
  const maxEntries = options.maxEntries ?? 10_000;
  const cache = new Map<string, { value: FeatureOverrides; expiresAt: number }>();
  const inflight = new Map<string, Promise<FeatureOverrides>>();
  let epoch = 0;

  const read = async (companyId: string, db: Queryable): Promise<FeatureOverrides> => {
    const row = await findCompanyFeatures(db, companyId);
    return row ? { policies: row.policies, callbacks: row.callbacks, notifications: row.notifications } : {};
  };

  async function overrides(companyId: string, db?: Queryable): Promise<FeatureOverrides> {
    if (db) return read(companyId, db);
    const hit = cache.get(companyId);
    if (hit && hit.expiresAt > Date.now()) return hit.value;
    const joined = inflight.get(companyId);
    if (joined) return joined;
    const started = epoch;
    const load = read(companyId, options.db)
      .then((value) => {
        if (ttlMs > 0 && started === epoch) {
          cache.delete(companyId);
          cache.set(companyId, { value, expiresAt: Date.now() + ttlMs });
          if (cache.size > maxEntries) cache.delete(cache.keys().next().value!);
        }
        return value;
      })
      .finally(() => {
        if (inflight.get(companyId) === load) inflight.delete(companyId);
      });
    inflight.set(companyId, load);
    return load;
  }

  const isEnabled = async (companyId: string, feature: Feature, db?: Queryable) =>
    featureStates(await overrides(companyId, db), defaults)[feature].enabled;

  return {
    defaults,
    overrides,
    isEnabled,
    require: async (companyId, feature, db) => {
      if (!(await isEnabled(companyId, feature, db))) throw new FeatureDisabledError(feature);
    },
    forget: (companyId) => {
      epoch++;
      cache.delete(companyId);
      inflight.delete(companyId);
    },
  };
}
