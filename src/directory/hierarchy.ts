/**
 * The organisation hierarchy through which settings are inherited, and the one rule every kind of
 * hierarchical configuration resolves by (docs/design.md, Organisation hierarchy): staff > service >
 * branch > company > system defaults; each key resolves to the nearest level that sets it, and
 * says which level and row that was. A staff member's parent is their branch unless the question
 * is about a specific service. Pure: importable by workflows.
 */
export const CONFIG_LEVELS = ['staff', 'service', 'branch', 'company'] as const;
export type ConfigLevel = (typeof CONFIG_LEVELS)[number];

/** Which staff, service, branch and company a notification is about (extracted from its notifiable). */
export interface HierarchyContext {
  companyId: string;
  branchId?: string | null;
  serviceId?: string | null;
  staffId?: string | null;
}

/** The levels to consult, most specific first, skipping those the context does not have. */
export function hierarchyChain(ctx: HierarchyContext): Array<{ level: ConfigLevel; id: string }> {
  const chain: Array<{ level: ConfigLevel; id: string }> = [];
  if (ctx.staffId) chain.push({ level: 'staff', id: ctx.staffId });
  if (ctx.serviceId) chain.push({ level: 'service', id: ctx.serviceId });
  if (ctx.branchId) chain.push({ level: 'branch', id: ctx.branchId });
  chain.push({ level: 'company', id: ctx.companyId });
  return chain;
}

// ---- the inheritance rule: the nearest level that sets a key wins, with provenance ----

/** One level of a resolution: the level, the entity there, and the configuration row found there (null: none). */
export interface InheritanceLayer<L extends string, R> {
  level: L;
  /** The entity at this level (null where the caller does not know it). */
  entityId: string | null;
  /** The row's id (null: no row at this level). */
  rowId: string | null;
  row: R | null;
}

/** Where one key's value came from. */
export interface KeyProvenance<L extends string = ConfigLevel> {
  /** The level that set (or cleared) it; `default`: no level does, the system default applies. */
  level: L | 'default';
  /** The entity of that level (null for the default, or where unknown). */
  entityId: string | null;
  /** The row that set it (null for the default). */
  rowId: string | null;
  /**
   * The level set the key to "nothing" (e.g. no monthly limit): it holds no value there and hides
   * whatever a less specific level sets. Its value is null.
   */
  cleared: boolean;
}

/**
 * How a key reads one level's row: `undefined` when the row does not set it (inherit from the next
 * level), `null` when the row clears it, anything else is the value set there.
 */
export type KeyReader<R, V> = (row: R) => V | null | undefined;

export interface ResolvedKeys<S, L extends string> {
  /** Each key's value: the nearest level's, null where that level cleared it, else the default. */
  values: { [K in keyof S]: S[K] | null };
  provenance: { [K in keyof S]: KeyProvenance<L> };
}

/**
 * The rule, once for every kind of hierarchical configuration (policies, notification settings,
 * callback settings): for each key, walk the layers most specific first and take the first row
 * that sets or clears it; none does: the default. Layers without a row are passed over.
 */
export function resolveByKey<S extends object, R, L extends string>(
  layers: ReadonlyArray<InheritanceLayer<L, R>>,
  readers: { [K in keyof S]: KeyReader<R, S[K]> },
  defaults: S,
): ResolvedKeys<S, L> {
  const values = {} as { [K in keyof S]: S[K] | null };
  const provenance = {} as { [K in keyof S]: KeyProvenance<L> };
  for (const key of Object.keys(readers) as Array<keyof S>) {
    let found = false;
    for (const layer of layers) {
      if (layer.row === null) continue;
      const value = readers[key](layer.row);
      if (value === undefined) continue;
      values[key] = value;
      provenance[key] = { level: layer.level, entityId: layer.entityId, rowId: layer.rowId, cleared: value === null };
      found = true;
      break;
    }
    if (!found) {
      values[key] = defaults[key];
      provenance[key] = { level: 'default', entityId: null, rowId: null, cleared: false };
    }
  }
  return { values, provenance };
}
