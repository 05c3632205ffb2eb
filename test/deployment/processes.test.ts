import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { freePort } from '../../src/dev/free-port';

const ROOT = path.resolve(__dirname, '..', '..');

interface Exited {
  code: number | null;
  logs: Array<{ msg?: string; level?: number }>;
}

/** Starts a production role (`worker` or `api`) as its own process, waits for `readyMsg`, sends SIGTERM. */
async function runUntilSigterm(
  role: 'worker' | 'api',
  readyMsg: string,
  env: Record<string, string>,
  whenReady: () => Promise<void> = async () => undefined,
): Promise<Exited> {
  const child = spawn(process.execPath, ['-r', '@swc-node/register', 'src/main.ts', role], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: process.env.TEST_DATABASE_URL!,
      TEMPORAL_ADDRESS: process.env.TEST_TEMPORAL_ADDRESS!,
      TEMPORAL_TASK_QUEUE: `proc-${randomUUID()}`,
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Exited['logs'] = [];
  let buffer = '';
  let signalled = false;
  child.stdout!.on('data', (chunk) => {
    buffer += chunk;
    const lines = buffer.split('\n');
    buffer = lines.pop()!;
    for (const line of lines) {
      try {
        const entry = JSON.parse(line);
        logs.push(entry);
        if (!signalled && entry.msg === readyMsg) {
          signalled = true;
          void whenReady().finally(() => child.kill('SIGTERM'));
        }
      } catch {
        /* not a log line */
      }
    }
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, logs };
}

describe('process roles shut down gracefully on SIGTERM', () => {
  it('the worker serves its SDK metrics, drains and exits 0', async () => {
    const metricsPort = await freePort();
    let metrics = '';
    const { code, logs } = await runUntilSigterm(
      'worker',
      'worker running',
      { WORKER_METRICS_BIND_ADDRESS: `127.0.0.1:${metricsPort}` },
      async () => {
        metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      },
    );
    expect(metrics).toMatch(/temporal_/);
    const messages = logs.map((l) => l.msg);
    expect(messages).toEqual(expect.arrayContaining(['worker running', 'shutting down', 'stopped']));
    expect(messages.indexOf('stopped')).toBeGreaterThan(messages.indexOf('shutting down'));
    expect(code).toBe(0);
  });

  it('the API closes its listener and exits 0', async () => {
    const { code, logs } = await runUntilSigterm('api', 'API listening', { PORT: String(await freePort()) });
    expect(logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['API listening', 'shutting down', 'stopped']));
    expect(code).toBe(0);
  });
});
