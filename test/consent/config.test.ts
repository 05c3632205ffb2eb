import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, unsubscribeLinksOf } from '../../src/config';

describe('unsubscribe link settings', () => {
  it('production refuses to start without UNSUBSCRIBE_SECRET, naming it; a short one is refused anywhere', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/UNSUBSCRIBE_SECRET: required in production/);
    expect(() => loadConfig({ UNSUBSCRIBE_SECRET: 'short' })).toThrow(/UNSUBSCRIBE_SECRET: must be at least 32 characters/);
    expect(() => loadConfig({ PUBLIC_BASE_URL: 'ftp://example.com' })).toThrow(/PUBLIC_BASE_URL/);
    const secret = 'x'.repeat(32);
    expect(
      unsubscribeLinksOf(loadConfig({ NODE_ENV: 'production', UNSUBSCRIBE_SECRET: secret, PUBLIC_BASE_URL: 'https://api.example.com' })),
    ).toEqual({
      secret,
      baseUrl: 'https://api.example.com',
      ttlDays: 365,
    });
  });

  it('elsewhere, one secret is generated under DATA_DIR and kept: every process and restart signs alike', () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'unsub-'));
    try {
      const first = unsubscribeLinksOf(loadConfig({ DATA_DIR: dataDir, HOST: '0.0.0.0', PORT: '3100' }));
      const second = unsubscribeLinksOf(loadConfig({ DATA_DIR: dataDir }));
      expect(first.secret).toHaveLength(43);
      expect(second.secret).toBe(first.secret);
      expect(first.baseUrl).toBe('http://127.0.0.1:3100');
      expect(fs.statSync(path.join(dataDir, 'unsubscribe-secret')).mode & 0o777).toBe(0o600);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
