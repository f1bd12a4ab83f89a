// A tiny DNS server on loopback for tests of CLUSTER_DNS: answers A queries from a table (no
// recursion, nothing forwarded: it never contacts another address), NXDOMAIN for other names.
import { createSocket, type Socket } from 'node:dgram';

export interface TestDnsServer {
  /** `127.0.0.1:<port>`, as CLUSTER_DNS takes it. */
  address: string;
  /** Names asked, in order (lower case, no trailing dot). */
  queries: string[];
  close(): Promise<void>;
}

function readName(msg: Buffer, at: number): { name: string; end: number } {
  const labels: string[] = [];
  let i = at;
  while (msg[i] !== 0) {
    const len = msg[i]!;
    labels.push(msg.subarray(i + 1, i + 1 + len).toString('latin1'));
    i += 1 + len;
  }
  return { name: labels.join('.').toLowerCase(), end: i + 1 };
}

export async function startDnsServer(records: Record<string, string[]>, host = '127.0.0.1'): Promise<TestDnsServer> {
  const table = new Map(Object.entries(records).map(([k, v]) => [k.toLowerCase().replace(/\.$/, ''), v]));
  const queries: string[] = [];
  const sock: Socket = createSocket('udp4');
  sock.on('message', (msg, rinfo) => {
    if (msg.length < 12) return;
    const { name, end } = readName(msg, 12);
    const qtype = msg.readUInt16BE(end);
    queries.push(name);
    const known = table.get(name);
    const answers = known && qtype === 1 ? known : [];
    const header = Buffer.alloc(12);
    header.writeUInt16BE(msg.readUInt16BE(0), 0);
    header.writeUInt16BE(0x8180 | (known ? 0 : 3), 2); // response, RD+RA; NXDOMAIN for unknown names
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    const question = msg.subarray(12, end + 4);
    const records = answers.map((ip) => {
      const rr = Buffer.alloc(16);
      rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
      rr.writeUInt16BE(1, 2); // A
      rr.writeUInt16BE(1, 4); // IN
      rr.writeUInt32BE(60, 6);
      rr.writeUInt16BE(4, 10);
      ip.split('.').forEach((octet, k) => rr.writeUInt8(Number(octet), 12 + k));
      return rr;
    });
    sock.send(Buffer.concat([header, question, ...records]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => sock.bind(0, host, resolve));
  return {
    address: `${host}:${sock.address().port}`,
    queries,
    close: () => new Promise((resolve) => sock.close(() => resolve())),
  };
}
