import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const ROOT = path.resolve(__dirname, '..', '..');
const run = promisify(execFile);

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

/** Runs dependency-cruiser with the project's rules (.dependency-cruiser.cjs) over `dirs` of `cwd`. */
async function violations(cwd: string, dirs: string[]): Promise<Violation[]> {
  const bin = path.join(ROOT, 'node_modules', '.bin', 'depcruise');
  const args = [...dirs, '--config', path.join(ROOT, '.dependency-cruiser.cjs'), '--output-type', 'json'];
  const { stdout } = await run(bin, args, { cwd, maxBuffer: 64 * 1024 * 1024 }).catch((error) => error as { stdout: string });
  return (JSON.parse(stdout).summary.violations as Violation[]).map(({ rule, from, to }) => ({ rule: { name: rule.name }, from, to }));
}

/**
 * The layering is a rule the suite enforces, not a convention: no import cycle anywhere, workflow
 * code deterministic (only @temporalio/workflow and pure modules), routes without SQL or
 * transactions, src/ never reaching into workflows/ or activities/ but for the process wiring.
 */
describe('architecture', () => {
  it('the code base has no import cycle and keeps its layers', async () => {
    expect(await violations(ROOT, ['src', 'workflows', 'activities'])).toEqual([]);
  }, 60_000);

  it('the rules catch a workflow that imports I/O, a cycle, and a route with SQL', async () => {
    // A small tree shaped like the project, with one violation of each kind.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ao-arch-'));
    try {
      const write = (file: string, text: string) => {
        fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
        fs.writeFileSync(path.join(dir, file), text);
      };
      fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
      fs.copyFileSync(path.join(ROOT, 'tsconfig.json'), path.join(dir, 'tsconfig.json'));
      write('workflows/bad.ts', `import { Pool } from 'pg';\nimport { x } from '../src/shop/rules';\nexport const p = [Pool, x];\n`);
      write('src/shop/rules.ts', `import { y } from './store';\nexport const x = y;\n`);
      write('src/shop/store.ts', `import { x } from './rules';\nexport const y = 1;\nexport const z = x;\n`);
      write('src/shop/routes.ts', `import { y } from './store';\nexport const r = y;\n`);
      const found = await violations(dir, ['src', 'workflows']);
      const rules = new Set(found.map((v) => v.rule.name));
      expect(rules).toEqual(new Set(['workflows-are-deterministic', 'no-circular', 'pure-modules-stay-pure', 'routes-stay-thin']));
      expect(found).toContainEqual({
        rule: { name: 'workflows-are-deterministic' },
        from: 'workflows/bad.ts',
        to: 'node_modules/pg/lib/index.js',
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('the rules keep the console’s browser code and the server apart', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ao-arch-'));
    try {
      const write = (file: string, text: string) => {
        fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
        fs.writeFileSync(path.join(dir, file), text);
      };
      fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
      fs.copyFileSync(path.join(ROOT, 'tsconfig.json'), path.join(dir, 'tsconfig.json'));
      write('src/api/roles.ts', `export const ROLES = ['agent'];\n`);
      write('src/console/web/src/page.tsx', `import { ROLES } from '../../../api/roles';\nexport const Page = () => <p>{ROLES[0]}</p>;\n`);
      write('src/console/web/src/ok.tsx', `import { Page } from './page';\nexport const Ok = () => <Page />;\n`);
      write('src/console/router.ts', `import { Ok } from './web/src/ok';\nexport const r = Ok;\n`);
      const found = await violations(dir, ['src']);
      expect(found.map((v) => [v.rule.name, v.from, v.to]).sort()).toEqual(
        [
          ['console-web-imports-no-server-code', 'src/console/web/src/page.tsx', 'src/api/roles.ts'],
          ['server-code-does-not-import-the-console-web', 'src/console/router.ts', 'src/console/web/src/ok.tsx'],
        ].sort(),
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
