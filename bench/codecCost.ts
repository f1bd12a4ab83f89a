// What the payload codec (src/security/codec.ts: AES-256-GCM, bound to the workflow id) adds to a
// call. The codec is always on, so there is no "codec off" run to compare with: instead it is
// timed in-process on the REAL payloads of one measured offload_to call (its workflow history,
// fetched raw: still encrypted), decrypted with the state dir's key, then encoded and decoded
// again many times. A call's codec work ≈ one encode + one decode of each encrypted payload in
// its history (the target: < 1 ms of added p50 latency).
import { performance } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import type { Payload, SerializationContext } from '@temporalio/common';
import { EncryptionCodec, ENCRYPTED_ENCODING } from '../src/security/codec.js';
import { loadCodecKeys } from '../src/security/keys.js';
import { REFUSED_KEY } from '../src/shared.js';

export interface CodecRow {
  /** Where the payload sits in the history (event attribute path). */
  where: string;
  bytes: number;
  encodeUs: number;
  decodeUs: number;
}

export interface CodecCost {
  rows: CodecRow[];
  /** Encrypted payloads in the call's history. */
  payloads: number;
  /** Σ (encode + decode) over them, µs (medians). */
  perCallUs: number;
}

const td = new TextDecoder();

/** Every payload object in a history event tree, with its attribute path. */
function payloadsIn(node: unknown, where: string, out: Array<{ where: string; p: Payload }>): void {
  if (node === null || typeof node !== 'object' || ArrayBuffer.isView(node)) return;
  const o = node as Record<string, unknown>;
  const meta = o.metadata as Record<string, unknown> | undefined;
  if (meta && meta.encoding instanceof Uint8Array && 'data' in o) {
    out.push({ where, p: o as Payload });
    return;
  }
  for (const [k, v] of Object.entries(o)) {
    if (Array.isArray(v)) v.forEach((x, i) => payloadsIn(x, v.length > 1 ? `${where}.${k}[${i}]` : `${where}.${k}`, out));
    else payloadsIn(v, where ? `${where}.${k}` : k, out);
  }
}

/** Median µs of one call of `fn`, each of `n` calls timed on its own after a warm-up (robust to a noisy host). */
async function usPer(n: number, fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(200, n); i++) await fn();
  const us: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    us.push((performance.now() - t0) * 1000);
  }
  return us.sort((a, b) => a - b)[Math.floor(n / 2)]!;
}

export async function measureCodec(opts: {
  stateDir: string;
  env: Record<string, string | undefined>;
  address: string;
  namespace: string;
  taskId: string;
  iterations: number;
}): Promise<CodecCost> {
  const codec = new EncryptionCodec(
    loadCodecKeys(opts.stateDir, { codecKey: opts.env.CLUSTERFLOW_CODEC_KEY, codecKeyFile: opts.env.CLUSTERFLOW_CODEC_KEY_FILE }),
  );
  const connection = await Connection.connect({ address: opts.address });
  const found: Array<{ where: string; p: Payload }> = [];
  try {
    // No data converter: the payloads come back as Temporal stores them (encrypted).
    const history = await new Client({ connection, namespace: opts.namespace }).workflow.getHandle(opts.taskId).fetchHistory();
    for (const e of history.events ?? []) {
      const attrs = Object.entries(e).find(([k, v]) => k.endsWith('Attributes') && v);
      if (attrs) payloadsIn(attrs[1], attrs[0].replace(/EventAttributes$/, ''), found);
    }
  } finally {
    await connection.close();
  }
  const encrypted = found.filter(({ p }) => td.decode(p.metadata!.encoding!) === ENCRYPTED_ENCODING);
  const rows: CodecRow[] = [];
  let perCallUs = 0;
  for (const { where, p } of encrypted) {
    const boundTo = p.metadata?.['bound-to'] ? td.decode(p.metadata['bound-to']) : '';
    const ctx: SerializationContext = { type: 'workflow', namespace: opts.namespace, workflowId: boundTo };
    const [plain] = await codec.decode([p], ctx);
    if (td.decode(plain!.data ?? new Uint8Array()).includes(REFUSED_KEY))
      throw new Error(`codec: the ${where} payload of ${opts.taskId} did not decrypt with the state dir's key`);
    const encodeUs = await usPer(opts.iterations, () => codec.encode([plain!], ctx));
    const [again] = await codec.encode([plain!], ctx);
    const decodeUs = await usPer(opts.iterations, () => codec.decode([again!], ctx));
    rows.push({ where, bytes: plain!.data?.length ?? 0, encodeUs, decodeUs });
    perCallUs += encodeUs + decodeUs;
  }
  return { rows, payloads: encrypted.length, perCallUs };
}
