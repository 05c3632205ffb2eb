import { SearchAttributeType } from '@temporalio/common';
import type { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { ALL_SEARCH_ATTRIBUTES } from './search-attribute-keys';

export * from './search-attribute-keys';

const INDEXED_TYPE: Record<string, temporal.api.enums.v1.IndexedValueType> = {
  [SearchAttributeType.KEYWORD]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  [SearchAttributeType.TEXT]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  [SearchAttributeType.INT]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT,
  [SearchAttributeType.DOUBLE]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  [SearchAttributeType.BOOL]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  [SearchAttributeType.DATETIME]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
};

/** Names of the product's search attributes that the namespace does not have yet. */
export async function missingSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  const present = new Set(Object.keys(customAttributes ?? {}));
  return ALL_SEARCH_ATTRIBUTES.map((k) => k.name).filter((name) => !present.has(name));
}

/**
 * Registers the product's search attributes on the namespace. Idempotent: attributes that
 * already exist are left alone, so every process can call it at start-up.
 */
export async function registerSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  let missing: Set<string>;
  try {
    missing = new Set(await missingSearchAttributes(connection, namespace));
  } catch (error) {
    // The Java time-skipping test server implements AddSearchAttributes but not ListSearchAttributes:
    // add every attribute there (it accepts re-adding), instead of silently registering none.
    if (!/UNIMPLEMENTED/.test(String((error as Error).message))) throw error;
    missing = new Set(ALL_SEARCH_ATTRIBUTES.map((k) => k.name));
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
  return [...missing];
}
