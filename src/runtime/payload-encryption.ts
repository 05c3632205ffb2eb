import type { Logger } from 'pino';
import { ConfigError, type Config } from '../config';
import { ensureDevPayloadKeys } from '../dev/payload-keys';
import { EncryptionCodec, PayloadKeysError } from '../temporal/payload-codec';

/**
 * The payload codec of a worker or API process: PAYLOAD_KEYS / PAYLOAD_KEYS_FILE, checked at start-up.
 * In production there is no other source: the process refuses to start without them, rather
 * than run and fail every workflow task it cannot decrypt. In development a missing setting falls
 * back to DATA_DIR/payload-keys (generated once), so `npm start`, `npm run worker` and
 * `npm run api` on one data directory agree.
 */
export function payloadCodecFor(config: Config, logger: Logger): EncryptionCodec {
  if (config.payloadKeys) {
    const codec = new EncryptionCodec(config.payloadKeys);
    logger.info({ keyIds: codec.keyIds, encryptsWith: codec.currentKeyId }, 'payload encryption keys loaded');
    return codec;
  }
  if (config.NODE_ENV === 'production') {
    throw new ConfigError(
      'invalid configuration: PAYLOAD_KEYS: required with NODE_ENV=production (or PAYLOAD_KEYS_FILE): workflow payloads are ' +
        'encrypted, and a worker or API without the keys cannot read them; refusing to start. ' +
        'A first key: PAYLOAD_KEYS="k1:$(openssl rand -base64 32)"',
    );
  }
  let dev: ReturnType<typeof ensureDevPayloadKeys>;
  try {
    dev = ensureDevPayloadKeys(config.DATA_DIR);
  } catch (error) {
    const why = error instanceof PayloadKeysError ? error.message : (error as Error).message;
    throw new ConfigError(`invalid configuration: the development payload key file under DATA_DIR: ${why}`);
  }
  const codec = new EncryptionCodec(dev.keys);
  logger.info(
    { file: dev.file, created: dev.created, keyIds: codec.keyIds },
    'payload encryption keys from the development key file (set PAYLOAD_KEYS or PAYLOAD_KEYS_FILE in production)',
  );
  return codec;
}
