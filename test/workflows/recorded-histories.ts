import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';

/** Event histories recorded from real runs, committed so that later workflow code must replay them. */
export const HISTORIES_DIR = path.join(__dirname, 'histories');

const { History } = temporal.api.history.v1;
type History = temporal.api.history.v1.IHistory;

/**
 * Adds these histories as `<kind>-<label>-<date>-<hash>.json` (protobuf JSON: longs as strings,
 * bytes as base64). Never deletes or replaces a recording: runs of older code may still be open in
 * production, so every shape the workflow ever recorded must keep replaying.
 */
export function saveHistories(kind: string, histories: Array<{ label: string; history: History }>): string[] {
  fs.mkdirSync(HISTORIES_DIR, { recursive: true });
  const date = new Date().toISOString().slice(0, 10).replace(/-/g, '');
  const written: string[] = [];
  for (const { label, history } of histories) {
    const object = History.toObject(History.fromObject(history), { longs: String, enums: String, bytes: String });
    const json = JSON.stringify(object) + '\n';
    const slug = label
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '')
      .slice(0, 60);
    const file = `${kind}-${slug}-${date}-${createHash('sha256').update(json).digest('hex').slice(0, 8)}.json`;
    if (fs.existsSync(path.join(HISTORIES_DIR, file))) continue;
    fs.writeFileSync(path.join(HISTORIES_DIR, file), json);
    written.push(file);
  }
  return written;
}

export function loadHistories(): Array<{ workflowId: string; history: History }> {
  return fs
    .readdirSync(HISTORIES_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({
      workflowId: file.replace(/\.json$/, ''),
      history: History.fromObject(JSON.parse(fs.readFileSync(path.join(HISTORIES_DIR, file), 'utf8'))),
    }));
}
