// Results that must fit one Temporal payload (2 MiB): a batch's results (its activity's and its
// child workflow's result) and a fan-out's inline results (the workflow's result). Each command
// carries at most its share of OUTPUT_BUDGET of output inline (fanoutPlan.streamCapFor), counted
// in raw bytes; as JSON a control character takes 6 bytes, so output of control characters grew
// a batch of 1,000 past the limit, its activity failed with TMPRL1103 on every attempt and the
// fan-out's record lost those results. Here the inline output is cut further (head and tail, the
// store keeps everything: task_output reads it) until the JSON fits. Pure and deterministic: the
// workflow calls it too.
import type { CommandResult } from '../shared.js';

/** JSON bytes the results may take: Temporal's 2 MiB payload limit less room for the codec, the envelope and the rest of a result. */
export const RESULTS_PAYLOAD_BUDGET = 1536 * 1024;

const OMITTED = (chars: number) => `\n[... ${chars} characters omitted to fit Temporal's payload limit; read them with task_output ...]\n`;

/** JSON bytes of the character at `i` of `s` (escapes included), and how many UTF-16 units it spans. */
function charBytes(s: string, i: number): [bytes: number, width: number] {
  const c = s.charCodeAt(i);
  if (c === 0x22 || c === 0x5c || c === 0x08 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d) return [2, 1];
  if (c < 0x20) return [6, 1];
  if (c < 0x80) return [1, 1];
  if (c < 0x800) return [2, 1];
  if (c >= 0xd800 && c <= 0xdbff) {
    const d = s.charCodeAt(i + 1);
    return d >= 0xdc00 && d <= 0xdfff ? [4, 2] : [6, 1]; // a lone surrogate is escaped
  }
  if (c >= 0xdc00 && c <= 0xdfff) return [6, 1];
  return [3, 1];
}

/** Bytes of `s` as a JSON string (quotes included), as JSON.stringify writes it in UTF-8. */
export function jsonBytes(s: string): number {
  let n = 2;
  for (let i = 0; i < s.length;) {
    const [b, w] = charBytes(s, i);
    n += b;
    i += w;
  }
  return n;
}

/** Bytes of an already serialised JSON text in UTF-8. */
function utf8Bytes(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** How many UTF-16 units of `s` from its start (or its end) fit in `bytes` of JSON, whole characters only. */
function unitsWithin(s: string, bytes: number, fromEnd: boolean): number {
  let n = 0;
  let units = 0;
  if (!fromEnd) {
    while (units < s.length) {
      const [b, w] = charBytes(s, units);
      if (n + b > bytes) break;
      n += b;
      units += w;
    }
    return units;
  }
  for (let i = s.length - 1; i >= 0;) {
    // A low surrogate after its high one: the pair is one character.
    const pair = i > 0 && s.charCodeAt(i) >= 0xdc00 && s.charCodeAt(i) <= 0xdfff && s.charCodeAt(i - 1) >= 0xd800 && s.charCodeAt(i - 1) <= 0xdbff;
    const start = pair ? i - 1 : i;
    const [b] = charBytes(s, start);
    if (n + b > bytes) break;
    n += b;
    units += i - start + 1;
    i = start - 1;
  }
  return units;
}

/** `s` cut to about `bytes` of JSON: its head and tail, and a note of what is left out. */
function cut(s: string, bytes: number): string {
  const half = Math.max(0, Math.floor(bytes / 2));
  const head = unitsWithin(s, half, false);
  const tail = unitsWithin(s.slice(head), half, true);
  return `${s.slice(0, head)}${OMITTED(s.length - head - tail)}${s.slice(s.length - tail)}`;
}

/** The most bytes a result's JSON can take: 6 per UTF-16 unit of its strings, and room for its other fields. */
const worstCase = (r: CommandResult): number =>
  400 +
  6 * (r.stdout.length + r.stderr.length + r.task_id.length + r.executed_on.length + r.route_reason.length + r.workflow_url.length + (r.error?.length ?? 0)) +
  (r.workspace || r.outputs_returned ? 6 * JSON.stringify([r.workspace, r.outputs_returned]).length : 0);

/**
 * `results` whose JSON fits `budget` bytes: unchanged when they do, else with every inline stream
 * longer than a common limit cut to it (the limit as high as the budget allows; `truncated` set).
 */
export function fitResults(results: CommandResult[], budget = RESULTS_PAYLOAD_BUDGET): CommandResult[] {
  // Most fan-outs print little: a bound from string lengths (6 bytes a unit at worst) spares the serialising.
  if (results.reduce((n, r) => n + worstCase(r), 0) <= budget) return results;
  const total = utf8Bytes(JSON.stringify(results));
  if (total <= budget) return results;
  const streams = results.flatMap((r) => [jsonBytes(r.stdout), jsonBytes(r.stderr)]);
  const outputBytes = streams.reduce((a, b) => a + b, 0);
  // What is not output stays; the output shares the rest: the largest limit L with Σ min(size, L + note) ≤ room.
  const note = jsonBytes(OMITTED(1e9)) - 2;
  const room = budget - (total - outputBytes);
  const sorted = [...streams].sort((a, b) => a - b);
  let limit = 0;
  let below = 0;
  for (let k = 0; k < sorted.length; k++) {
    const left = sorted.length - k;
    const l = Math.floor((room - below) / left) - note;
    if (l < sorted[k]!) {
      limit = Math.max(0, l);
      break;
    }
    below += sorted[k]!;
    limit = sorted[k]!;
  }
  return results.map((r, i) => {
    const out = streams[2 * i]! > limit ? cut(r.stdout, limit) : r.stdout;
    const err = streams[2 * i + 1]! > limit ? cut(r.stderr, limit) : r.stderr;
    return out === r.stdout && err === r.stderr ? r : { ...r, stdout: out, stderr: err, truncated: true };
  });
}
