import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

const ROOT = path.resolve(__dirname, '..', '..');
/** Debian's chromium package (`.ci/run` installs it); CHROMIUM_PATH for another one. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export interface TestBrowser {
  context: BrowserContext;
  /** A new tab (its own sessionStorage) that records what the page reports: CSP violations, errors. */
  page(viewport?: { width: number; height: number }): Promise<TestPage>;
  close(): Promise<void>;
}

export interface TestPage {
  page: Page;
  /** Console messages about the content security policy ("Refused to …") and uncaught page errors. */
  problems: string[];
}

/**
 * A real headless Chromium driven by playwright-core (no browser download: the system's binary),
 * with a fresh profile directory that close() deletes.
 */
export async function launchBrowser(): Promise<TestBrowser> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ao-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  context.setDefaultTimeout(20_000);
  return {
    context,
    async page(viewport) {
      const page = await context.newPage();
      if (viewport) await page.setViewportSize(viewport);
      const problems: string[] = [];
      page.on('console', (m) => {
        if (/content security policy|refused to/i.test(m.text())) problems.push(m.text());
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      return { page, problems };
    },
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

const newest = (dir: string): number =>
  fs
    .readdirSync(dir, { withFileTypes: true })
    .reduce((max, e) => Math.max(max, e.isDirectory() ? newest(path.join(dir, e.name)) : fs.statSync(path.join(dir, e.name)).mtimeMs), 0);

/**
 * The console as `npm run build:console` builds it (npm test's pretest does): built here when
 * dist/console is missing or older than its source, so one test file can run on its own.
 */
export async function ensureConsoleBuilt(): Promise<void> {
  const index = path.join(ROOT, 'dist', 'console', 'index.html');
  const source = Math.max(newest(path.join(ROOT, 'src', 'console', 'web')), fs.statSync(path.join(ROOT, 'package-lock.json')).mtimeMs);
  if (fs.existsSync(index) && fs.statSync(index).mtimeMs >= source) return;
  const vite = path.join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js');
  await promisify(execFile)(process.execPath, [vite, 'build', '--config', 'src/console/web/vite.config.mjs', '--logLevel', 'warn'], {
    cwd: ROOT,
  });
}
