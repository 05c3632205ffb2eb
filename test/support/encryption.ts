import { Client, type Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { productDataConverter } from '../../src/temporal/data-converter';
import { EncryptionCodec, parsePayloadKeys } from '../../src/temporal/payload-codec';

/**
 * The suite runs with payload encryption on, like production: every test client and worker
 * encrypts with this key, and every worker process the tests start inherits it (global setup puts
 * it in PAYLOAD_KEYS). It is fixed, not random, so that histories recorded by the tests
 * (test/workflows/histories) replay in later runs. Test data only: never a real deployment's key.
 */
export const TEST_PAYLOAD_KEYS = 'test-2026a:74cOPp4o4jlynnhFTWGpd3T4mKOorkKc38DXL/zS6bk=';

/** A second key, for rotation tests: with it appended, new payloads use it and old ones still decode. */
export const ROTATED_PAYLOAD_KEY = 'test-2026b:PFTGFBYtLuJNVKQVMosrsgyM6WLdb7DadYDk2M2cEwI=';

/**
 * The keys that seal the integrations' secrets in the suite's database (SECRET_KEYS): every test
 * API and every process the tests start uses them, so a secret one sealed another opens. Test data only.
 */
export const TEST_SECRET_KEYS = 'test-secrets-2026a:38kpKpWLAlp8qT1aQAMkNbHsSAeeDPlyBdylDIJ5nc8=';
/** A second one, for rotation tests. */
export const ROTATED_SECRET_KEY = 'test-secrets-2026b:muyi/YKt+ve+vumglGAXmDz6XqxQLKYQAfMz16eRCeU=';

/** The codec of the suite's key(s) (PAYLOAD_KEYS as global setup left it). */
export const testPayloadCodec = (keys: string = process.env.PAYLOAD_KEYS ?? TEST_PAYLOAD_KEYS) =>
  new EncryptionCodec(parsePayloadKeys(keys));

/** The product's data converter with the suite's keys (clients, workers, replay). */
export const testDataConverter = (keys?: string): DataConverter => productDataConverter(testPayloadCodec(keys));

/** A client that encrypts and decrypts like the product's. */
export const testClient = (connection: Connection, namespace = process.env.TEST_TEMPORAL_NAMESPACE ?? 'default') =>
  new Client({ connection, namespace, dataConverter: testDataConverter() });
