// Tables for human output: cli-table3 colours its header red and its borders grey, which in a
// pipe or a file are escape codes, not colour. Colour only on a terminal, and never with NO_COLOR.
import Table from 'cli-table3';

export function useColour(stream: NodeJS.WriteStream = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && !env.NO_COLOR && env.TERM !== 'dumb';
}

export function table(head: string[]): InstanceType<typeof Table> {
  return new Table({ head, ...(useColour() ? {} : { style: { head: [], border: [] } }) });
}

/** Rows of plain columns padded to their widest cell, with a header row (for `list`: one line per row, easy to grep). */
export function columns(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}
