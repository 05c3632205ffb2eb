import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { PayloadKey } from '../temporal/payload-codec';

/**
 * Tenant secrets at rest (the Cal.com webhook secret, the Retell API key): AES-256-GCM under the
 * newest key of SECRET_KEYS, with the key's id stored beside the ciphertext so that every key the
 * process has still opens what older keys sealed (rotation: src/integrations/secrets.ts).
 *
 * A sealed secret is `iv (12 random bytes) || ciphertext || tag (16 bytes)`. The additional
 * authenticated data binds it to where it is stored and to its key id (`<context>\n<key id>`, the
 * context naming the column and the row's id): a ciphertext copied onto another company's row, or
 * relabelled with another key id, fails to open instead of verifying that company's webhooks.
 * Key material comes from the same `id:base64key` format as PAYLOAD_KEYS (parsePayloadKeys) but
 * is a separate ring: the workers and the codec server never need it.
 */
const CIPHER = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

/** A secret this process cannot open (unknown key id, altered, or moved to another row). Names key ids only. */
export class SecretBoxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretBoxError';
  }
}

export interface Sealed {
  ciphertext: Buffer;
  keyId: string;
}

export class SecretBox {
  private readonly byId: Map<string, Buffer>;
  private readonly newest: PayloadKey;

  /** `keys` newest last: new secrets are sealed with the last one; every one opens. */
  constructor(keys: PayloadKey[]) {
    if (keys.length === 0) throw new SecretBoxError('at least one secret key is needed');
    for (const k of keys) if (k.key.length !== KEY_BYTES) throw new SecretBoxError(`secret key ${k.id} is not ${KEY_BYTES} bytes`);
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
    if (this.byId.size !== keys.length) throw new SecretBoxError('secret key ids must be unique');
    this.newest = keys[keys.length - 1];
  }

  /** The key ids this box knows, oldest first; the last one seals. */
  get keyIds(): string[] {
    return [...this.byId.keys()];
  }

  get currentKeyId(): string {
    return this.newest.id;
  }

  has(keyId: string): boolean {
    return this.byId.has(keyId);
  }

  seal(secret: string, context: string): Sealed {
    const { id, key } = this.newest;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(CIPHER, key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(context, id));
    const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return { ciphertext: Buffer.concat([iv, body, cipher.getAuthTag()]), keyId: id };
  }

  open(sealed: Sealed, context: string): string {
    const key = this.byId.get(sealed.keyId);
    if (!key)
      throw new SecretBoxError(
        `a secret is sealed with key "${sealed.keyId}", which this process does not have (it has: ${this.keyIds.join(', ')}); add it to SECRET_KEYS`,
      );
    const data = sealed.ciphertext;
    if (data.length < IV_BYTES + TAG_BYTES) throw new SecretBoxError(`a sealed secret (key "${sealed.keyId}") is too short`);
    const decipher = createDecipheriv(CIPHER, key, data.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(aad(context, sealed.keyId));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretBoxError(`a sealed secret (key "${sealed.keyId}") failed authentication: altered, or moved from another row`);
    }
  }
}

const aad = (context: string, keyId: string) => Buffer.from(`${context}\n${keyId}`, 'utf8');

/** A box with one random key, for a process that was given none (tests, tools): what it seals no other process opens. */
export const ephemeralSecretBox = () => new SecretBox([{ id: `ephemeral-${randomBytes(4).toString('hex')}`, key: randomBytes(KEY_BYTES) }]);
