import fs from 'node:fs';
import path from 'node:path';
import { runner, type RunnerOption } from 'node-pg-migrate';

export const MIGRATIONS_DIR = path.resolve(__dirname, '..', '..', 'migrations');
export const MIGRATIONS_TABLE = 'pgmigrations';

export type MigrationDirection = 'up' | 'down';

export interface MigrateOptions {
  databaseUrl: string;
  direction?: MigrationDirection;
  /** How many migrations to run; `Infinity` for all (the default). */
  count?: number;
  log?: (message: string) => void;
}

/** Runs the ordered, reversible node-pg-migrate migrations under `migrations/`. */
export async function migrate({ databaseUrl, direction = 'up', count = Infinity, log }: MigrateOptions) {
  const options: RunnerOption = {
    databaseUrl,
    dir: MIGRATIONS_DIR,
    migrationsTable: MIGRATIONS_TABLE,
    direction,
    count,
    singleTransaction: true,
    checkOrder: true,
    log: log ?? (() => undefined),
    verbose: false,
  };
  return runner(options);
}

/** The migration files in order, by name (what a fully migrated database has applied). */
export function expectedMigrationNames(): string[] {
  return fs
    .readdirSync(MIGRATIONS_DIR)
    .filter((f) => f.endsWith('.js'))
    .sort()
    .map((f) => f.replace(/\.js$/, ''));
}
