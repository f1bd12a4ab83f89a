// The data converter every client and worker of this deployment uses: JSON payloads, encrypted
// and bound to their workflow by the codec, failure messages encoded too.
import type { DataConverter } from '@temporalio/common';
import type { PayloadCodec } from '@temporalio/common';
import { FAILURE_CONVERTER_PATH } from './bundle.js';

/** `codec`: the deployment's EncryptionCodec (security/codec.ts). */
export function dataConverterFor(codec: PayloadCodec): DataConverter {
  return { payloadCodecs: [codec], failureConverterPath: FAILURE_CONVERTER_PATH };
}
