import { Connection } from '@temporalio/client';
import { ALL_SEARCH_ATTRIBUTES, SEARCH_ATTRIBUTE_SLOTS } from '../../src/temporal/search-attribute-keys';
import { missingSearchAttributes } from '../../src/temporal/search-attributes';

/**
 * The product's search attributes fit the fixed slots of Temporal's PostgreSQL visibility (the
 * production topology); the CLI dev server has no such limit, so a design that works in tests could
 * fail to register in production without this count.
 */
describe('search attributes', () => {
  it('fit the per-type slots of PostgreSQL visibility', () => {
    const used: Record<string, number> = {};
    for (const key of ALL_SEARCH_ATTRIBUTES) used[key.type] = (used[key.type] ?? 0) + 1;
    for (const [type, count] of Object.entries(used)) {
      expect([type, count <= (SEARCH_ATTRIBUTE_SLOTS[type as keyof typeof SEARCH_ATTRIBUTE_SLOTS] ?? 0)]).toEqual([type, true]);
    }
    expect(new Set(ALL_SEARCH_ATTRIBUTES.map((k) => k.name)).size).toBe(ALL_SEARCH_ATTRIBUTES.length);
  });

  it('are all registered on the suite server', async () => {
    const connection = await Connection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    try {
      expect(await missingSearchAttributes(connection, process.env.TEST_TEMPORAL_NAMESPACE ?? 'default')).toEqual([]);
    } finally {
      await connection.close();
    }
  });
});
