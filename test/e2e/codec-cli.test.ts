import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { NativeConnection } from '@temporalio/worker';
import { devServerExecutable } from '../../src/temporal/binaries';
import { startTestApi, type TestApi } from '../support/api';
import { testPayloadCodec } from '../support/encryption';
import { until } from '../support/until';
import { startChannelServers, startTestWorker, testChannels, type ChannelServers, type TestWorker } from '../support/workers';

const NAMESPACE = process.env.TEST_TEMPORAL_NAMESPACE ?? 'default';
const TOKEN = 'cli-codec-token-0123456789abcdef';
const { History: HistoryMessage } = temporal.api.history.v1;

/**
 * The operator commands of docs/callbacks.md and docs/privacy.md, run with the real `temporal` CLI against the dev server and the
 * API's codec server: a query (the CLI encodes its empty argument list as `{}`), a signal without
 * arguments, and a signal whose input must land in the history encrypted, not in clear.
 */
describe('the temporal CLI through the codec server', () => {
  let api: TestApi;
  let servers: ChannelServers;
  let native: NativeConnection;
  let raw: Connection;
  let worker: TestWorker;
  let home: string;

  beforeAll(async () => {
    api = await startTestApi({
      codecServer: { codec: testPayloadCodec(), token: TOKEN, namespace: NAMESPACE, allowedOrigins: [] },
    });
    servers = await startChannelServers();
    native = await NativeConnection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    raw = await Connection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    worker = await startTestWorker({
      connection: native,
      client: api.temporal,
      pool: api.pool,
      taskQueue: api.taskQueue,
      channels: testChannels(servers),
    });
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'temporal-cli-'));
  });
  afterAll(async () => {
    await worker?.stop();
    await native?.close();
    await raw?.close();
    await servers?.close();
    await api?.close();
    fs.rmSync(home, { recursive: true, force: true });
  });

  /** `temporal workflow <args>` with the codec flags the documents give, and nothing from this machine's CLI config. */
  const cli = (args: string[]) => {
    const executable = devServerExecutable();
    if (executable.type !== 'existing-path') throw new Error('the temporal CLI is not installed (npm run temporal:install)');
    const full = [
      'workflow',
      ...args,
      '--address',
      process.env.TEST_TEMPORAL_ADDRESS!,
      '--namespace',
      NAMESPACE,
      '--codec-endpoint',
      `${api.url}/codec`,
      '--codec-auth',
      `Bearer ${TOKEN}`,
      '--output',
      'json',
    ];
    return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        executable.path,
        full,
        { env: { PATH: process.env.PATH, HOME: home, TEMPORAL_CONFIG_FILE: path.join(home, 'none.toml') }, timeout: 30_000 },
        (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  };

  it('queries a callback, signals it without arguments and completes it with a note that never lands in clear', async () => {
    const company = await api.company();
    const branch = (await api.request('POST', '/v1/branches', { key: company.admin, body: { name: 'Centro' } })).body;
    const customer = (
      await api.request('POST', '/v1/customers', {
        key: company.admin,
        body: { name: 'Carla Reyes', phone: '+34 600 123 456', timeZone: 'Europe/Madrid' },
      })
    ).body;
    const created = await api.request('POST', '/v1/callbacks', {
      key: company.agent,
      body: { branchId: branch.id, customerId: customer.id, priority: 'normal' },
    });
    expect(created.status).toBe(201);
    const workflowId = `callback-${created.body.callback.id}`;

    // The query: the CLI sends its (empty) arguments through /codec/encode, then the answer through /codec/decode.
    const query = await cli(['query', '--workflow-id', workflowId, '--type', 'callbackState']);
    expect({ code: query.code, stderr: query.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(query.stdout)).toMatchObject({ queryResult: [expect.objectContaining({ status: 'pending' })] });

    // A signal without arguments (a staff member became available).
    const nudge = await cli(['signal', '--workflow-id', workflowId, '--name', 'staffAvailable']);
    expect({ code: nudge.code, stderr: nudge.stderr }).toEqual({ code: 0, stderr: '' });

    // docs/callbacks.md's completion by signal: the note is encrypted by the codec before it reaches Temporal.
    const note = 'closed from the CLI by Oskar';
    const complete = await cli([
      'signal',
      '--workflow-id',
      workflowId,
      '--name',
      'completeSignal',
      '--input',
      JSON.stringify({ notes: note }),
    ]);
    expect({ code: complete.code, stderr: complete.stderr }).toEqual({ code: 0, stderr: '' });
    expect(await api.temporal.workflow.getHandle(workflowId).result()).toMatchObject({ status: 'completed' });

    const history = await new Client({ connection: raw, namespace: NAMESPACE }).workflow.getHandle(workflowId).fetchHistory();
    const signals = (history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes);
    expect(signals.map((e) => e.workflowExecutionSignaledEventAttributes!.signalName)).toEqual(['staffAvailable', 'completeSignal']);
    const stored = Buffer.from(HistoryMessage.encode(history).finish());
    expect(stored.includes(note)).toBe(false);
    const completeInput = signals[1].workflowExecutionSignaledEventAttributes!.input!.payloads![0];
    expect(Buffer.from(completeInput.metadata!.encoding!).toString()).toBe('binary/encrypted');
    await until('the row completed with the note', async () => {
      // The outcome's notes, kept beside the request's own.
      const { rows } = await api.pool.query(`SELECT status, outcome_notes FROM callback_requests WHERE id = $1`, [
        created.body.callback.id,
      ]);
      return rows[0]?.status === 'completed' && String(rows[0].outcome_notes).includes(note);
    });
  });
});
