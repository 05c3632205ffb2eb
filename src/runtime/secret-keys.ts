import type { Logger } from 'pino';
import { ConfigError, type Config } from '../config';
import { ensureDevSecretKeys } from '../dev/payload-keys';
import { SecretBox } from '../integrations/secret-box';
import { PayloadKeysError } from '../temporal/payload-codec';

/**
 * The key ring that seals tenant secrets (SECRET_KEYS / SECRET_KEYS_FILE), for the API and the
 * `migrate` and `secrets` commands. In production there is no other source: an API without it
 * refuses to start (it could neither verify a webhook nor save an integration). In development a
 * missing setting falls back to DATA_DIR/secret-keys (generated once), like the payload keys.
 * `required: false` (migrate): undefined instead of a development file or an error.
 */
export function secretBoxFor(config: Config, logger: Logger, options: { required?: boolean } = {}): SecretBox | undefined {
  if (config.secretKeys) {
    const box = new SecretBox(config.secretKeys);
    logger.info({ keyIds: box.keyIds, sealsWith: box.currentKeyId }, 'secret keys loaded');
    return box;
  }
  if (options.required === false) return undefined;
  if (config.NODE_ENV === 'production') {
    throw new ConfigError(
      'invalid configuration: SECRET_KEYS: required with NODE_ENV=production (or SECRET_KEYS_FILE): the integrations’ ' +
        'secrets are encrypted at rest and the API cannot verify a webhook without them; refusing to start. ' +
        'A first key: SECRET_KEYS="s1:$(openssl rand -base64 32)"',
    );
  }
  let dev: ReturnType<typeof ensureDevSecretKeys>;
  try {
    dev = ensureDevSecretKeys(config.DATA_DIR);
  } catch (error) {
    const why = error instanceof PayloadKeysError ? error.message : (error as Error).message;
    throw new ConfigError(`invalid configuration: the development secret key file under DATA_DIR: ${why}`);
  }
  const box = new SecretBox(dev.keys);
  logger.info(
    { file: dev.file, created: dev.created, keyIds: box.keyIds },
    'secret keys from the development key file (set SECRET_KEYS or SECRET_KEYS_FILE in production)',
  );
  return box;
}
