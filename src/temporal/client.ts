import { Client, Connection } from '@temporalio/client';

export interface TemporalClientHandle {
  connection: Connection;
  client: Client;
  namespace: string;
  close(): Promise<void>;
}

/** A Temporal client for the API and scripts (the worker uses a NativeConnection). */
export async function connectTemporalClient(address: string, namespace: string, connectTimeout = '10s'): Promise<TemporalClientHandle> {
  const connection = await Connection.connect({ address, connectTimeout });
  const client = new Client({ connection, namespace });
  return { connection, client, namespace, close: () => connection.close() };
}
