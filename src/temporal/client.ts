import { Client, Connection } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import { productDataConverter } from './data-converter';

export interface TemporalClientHandle {
  connection: Connection;
  client: Client;
  namespace: string;
  close(): Promise<void>;
}

/**
 * A Temporal client for the API and scripts (the worker uses a NativeConnection). With
 * `payloadCodec` (every process that starts, signals or reads workflows) payloads are encrypted
 * and decrypted as the worker does (src/temporal/data-converter.ts); without one (a deployment
 * check that only describes the namespace) the client cannot read encrypted payloads.
 */
export async function connectTemporalClient(
  address: string,
  namespace: string,
  connectTimeout = '10s',
  payloadCodec?: PayloadCodec,
): Promise<TemporalClientHandle> {
  const connection = await Connection.connect({ address, connectTimeout });
  const client = new Client({ connection, namespace, ...(payloadCodec ? { dataConverter: productDataConverter(payloadCodec) } : {}) });
  return { connection, client, namespace, close: () => connection.close() };
}
