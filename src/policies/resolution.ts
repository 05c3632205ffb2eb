/**
 * How a policy resolves through the hierarchy (docs/policies.md, Resolution), pure: the store reads
 * every live policy on an entity's chain in one statement, this decides.
 *
 * - Each setting comes from the nearest level that sets it, by the rule every hierarchical
 *   configuration shares (src/directory/hierarchy.ts, resolveByKey): a key absent from a policy's
 *   config inherits, `null` clears it at that level (e.g. "no monthly limit here").
 * - `fee_cents` and `fee_tiers` are one setting, `fee`: the nearest level that sets either decides
 *   the fee rule (a fixed fee there hides tiers above, and the other way round).
 * - An override (a policy with `overridesId`) holds only the keys it changes and applies over the
 *   policy it names, only where that policy is in force: on the chain being resolved and itself
 *   applying. Elsewhere (a staff member's exception to one service's policy, asked about without
 *   that service; the named policy deleted) it is listed as inactive and its keys do not count.
 */
import { resolveByKey, type KeyReader } from '../directory/hierarchy';
import {
  POLICY_SETTINGS,
  type InactiveOverride,
  type PolicyKeyProvenance,
  type PolicyLevel,
  type PolicyRecord,
  type PolicyType,
  type ResolvedPolicy,
} from './definitions';

type Config = Record<string, unknown>;

const has = (config: Config, key: string) => Object.prototype.hasOwnProperty.call(config, key) && config[key] !== undefined;

/**
 * How a setting reads one policy's config: undefined when the policy sets none of its keys
 * (inherit), null when it sets them only to null (cleared), else the keys it sets.
 */
const readerOf =
  (keys: readonly string[]): KeyReader<Config, Config> =>
  (config) => {
    const present = keys.filter((k) => has(config, k));
    if (present.length === 0) return undefined;
    const set = present.filter((k) => config[k] !== null);
    return set.length === 0 ? null : Object.fromEntries(set.map((k) => [k, config[k]]));
  };

const DEFAULT_PROVENANCE: PolicyKeyProvenance = { level: 'default', policyId: null, entityId: null, version: null, cleared: false };

/** Which policies on the chain apply: every plain policy; an override only while the policy it names applies, less specific than itself. */
function applying(rows: readonly PolicyRecord[]): { active: PolicyRecord[]; inactive: InactiveOverride[] } {
  const applies = new Set<string>();
  const inactive: InactiveOverride[] = [];
  // Least specific first: what an override names is decided before the override itself.
  for (let i = rows.length - 1; i >= 0; i--) {
    const row = rows[i];
    const named = row.overridesId ? rows.findIndex((r) => r.id === row.overridesId) : -1;
    if (!row.overridesId || (named > i && applies.has(row.overridesId))) applies.add(row.id);
    else inactive.unshift({ policy: row, reason: `overrides policy ${row.overridesId}, which does not apply here` });
  }
  return { active: rows.filter((r) => applies.has(r.id)), inactive };
}

/**
 * Resolves one policy type for one entity from the live policies on its chain (any order; those
 * of other types or off the chain are ignored).
 */
export function resolvePolicyOnChain(
  policyType: PolicyType,
  chain: Array<{ level: PolicyLevel; id: string }>,
  policies: readonly PolicyRecord[],
): ResolvedPolicy {
  const rank = (p: PolicyRecord) => chain.findIndex((c) => c.level === p.entityType && c.id === p.entityId);
  const onChain = policies.filter((p) => p.policyType === policyType && !p.deletedAt && rank(p) >= 0).sort((a, b) => rank(a) - rank(b));
  const { active, inactive } = applying(onChain);
  const layers = chain.map(({ level, id }) => {
    const row = active.find((p) => p.entityType === level && p.entityId === id) ?? null;
    return { level, entityId: id, rowId: row?.id ?? null, row: row?.config ?? null };
  });
  const settings = POLICY_SETTINGS[policyType];
  const readers = Object.fromEntries(Object.entries(settings).map(([name, keys]) => [name, readerOf(keys)]));
  const defaults: Record<string, Config | null> = Object.fromEntries(Object.keys(settings).map((name) => [name, null]));
  const { values, provenance } = resolveByKey(layers, readers, defaults);

  const config: Config = {};
  const out: Record<string, PolicyKeyProvenance> = {};
  for (const [name, keys] of Object.entries(settings)) {
    const p = provenance[name];
    const row = p.rowId ? active.find((r) => r.id === p.rowId) : undefined;
    if (!row) {
      out[name] = DEFAULT_PROVENANCE;
      continue;
    }
    out[name] = { level: p.level as PolicyLevel, policyId: row.id, entityId: row.entityId, version: row.version, cleared: p.cleared };
    // A cleared setting shows as the keys its level set to null; a set one as the keys it set.
    if (p.cleared) for (const k of keys.filter((key) => has(row.config, key))) config[k] = null;
    else Object.assign(config, values[name]);
  }
  const nearest = active[0] ?? null;
  return {
    policyType,
    policy: nearest,
    level: nearest ? nearest.entityType : null,
    config,
    provenance: out,
    policies: active,
    inactive,
    chain,
  };
}
