/**
 * The organisation hierarchy through which settings are inherited (docs/design.md, Organisation hierarchy): staff > service >
 * branch > company > system defaults. A staff member's parent is their branch unless the question
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
