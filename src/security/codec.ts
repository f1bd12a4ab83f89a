// The payload codec: every workflow and activity input and result, memo, query answer, heartbeat
// detail and failure message goes through AES-256-GCM on its way to Temporal, so nothing there is
// readable by another account, and nothing we did not encrypt is taken as ours.
//
// Each payload is bound to the workflow it belongs to: the workflow id is the GCM associated
// data and is named in the metadata. A payload that does not decrypt, is not encrypted, or was
// copied from another workflow decodes to a refusal marker (not an exception: an exception would
// fail the workflow task over and over); the workflow interceptor then fails the workflow,
// non-retryable, saying why (workflows/interceptors.ts).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec, SerializationContext } from '@temporalio/common';
import proto from '@temporalio/proto';
import { REFUSED_KEY } from '../shared.js';
import type { CodecKey, CodecKeys } from './keys.js';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
const { temporal } = proto;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const te = new TextEncoder();
const td = new TextDecoder();

export class EncryptionCodec implements PayloadCodec {
  private readonly byId: Map<string, CodecKey>;

  constructor(private readonly keys: CodecKeys) {
    this.byId = new Map(keys.all.map((k) => [k.id, k]));
  }

  async encode(payloads: Payload[], context?: SerializationContext): Promise<Payload[]> {
    const boundTo = bindingOf(context);
    return payloads.map((p) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', this.keys.active.key, iv);
      cipher.setAAD(Buffer.from(boundTo));
      const plain = temporal.api.common.v1.Payload.encode(p).finish();
      const data = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: { encoding: te.encode(ENCRYPTED_ENCODING), 'encryption-key-id': te.encode(this.keys.active.id), 'bound-to': te.encode(boundTo) },
        data,
      };
    });
  }

  async decode(payloads: Payload[], context?: SerializationContext): Promise<Payload[]> {
    return payloads.map((p) => this.decodeOne(p, context));
  }

  private decodeOne(p: Payload, context?: SerializationContext): Payload {
    const meta = (name: string) => (p.metadata?.[name] ? td.decode(p.metadata[name]) : undefined);
    if (meta('encoding') !== ENCRYPTED_ENCODING) return refused("it is not encrypted with this deployment's key (a payload written by someone else)");
    const key = this.byId.get(meta('encryption-key-id') ?? '');
    if (!key) return refused(`it is encrypted with a key this worker does not have (key id ${meta('encryption-key-id') ?? '?'})`);
    const boundTo = meta('bound-to') ?? '';
    const expected = bindingOf(context);
    // A payload moved to another workflow: refused even though it decrypts.
    if (expected && boundTo !== expected)
      return refused(`it belongs to workflow ${JSON.stringify(boundTo)}, not to ${JSON.stringify(expected)} (a copied input)`);
    const data = Buffer.from(p.data ?? new Uint8Array());
    if (data.length < IV_BYTES + TAG_BYTES) return refused('it is truncated');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.key, data.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(boundTo));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
      return temporal.api.common.v1.Payload.decode(plain) as Payload;
    } catch {
      return refused('it does not authenticate (altered, or bound to another workflow)');
    }
  }
}

/** The workflow a payload belongs to ('' when the SDK gives no context: not bound). */
function bindingOf(context?: SerializationContext): string {
  return context?.workflowId ?? '';
}

/** A payload that decodes to `{ [REFUSED_KEY]: why }`: the interceptors refuse what carries it. */
function refused(why: string): Payload {
  return { metadata: { encoding: te.encode('json/plain') }, data: te.encode(JSON.stringify({ [REFUSED_KEY]: why })) };
}
