import { resolveByKey, type InheritanceLayer, type KeyReader } from '../../src/directory/hierarchy';
import { resolveCallbackSettings, DEFAULT_CALLBACK_SETTINGS } from '../../src/callbacks/rules';

/**
 * The one inheritance rule (src/directory/hierarchy.ts) that policies, notification settings and
 * callback settings all resolve by: each key from the nearest level that sets it, with the level,
 * entity and row it came from; null is a clear, absent inherits. Pure: no servers.
 */
describe('the inheritance rule (pure)', () => {
  type Row = Record<string, number | null | undefined>;
  type S = { a: number; b: number; c: number; d: number };
  const read =
    (key: keyof S): KeyReader<Row, number> =>
    (row) =>
      row[key];
  const readers = { a: read('a'), b: read('b'), c: read('c'), d: read('d') };
  const defaults: S = { a: 1, b: 2, c: 3, d: 4 };
  const layer = (level: string, row: Row | null): InheritanceLayer<string, Row> => ({
    level,
    entityId: `${level}-entity`,
    rowId: row ? `${level}-row` : null,
    row,
  });

  it('each key comes from the nearest level that sets it, naming the level, entity and row', () => {
    const r = resolveByKey(
      [layer('staff', { a: 10 }), layer('service', null), layer('branch', { a: 30, b: 20 }), layer('company', { c: 40, b: 50 })],
      readers,
      defaults,
    );
    expect(r.values).toEqual({ a: 10, b: 20, c: 40, d: 4 });
    expect(r.provenance).toEqual({
      a: { level: 'staff', entityId: 'staff-entity', rowId: 'staff-row', cleared: false },
      b: { level: 'branch', entityId: 'branch-entity', rowId: 'branch-row', cleared: false },
      c: { level: 'company', entityId: 'company-entity', rowId: 'company-row', cleared: false },
      d: { level: 'default', entityId: null, rowId: null, cleared: false },
    });
  });

  it('null clears a key at its level: the value is null there, whatever less specific levels set', () => {
    const r = resolveByKey([layer('staff', { a: null }), layer('company', { a: 5, b: 6 })], readers, defaults);
    expect(r.values).toMatchObject({ a: null, b: 6 });
    expect(r.provenance.a).toEqual({ level: 'staff', entityId: 'staff-entity', rowId: 'staff-row', cleared: true });
  });

  it('no layer at all: every key is the default', () => {
    const r = resolveByKey<S, Row, string>([], readers, defaults);
    expect(r.values).toEqual(defaults);
    expect(Object.values(r.provenance).every((p) => p.level === 'default')).toBe(true);
  });

  it('callback settings resolve by the same rule: branch > company > defaults, each with its row', () => {
    const r = resolveCallbackSettings({ id: 'b-row', slaUrgentSeconds: 300 }, { id: 'c-row', slaUrgentSeconds: 600, cooldownSeconds: 60 });
    expect(r.settings).toEqual({
      ...DEFAULT_CALLBACK_SETTINGS,
      sla: { ...DEFAULT_CALLBACK_SETTINGS.sla, urgent: 300 },
      cooldownSeconds: 60,
    });
    expect(r.provenance).toMatchObject({ 'sla.urgent': 'branch', cooldownSeconds: 'company', 'sla.high': 'default' });
    expect(r.sources).toMatchObject({
      'sla.urgent': { level: 'branch', settingsId: 'b-row' },
      cooldownSeconds: { level: 'company', settingsId: 'c-row' },
      warningPercent: { level: 'default', settingsId: null },
    });
  });
});
