import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultPayloadConverter, METADATA_ENCODING_KEY, type Payload } from '@temporalio/common';
import { loadConfig } from '../../src/config';
import { ensureDevPayloadKeys } from '../../src/dev/payload-keys';
import {
  CIPHER_METADATA,
  ENCRYPTED_ENCODING,
  EncryptionCodec,
  KEY_ID_METADATA,
  parsePayloadKeys,
  PayloadCodecError,
  PayloadKeysError,
} from '../../src/temporal/payload-codec';
import { ROTATED_PAYLOAD_KEY, TEST_PAYLOAD_KEYS } from '../support/encryption';

const text = (b: Uint8Array | null | undefined) => Buffer.from(b ?? new Uint8Array()).toString('utf8');
const json = (value: unknown): Payload => defaultPayloadConverter.toPayload(value)!;
const SECRET = { name: 'Zofia Przybylska', email: 'zofia@example.test', phone: '+48600111222' };

/** The codec on its own (no servers): AES-256-GCM with Node's crypto, key ids, rotation, and the key list format. */
describe('EncryptionCodec', () => {
  const codec = new EncryptionCodec(parsePayloadKeys(TEST_PAYLOAD_KEYS));

  it('encrypts a payload, metadata included, and decrypts it back exactly', async () => {
    const original = json(SECRET);
    const [encrypted] = await codec.encode([original]);
    expect(text(encrypted.metadata![METADATA_ENCODING_KEY])).toBe(ENCRYPTED_ENCODING);
    expect(text(encrypted.metadata![KEY_ID_METADATA])).toBe('test-2026a');
    expect(text(encrypted.metadata![CIPHER_METADATA])).toBe('aes-256-gcm');
    // Nothing of the value, nor its original encoding, is left readable.
    const raw = Buffer.concat([...Object.values(encrypted.metadata!), encrypted.data!].map((b) => Buffer.from(b!)));
    for (const s of [SECRET.name, SECRET.email, SECRET.phone, 'json/plain']) expect(raw.includes(Buffer.from(s))).toBe(false);
    // IV (12) + ciphertext + tag (16)
    const plainLength = original.data!.length;
    expect(encrypted.data!.length).toBeGreaterThan(plainLength + 28);
    const [decoded] = await codec.decode([encrypted]);
    expect(text(decoded.metadata![METADATA_ENCODING_KEY])).toBe('json/plain');
    expect(defaultPayloadConverter.fromPayload(decoded)).toEqual(SECRET);
  });

  it('uses a fresh random IV for every payload: the same value never encrypts to the same bytes', async () => {
    const [a, b] = await codec.encode([json(SECRET), json(SECRET)]);
    expect(Buffer.from(a.data!).subarray(0, 12).equals(Buffer.from(b.data!).subarray(0, 12))).toBe(false);
    expect(Buffer.from(a.data!).equals(Buffer.from(b.data!))).toBe(false);
  });

  it('leaves a payload without encryption metadata as it is (histories from before encryption, signals sent by hand)', async () => {
    const plain = json({ note: 'sent with temporal workflow signal' });
    const [decoded] = await codec.decode([plain]);
    expect(decoded).toBe(plain);
  });

  it('refuses a payload whose ciphertext, tag or key id was altered (the GCM tag is checked)', async () => {
    const [encrypted] = await codec.encode([json(SECRET)]);
    for (const at of [0, 12, encrypted.data!.length - 1]) {
      const data = Buffer.from(encrypted.data!);
      data[at] ^= 0x01;
      await expect(codec.decode([{ ...encrypted, data }])).rejects.toThrow(/failed authentication/);
    }
    await expect(codec.decode([{ ...encrypted, data: Buffer.from(encrypted.data!).subarray(0, 20) }])).rejects.toThrow(/too short/);
  });

  it('names the key id it does not have, and the ones it has, when a payload needs another key', async () => {
    const rotated = new EncryptionCodec(parsePayloadKeys(`${TEST_PAYLOAD_KEYS},${ROTATED_PAYLOAD_KEY}`));
    const [fromNewKey] = await rotated.encode([json(SECRET)]);
    const error = await codec.decode([fromNewKey]).catch((e) => e);
    expect(error).toBeInstanceOf(PayloadCodecError);
    expect(error.message).toMatch(/key "test-2026b", which this process does not have \(it has: test-2026a\).*PAYLOAD_KEYS/);
    expect(error.message).not.toContain('PFTGFBYtLuJN');
  });

  it('rotation: new payloads use the newest key, payloads of every older key still decode', async () => {
    const [old] = await codec.encode([json(SECRET)]);
    const rotated = new EncryptionCodec(parsePayloadKeys(`${TEST_PAYLOAD_KEYS}\n${ROTATED_PAYLOAD_KEY}`));
    expect(rotated.keyIds).toEqual(['test-2026a', 'test-2026b']);
    const [fresh] = await rotated.encode([json(SECRET)]);
    expect(text(fresh.metadata![KEY_ID_METADATA])).toBe('test-2026b');
    const decoded = await rotated.decode([old, fresh]);
    expect(decoded.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual([SECRET, SECRET]);
  });

  it('two keys with the same id cannot be told apart: the wrong one fails authentication, never decrypts garbage', async () => {
    const [encrypted] = await codec.encode([json(SECRET)]);
    const impostor = new EncryptionCodec([{ id: 'test-2026a', key: Buffer.alloc(32, 7) }]);
    await expect(impostor.decode([encrypted])).rejects.toThrow(/failed authentication/);
  });
});

describe('payload keys (PAYLOAD_KEYS, PAYLOAD_KEYS_FILE)', () => {
  const key = Buffer.alloc(32, 1).toString('base64');
  const env = (vars: Record<string, string>) => ({ DATA_DIR: os.tmpdir(), ...vars });

  it('reads id:base64 entries, newest last, separated by commas or lines, with comments', () => {
    const keys = parsePayloadKeys(`# old\nk1:${key}\n\nk2:${Buffer.alloc(32, 2).toString('base64url')} # newest`);
    expect(keys.map((k) => k.id)).toEqual(['k1', 'k2']);
    expect(keys[1].key.equals(Buffer.alloc(32, 2))).toBe(true);
    expect(parsePayloadKeys(`a:${key},b:${key}`).map((k) => k.id)).toEqual(['a', 'b']);
  });

  it.each([
    ['', /no key/],
    [`k1${key}`, /entry 1 is not id:base64key/],
    [`bad id:${key}`, /key id must be/],
    ['k1:not*base64', /k1.*not base64/],
    [`k1:${Buffer.alloc(16).toString('base64')}`, /16 bytes; AES-256 needs exactly 32/],
    [`k1:${key},k1:${key}`, /k1 is used twice/],
  ])('refuses %j', (value, message) => {
    expect(() => parsePayloadKeys(value)).toThrow(PayloadKeysError);
    expect(() => parsePayloadKeys(value)).toThrow(message);
  });

  it('a bad setting stops start-up naming the variable, never printing the key', () => {
    const short = Buffer.alloc(31, 9).toString('base64');
    expect(() => loadConfig(env({ PAYLOAD_KEYS: `k1:${short}` }))).toThrow(/PAYLOAD_KEYS: entry 1 \(k1\): the key is 31 bytes/);
    expect(() => loadConfig(env({ PAYLOAD_KEYS: `k1:${short}` }))).not.toThrow(new RegExp(short.slice(0, 10)));
    expect(() => loadConfig(env({ PAYLOAD_KEYS: `k1:${key}`, PAYLOAD_KEYS_FILE: '/x' }))).toThrow(/PAYLOAD_KEYS_FILE: set PAYLOAD_KEYS or/);
    expect(() => loadConfig(env({ PAYLOAD_KEYS_FILE: '/nonexistent/keys' }))).toThrow(/PAYLOAD_KEYS_FILE: cannot read .*ENOENT/);
    expect(loadConfig(env({ PAYLOAD_KEYS: `k1:${key}` })).payloadKeys?.map((k) => k.id)).toEqual(['k1']);
    expect(loadConfig(env({})).payloadKeys).toBeUndefined();
  });

  it('the codec server and feature settings are checked at start-up too, each error naming its variable', () => {
    expect(() => loadConfig(env({ CODEC_AUTH_TOKEN: 'short' }))).toThrow(/CODEC_AUTH_TOKEN: must be at least 24 characters/);
    expect(() => loadConfig(env({ CODEC_CORS_ORIGINS: '*' }))).toThrow(/CODEC_CORS_ORIGINS: \* is not an origin/);
    expect(() => loadConfig(env({ CODEC_CORS_ORIGINS: 'http://localhost:8233/ui' }))).toThrow(/CODEC_CORS_ORIGINS: .* is not an origin/);
    expect(loadConfig(env({ CODEC_CORS_ORIGINS: 'http://localhost:8233, https://ui.example.com/' })).CODEC_CORS_ORIGINS).toEqual([
      'http://localhost:8233',
      'https://ui.example.com',
    ]);
    expect(() => loadConfig(env({ FEATURE_CALLBACKS: 'maybe' }))).toThrow(/FEATURE_CALLBACKS: must be true or false/);
    expect(() => loadConfig(env({ FEATURE_CACHE_TTL_SECONDS: '-1' }))).toThrow(/FEATURE_CACHE_TTL_SECONDS/);
    const c = loadConfig(env({ FEATURE_POLICIES: 'off', FEATURE_NOTIFICATIONS: '0' }));
    expect([c.FEATURE_POLICIES, c.FEATURE_CALLBACKS, c.FEATURE_NOTIFICATIONS]).toEqual([false, true, false]);
  });

  it('reads the keys from PAYLOAD_KEYS_FILE', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ao-keys-'));
    try {
      fs.writeFileSync(path.join(dir, 'keys'), `# rotated 2026-11\nold:${key}\nnew:${Buffer.alloc(32, 3).toString('base64')}\n`);
      expect(loadConfig(env({ PAYLOAD_KEYS_FILE: path.join(dir, 'keys') })).payloadKeys?.map((k) => k.id)).toEqual(['old', 'new']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('development: the generated key file is created once (0600) and then read again, so restarts keep their key', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ao-devkeys-'));
    try {
      const first = ensureDevPayloadKeys(path.join(dir, 'data'));
      expect(first.created).toBe(true);
      expect(fs.statSync(first.file).mode & 0o777).toBe(0o600);
      const second = ensureDevPayloadKeys(path.join(dir, 'data'));
      expect(second.created).toBe(false);
      expect(second.keys[0].key.equals(first.keys[0].key)).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
