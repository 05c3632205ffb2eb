import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

/** A PostgreSQL server of the test's own that it can stop and start again (same data, same port). */
export class RestartablePostgres {
  private child?: ChildProcess;
  url = '';

  constructor(
    private readonly dataDir: string,
    private readonly port: number,
    private readonly database: string,
  ) {}

  async start(): Promise<string> {
    const child = spawn(
      process.execPath,
      ['-r', '@swc-node/register', 'test/support/postgres-process.ts', this.dataDir, String(this.port), this.database],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.child = child;
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    this.url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d) => {
        out += d;
        const match = /READY (\S+)/.exec(out);
        if (match) resolve(match[1]);
      });
      child.once('exit', (code) => reject(new Error(`postgres process exited (${code}): ${stderr}`)));
    });
    return this.url;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }
}
