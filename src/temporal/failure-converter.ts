import { DefaultFailureConverter } from '@temporalio/common';

/**
 * Failure messages and stack traces go into an encoded payload instead of clear text, so the
 * payload codec encrypts them too: an error can quote a customer's address (an SMTP "550 <ana@…>
 * rejected", a provider's "invalid number +34 …"). Reading them back needs nothing special: every
 * failure converter restores `encodedAttributes`. Loaded by path (FAILURE_CONVERTER_PATH) in the
 * worker, the client and the workflow bundle, where it runs inside the sandbox: it imports only
 * @temporalio/common.
 */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
