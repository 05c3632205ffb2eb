import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, type Payload, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

/**
 * Encryption of every workflow payload (inputs, results, activity arguments and results, signals,
 * updates, queries, memos, failure messages) with AES-256-GCM before it leaves the process, so
 * Temporal's history and visibility store ciphertext. It runs in the client (API, schedules,
 * activities that start workflows) and in the worker outside the workflow sandbox, and in the
 * codec server that decodes for the Web UI (src/api/codec-server.ts).
 *
 * An encrypted payload: metadata `encoding: binary/encrypted`, `encryption-key-id: <id>`,
 * `encryption-cipher: aes-256-gcm`; data `iv (12 random bytes) || ciphertext || tag (16 bytes)`
 * over the whole original payload (its metadata included) serialised as protobuf; the key id is
 * the additional authenticated data. New payloads use the newest key; any known key decodes.
 * A payload without the `binary/encrypted` encoding is returned as it is: histories written
 * before encryption was switched on, and signals sent by hand with the CLI, stay readable.
 */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
export const CIPHER_METADATA = 'encryption-cipher';
const CIPHER = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

export interface PayloadKey {
  id: string;
  key: Buffer;
}

/** A payload this process cannot decrypt (unknown key id, or tampered with). The message names key ids only. */
export class PayloadCodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PayloadCodecError';
  }
}

/** A list of keys that cannot be used; the message says which entry and why, never the key material. */
export class PayloadKeysError extends Error {}

/**
 * Parses `id:base64key` entries, separated by commas or new lines, the newest last (the format of
 * PAYLOAD_KEYS and of the PAYLOAD_KEYS_FILE). Blank lines and `#` comments are ignored. Each key is
 * 32 bytes (AES-256) in base64 or base64url; ids are 1-64 of `A-Z a-z 0-9 . _ -` and unique.
 */
export function parsePayloadKeys(text: string): PayloadKey[] {
  const entries = text
    .split('\n')
    .flatMap((line) => line.replace(/#.*$/, '').split(','))
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (entries.length === 0) throw new PayloadKeysError('no key: expected id:base64key entries, newest last');
  const keys: PayloadKey[] = [];
  entries.forEach((entry, index) => {
    const at = `entry ${index + 1}`;
    const colon = entry.indexOf(':');
    if (colon < 0) throw new PayloadKeysError(`${at} is not id:base64key`);
    const id = entry.slice(0, colon).trim();
    const encoded = entry.slice(colon + 1).trim();
    if (!KEY_ID.test(id)) throw new PayloadKeysError(`${at}: the key id must be 1-64 characters of A-Z a-z 0-9 . _ -`);
    if (!BASE64.test(encoded)) throw new PayloadKeysError(`${at} (${id}): the key is not base64`);
    // Node's base64 decoder reads the base64url alphabet too.
    const key = Buffer.from(encoded, 'base64');
    if (key.length !== KEY_BYTES)
      throw new PayloadKeysError(
        `${at} (${id}): the key is ${key.length} bytes; AES-256 needs exactly ${KEY_BYTES} (openssl rand -base64 32)`,
      );
    if (keys.some((k) => k.id === id)) throw new PayloadKeysError(`${at}: the key id ${id} is used twice`);
    keys.push({ id, key });
  });
  return keys;
}

/** A new key entry (`id:base64`), e.g. for a development key file. */
export const generatePayloadKey = (id: string): string => `${id}:${randomBytes(KEY_BYTES).toString('base64')}`;

const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null | undefined) => (b ? Buffer.from(b).toString('utf8') : undefined);

export class EncryptionCodec implements PayloadCodec {
  private readonly byId: Map<string, Buffer>;
  private readonly newest: PayloadKey;

  /** `keys` newest last: new payloads are encrypted with the last one. */
  constructor(keys: PayloadKey[]) {
    if (keys.length === 0) throw new PayloadKeysError('at least one payload key is needed');
    for (const k of keys) if (k.key.length !== KEY_BYTES) throw new PayloadKeysError(`key ${k.id} is not ${KEY_BYTES} bytes`);
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
    if (this.byId.size !== keys.length) throw new PayloadKeysError('payload key ids must be unique');
    this.newest = keys[keys.length - 1];
  }

  /** The key ids this codec knows, oldest first; the last one encrypts. */
  get keyIds(): string[] {
    return [...this.byId.keys()];
  }

  get currentKeyId(): string {
    return this.newest.id;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.encrypt(payload));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.decrypt(payload));
  }

  encrypt(payload: Payload): Payload {
    const { id, key } = this.newest;
    const plain = temporal.api.common.v1.Payload.encode(payload).finish();
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(CIPHER, key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(id, 'utf8'));
    const encrypted = Buffer.concat([cipher.update(plain), cipher.final()]);
    return {
      metadata: {
        [METADATA_ENCODING_KEY]: utf8(ENCRYPTED_ENCODING),
        [KEY_ID_METADATA]: utf8(id),
        [CIPHER_METADATA]: utf8(CIPHER),
      },
      data: Buffer.concat([iv, encrypted, cipher.getAuthTag()]),
    };
  }

  /** The original payload; one that is not encrypted is returned as it is. */
  decrypt(payload: Payload): Payload {
    if (!isEncrypted(payload)) return payload;
    const id = text(payload.metadata?.[KEY_ID_METADATA]);
    if (!id) throw new PayloadCodecError(`an encrypted payload has no ${KEY_ID_METADATA}`);
    const cipherName = text(payload.metadata?.[CIPHER_METADATA]) ?? CIPHER;
    if (cipherName !== CIPHER) throw new PayloadCodecError(`payload encrypted with ${cipherName}; this process knows only ${CIPHER}`);
    const key = this.byId.get(id);
    if (!key) {
      throw new PayloadCodecError(
        `payload encrypted with key "${id}", which this process does not have (it has: ${this.keyIds.join(', ')}); ` +
          'add that key to PAYLOAD_KEYS (keep old keys as long as histories written with them may be read)',
      );
    }
    const data = Buffer.from(payload.data ?? new Uint8Array());
    if (data.length < IV_BYTES + TAG_BYTES) throw new PayloadCodecError(`an encrypted payload (key "${id}") is too short`);
    const decipher = createDecipheriv(CIPHER, key, data.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(id, 'utf8'));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new PayloadCodecError(
        `an encrypted payload (key "${id}") failed authentication: altered, or encrypted with another key of that id`,
      );
    }
    const decoded = temporal.api.common.v1.Payload.decode(plain);
    return { metadata: decoded.metadata, data: decoded.data };
  }
}

export const isEncrypted = (payload: Payload): boolean => text(payload.metadata?.[METADATA_ENCODING_KEY]) === ENCRYPTED_ENCODING;
