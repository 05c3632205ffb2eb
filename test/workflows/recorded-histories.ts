import fs from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';

/** Event histories recorded from real runs, committed so that later workflow code must replay them. */
export const HISTORIES_DIR = path.join(__dirname, 'histories');

const { History } = temporal.api.history.v1;
type History = temporal.api.history.v1.IHistory;

/** Replaces the recorded histories named `<kind>-NN.json` with these (protobuf JSON: longs as strings, bytes as base64). */
export function saveHistories(kind: string, histories: Array<{ history: History }>): void {
  fs.mkdirSync(HISTORIES_DIR, { recursive: true });
  for (const file of fs.readdirSync(HISTORIES_DIR)) if (file.startsWith(`${kind}-`)) fs.rmSync(path.join(HISTORIES_DIR, file));
  histories.forEach(({ history }, i) => {
    const object = History.toObject(History.fromObject(history), { longs: String, enums: String, bytes: String });
    fs.writeFileSync(path.join(HISTORIES_DIR, `${kind}-${String(i + 1).padStart(2, '0')}.json`), JSON.stringify(object) + '\n');
  });
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
