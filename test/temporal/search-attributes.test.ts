import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { SearchAttributeType, type SearchAttributePair } from '@temporalio/common';
import { ALL_SEARCH_ATTRIBUTES, SEARCH_ATTRIBUTE_SLOTS } from '../../src/temporal/search-attribute-keys';
import { INDEXED_TYPE, missingSearchAttributes, registerSearchAttributes } from '../../src/temporal/search-attributes';

/** The visibility columns of each type (schema postgresql/v12/visibility: Keyword01..Keyword10, Bool01..Bool03, ...). */
const COLUMN: Record<string, RegExp> = {
  [SearchAttributeType.KEYWORD]: /^Keyword\d\d$/,
  [SearchAttributeType.BOOL]: /^Bool\d\d$/,
  [SearchAttributeType.DATETIME]: /^Datetime\d\d$/,
  [SearchAttributeType.DOUBLE]: /^Double\d\d$/,
  [SearchAttributeType.INT]: /^Int\d\d$/,
  [SearchAttributeType.TEXT]: /^Text\d\d$/,
  [SearchAttributeType.KEYWORD_LIST]: /^KeywordList\d\d$/,
};

/** A value of the attribute's type. */
const SAMPLE: Record<string, unknown> = {
  [SearchAttributeType.KEYWORD]: 'k',
  [SearchAttributeType.BOOL]: true,
  [SearchAttributeType.DATETIME]: new Date('2030-01-01T00:00:00Z'),
  [SearchAttributeType.DOUBLE]: 1.5,
  [SearchAttributeType.INT]: 1,
  [SearchAttributeType.TEXT]: 't',
  [SearchAttributeType.KEYWORD_LIST]: ['k'],
};

/**
 * The product's search attributes fit the fixed slots of Temporal's SQL visibility: on PostgreSQL
 * (the production topology) each custom attribute is a namespace alias of one preallocated column,
 * and the server refuses more than there are columns of a type. The counted slots are checked
 * against the suite's server itself (the CLI dev server's SQLite visibility has the same columns;
 * `TEMPORAL_PERSISTENCE=postgres` runs this on the Temporal server on PostgreSQL).
 */
describe('search attributes', () => {
  const namespace = process.env.TEST_TEMPORAL_NAMESPACE ?? 'default';
  let connection: Connection;
  beforeAll(async () => {
    connection = await Connection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
  });
  afterAll(async () => {
    await connection?.close();
  });

  it('fit the per-type slots of PostgreSQL visibility', () => {
    const used: Record<string, number> = {};
    for (const key of ALL_SEARCH_ATTRIBUTES) used[key.type] = (used[key.type] ?? 0) + 1;
    for (const [type, count] of Object.entries(used)) {
      expect([type, count <= (SEARCH_ATTRIBUTE_SLOTS[type as keyof typeof SEARCH_ATTRIBUTE_SLOTS] ?? 0)]).toEqual([type, true]);
    }
    expect(new Set(ALL_SEARCH_ATTRIBUTES.map((k) => k.name)).size).toBe(ALL_SEARCH_ATTRIBUTES.length);
  });

  it('are all registered on the suite server', async () => {
    expect(await missingSearchAttributes(connection, namespace)).toEqual([]);
  });

  it('each took a visibility column of its own type in the namespace', async () => {
    const { config } = await connection.workflowService.describeNamespace({ namespace });
    const columnOf = new Map(Object.entries(config?.customSearchAttributeAliases ?? {}).map(([column, alias]) => [alias, column]));
    expect(ALL_SEARCH_ATTRIBUTES.map((k) => [k.name, COLUMN[k.type].test(columnOf.get(k.name) ?? '')])).toEqual(
      ALL_SEARCH_ATTRIBUTES.map((k) => [k.name, true]),
    );
  });

  it('the server has exactly the slots counted above: in a fresh namespace it takes that many of each type and refuses one more', async () => {
    const probe = `search-attribute-slots-${randomUUID()}`;
    await connection.workflowService.registerNamespace({ namespace: probe, workflowExecutionRetentionPeriod: msToTs('1 day') });
    for (const [type, slots] of Object.entries(SEARCH_ATTRIBUTE_SLOTS)) {
      const add = (names: string[]) =>
        connection.operatorService.addSearchAttributes({
          namespace: probe,
          searchAttributes: Object.fromEntries(names.map((name) => [name, INDEXED_TYPE[type]])),
        });
      const names = Array.from({ length: slots + 1 }, (_, i) => `Probe${type.replace(/_/g, '')}${i}`);
      await add(names.slice(0, slots));
      await expect(add(names.slice(slots))).rejects.toThrow(`cannot have more than ${slots} search attribute of type`);
    }
  });

  it('can be used as soon as registerSearchAttributes returns (SQL visibility: once the namespace refresh carries them)', async () => {
    const probe = `search-attribute-use-${randomUUID()}`;
    await connection.workflowService.registerNamespace({ namespace: probe, workflowExecutionRetentionPeriod: msToTs('1 day') });
    expect((await registerSearchAttributes(connection, probe)).sort()).toEqual(ALL_SEARCH_ATTRIBUTES.map((k) => k.name).sort());

    const client = new Client({ connection, namespace: probe });
    const typedSearchAttributes = ALL_SEARCH_ATTRIBUTES.map((key) => ({ key, value: SAMPLE[key.type] }) as SearchAttributePair);
    // Nothing polls this task queue: the run only has to be accepted with every attribute set.
    const handle = await client.workflow.start('searchAttributeProbe', {
      taskQueue: `unpolled-${randomUUID()}`,
      workflowId: probe,
      typedSearchAttributes,
    });
    const query = ALL_SEARCH_ATTRIBUTES.map((k) => `${k.name} IS NOT NULL`).join(' AND ');
    expect(typeof (await client.workflow.count(query)).count).toBe('number');
    await handle.terminate('probe done');
  });
});
