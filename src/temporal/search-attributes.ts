import { SearchAttributeType } from '@temporalio/common';
import type { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { ALL_SEARCH_ATTRIBUTES } from './search-attribute-keys';

export * from './search-attribute-keys';

/** The server's indexed value type of each SDK search attribute type. */
export const INDEXED_TYPE: Record<string, temporal.api.enums.v1.IndexedValueType> = {
  [SearchAttributeType.KEYWORD]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  [SearchAttributeType.TEXT]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  [SearchAttributeType.INT]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT,
  [SearchAttributeType.DOUBLE]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  [SearchAttributeType.BOOL]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  [SearchAttributeType.DATETIME]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  [SearchAttributeType.KEYWORD_LIST]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

/** The server's default `system.namespaceCacheRefreshInterval`. */
const NAMESPACE_REFRESH_MS = 2_000;

/** Names of the product's search attributes that the namespace does not have yet. */
export async function missingSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  const present = new Set(Object.keys(customAttributes ?? {}));
  return ALL_SEARCH_ATTRIBUTES.map((k) => k.name).filter((name) => !present.has(name));
}

/**
 * Registers the product's search attributes on the namespace. Idempotent: attributes that
 * already exist are left alone, so every process can call it at start-up.
 * On a server with SQL visibility (PostgreSQL) an added attribute is an alias in the namespace's
 * record, which each service (frontend, history) picks up at its next namespace refresh
 * (`system.namespaceCacheRefreshInterval`, 2 s): measured here, the frontend accepts them 0.4-1 s
 * after the call. So when it added any, it returns once the frontend accepts a query naming each
 * added attribute and one more refresh interval has passed for the history service (within
 * `usableWithinMs`, default 60 s), so that the first workflow that upserts them is not refused.
 */
export async function registerSearchAttributes(
  connection: Connection,
  namespace: string,
  options: { usableWithinMs?: number } = {},
): Promise<string[]> {
  let missing: Set<string>;
  let listed = true;
  try {
    missing = new Set(await missingSearchAttributes(connection, namespace));
  } catch (error) {
    // The Java time-skipping test server implements AddSearchAttributes but not ListSearchAttributes:
    // add every attribute there (it accepts re-adding), instead of silently registering none.
    if (!/UNIMPLEMENTED/.test(String((error as Error).message))) throw error;
    missing = new Set(ALL_SEARCH_ATTRIBUTES.map((k) => k.name));
    listed = false;
  }
  if (missing.size === 0) return [];
  const searchAttributes = Object.fromEntries(
    ALL_SEARCH_ATTRIBUTES.filter((k) => missing.has(k.name)).map((k) => [k.name, INDEXED_TYPE[k.type]]),
  );
  try {
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes });
  } catch (error) {
    // Another process registered them between our read and our write.
    if (!/already exists/i.test(String((error as Error).message))) throw error;
  }
  if (listed) {
    await untilQueryable(connection, namespace, [...missing], options.usableWithinMs ?? 60_000);
    await new Promise((resolve) => setTimeout(resolve, NAMESPACE_REFRESH_MS));
  }
  return [...missing];
}

/**
 * Waits until the frontend accepts a visibility query naming each attribute (an unknown one is
 * INVALID_ARGUMENT), i.e. until the namespace's refreshed copy carries them.
 */
async function untilQueryable(connection: Connection, namespace: string, names: string[], withinMs: number): Promise<void> {
  const query = names.map((name) => `${name} IS NULL`).join(' AND ');
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      await connection.workflowService.countWorkflowExecutions({ namespace, query });
      return;
    } catch (error) {
      if (Date.now() > deadline)
        throw new Error(`search attributes ${names.join(', ')} not usable after ${withinMs} ms: ${(error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}
