import { EncryptionCodec, generatePayloadKey, parsePayloadKeys } from '../src/temporal/payload-codec';

/**
 * The benchmarks run with payload encryption, as production does: one key (PAYLOAD_KEYS, generated
 * when unset) for the benchmark process and every process it starts, which inherit it.
 */
export function benchPayloadCodec(): EncryptionCodec {
  process.env.PAYLOAD_KEYS ||= generatePayloadKey('bench');
  return new EncryptionCodec(parsePayloadKeys(process.env.PAYLOAD_KEYS));
}
