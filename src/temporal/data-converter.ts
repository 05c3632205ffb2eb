import type { DataConverter, PayloadCodec } from '@temporalio/common';

/** The module with the product's failure converter (src/temporal/failure-converter.ts), for the worker, the client and the bundler. */
export const FAILURE_CONVERTER_PATH = require.resolve('./failure-converter');

/**
 * The one data converter of every Temporal client and worker of the product: JSON payloads,
 * encrypted by `codec` (src/temporal/payload-codec.ts), failure messages encoded into payloads so
 * they are encrypted as well. The client and the worker must agree, or one writes what the other
 * cannot read.
 */
export function productDataConverter(codec: PayloadCodec): DataConverter {
  return { payloadCodecs: [codec], failureConverterPath: FAILURE_CONVERTER_PATH };
}
