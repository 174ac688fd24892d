// backend.ts against a target without CLIENT_DEPRECATE_EOF and a client with it (the case a MariaDB 10.11
// target never produces, so the integration tests cannot reach it): EOF packets become OK packets with the
// 0xFE header or disappear, and sequence ids stay consecutive. Both legs are in-memory streams.
import { describe, expect, it } from 'vitest';
import { Duplex } from 'node:stream';
import type net from 'node:net';
import { pino } from 'pino';
import { configSchema } from '../../../src/config/schema.js';
import { GuardrailPolicy } from '../../../src/policy/guardrails.js';
import type { AuditStore } from '../../../src/audit/store.js';
import { Cap, Com, Status, Type } from '../../../protocols/mysql/codes.js';
import { encodeColumnDef, encodeEof, type ColumnDef } from '../../../protocols/mysql/messages.js';
import { MyWriter, packet } from '../../../protocols/mysql/packets.js';
import { MySession } from '../../../protocols/mysql/session.js';

class FakeSocket extends Duplex {
  written: Buffer[] = [];
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.written.push(chunk);
    cb();
  }
  feed(b: Buffer): void {
    this.push(b);
  }
  /** Everything written so far, split into packets. */
  packets(): Array<{ seq: number; payload: Buffer }> {
    const all = Buffer.concat(this.written);
    const out: Array<{ seq: number; payload: Buffer }> = [];
    let off = 0;
    while (off + 4 <= all.length) {
      const n = all.readUIntLE(off, 3);
      out.push({ seq: all[off + 3]!, payload: all.subarray(off + 4, off + 4 + n) });
      off += 4 + n;
    }
    return out;
  }
  sent(): Array<{ seq: number; payload: Buffer }> {
    const p = this.packets();
    this.written = [];
    return p;
  }
}

const audit: AuditStore = {
  startSession: () => undefined,
  endSession: () => undefined,
  append: () => undefined,
  afterCommit: (fn) => fn(),
  flush: () => undefined,
  listSessions: () => [],
  events: () => [],
  recording: () => undefined,
  recordings: () => [],
  close: () => undefined,
  knownHostKey: () => undefined,
  rememberHostKey: () => undefined,
};

const col = (name: string, type: number = Type.VAR_STRING): Buffer =>
  encodeColumnDef({ schema: 'db', table: 't', orgTable: 't', name, orgName: name, charset: 45, length: 100, type, flags: 0, decimals: 0 } satisfies ColumnDef);
const row = (...cells: string[]): Buffer => {
  const w = new MyWriter();
  for (const c of cells) w.lenencBytes(c);
  return w.payload();
};
const cmd = (com: number, body: Buffer | string): Buffer => packet(0, Buffer.concat([Buffer.from([com]), typeof body === 'string' ? Buffer.from(body) : body]));
/** The target's answer: payloads as consecutive packets from seq 1. */
const answer = (...payloads: Buffer[]): Buffer => Buffer.concat(payloads.map((p, i) => packet(i + 1, p)));

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

async function setup(clientCaps: number, upstreamCaps: number): Promise<{ client: FakeSocket; up: FakeSocket; s: MySession }> {
  const config = configSchema.parse({
    dataDir: '/nonexistent',
    connections: [{ name: 'c', protocol: 'mysql', target: { host: 'h' }, allow: ['g'], fallback: 'allow' }],
  });
  const client = new FakeSocket();
  const up = new FakeSocket();
  const s = new MySession(
    { id: 's1', user: 'u', groups: ['g'], authMethod: 'password', connection: 'c', protocol: 'mysql', clientAddress: '127.0.0.1' },
    client as unknown as net.Socket,
    up as unknown as net.Socket,
    {
      policy: new GuardrailPolicy(config),
      masker: null,
      audit,
      log: pino({ level: 'silent' }),
      clientCaps,
      upstreamCaps,
      threadId: 1,
      upstreamThreadId: 2,
      targetVersion: '5.6.0',
      localInfile: false,
      threads: new Map(),
      onClose: () => undefined,
    },
  );
  s.start(Buffer.alloc(0), Buffer.alloc(0));
  // the sql_mode probe, answered as the target's capabilities say
  if (upstreamCaps & Cap.DEPRECATE_EOF) {
    const okEof = new MyWriter().u8(0xfe).lenenc(0).lenenc(0).u16(Status.AUTOCOMMIT).u16(0).payload();
    up.feed(answer(Buffer.from([1]), col('@@SESSION.sql_mode'), row('STRICT_TRANS_TABLES'), okEof));
  } else {
    up.feed(answer(Buffer.from([1]), col('@@SESSION.sql_mode'), encodeEof(Status.AUTOCOMMIT), row('STRICT_TRANS_TABLES'), encodeEof(Status.AUTOCOMMIT)));
  }
  await flush();
  up.sent();
  expect(client.sent()).toEqual([]);
  return { client, up, s };
}

const BASE = (Cap.PROTOCOL_41 | Cap.SECURE_CONNECTION | Cap.MULTI_RESULTS | Cap.PLUGIN_AUTH) >>> 0;
const WITH = (BASE | Cap.DEPRECATE_EOF) >>> 0;

function expectSeqs(pk: Array<{ seq: number }>): void {
  pk.forEach((p, i) => expect(p.seq, `packet ${i}`).toBe(i + 1));
}

describe('target without CLIENT_DEPRECATE_EOF, client with it', () => {
  it('a result set: the EOF after the definitions disappears, the final EOF becomes OK with 0xFE', async () => {
    const { client, up } = await setup(WITH, BASE);
    client.feed(cmd(Com.QUERY, 'SELECT a, b FROM t'));
    await flush();
    expect(up.sent().map((p) => p.payload.toString('utf8', 1))).toEqual(['SELECT a, b FROM t']);
    const status = Status.AUTOCOMMIT | Status.IN_TRANS;
    up.feed(answer(Buffer.from([2]), col('a'), col('b'), encodeEof(status), row('1', 'x'), row('2', 'y'), encodeEof(status, 3)));
    await flush();
    const got = client.sent();
    expectSeqs(got);
    expect(got.map((p) => p.payload[0])).toEqual([2, 3, 3, 1, 1, 0xfe]);
    const ok = got[5]!.payload;
    // 0xFE · affected 0 · insert id 0 · status · warnings
    expect([...ok]).toEqual([0xfe, 0, 0, status & 0xff, status >> 8, 3, 0]);
  });

  it('a cursor: definitions, then one OK carrying SERVER_STATUS_CURSOR_EXISTS', async () => {
    const { client, up } = await setup(WITH, BASE);
    client.feed(cmd(Com.STMT_PREPARE, 'SELECT a FROM t'));
    await flush();
    // prepare OK: 0x00 · id · 1 column · 0 params · filler · warnings; one definition and its EOF
    const prepOk = new MyWriter().u8(0).u32(7).u16(1).u16(0).u8(0).u16(0).payload();
    up.feed(answer(prepOk, col('a'), encodeEof(Status.AUTOCOMMIT)));
    await flush();
    const prep = client.sent();
    expectSeqs(prep);
    expect(prep).toHaveLength(2);
    client.feed(cmd(Com.STMT_EXECUTE, new MyWriter().u32(7).u8(1).u32(1).payload()));
    await flush();
    up.feed(answer(Buffer.from([1]), col('a'), encodeEof(Status.AUTOCOMMIT | Status.CURSOR_EXISTS)));
    await flush();
    const exec = client.sent();
    expectSeqs(exec);
    expect(exec).toHaveLength(3);
    expect(exec[2]!.payload[0]).toBe(0xfe);
    expect(exec[2]!.payload.readUInt16LE(3) & Status.CURSOR_EXISTS).toBe(Status.CURSOR_EXISTS);
    // fetch: binary rows, then EOF → OK
    client.feed(cmd(Com.STMT_FETCH, new MyWriter().u32(7).u32(5).payload()));
    await flush();
    up.feed(answer(Buffer.concat([Buffer.from([0, 0]), row('v')]), encodeEof(Status.AUTOCOMMIT | Status.LAST_ROW_SENT)));
    await flush();
    const fetched = client.sent();
    expectSeqs(fetched);
    expect(fetched.map((p) => p.payload[0])).toEqual([0, 0xfe]);
    expect(fetched[1]!.payload.length).toBe(7);
  });

  it('a prepare with parameters: both EOFs disappear', async () => {
    const { client, up } = await setup(WITH, BASE);
    client.feed(cmd(Com.STMT_PREPARE, 'SELECT ? , a FROM t'));
    await flush();
    const prepOk = new MyWriter().u8(0).u32(9).u16(2).u16(1).u8(0).u16(0).payload();
    up.feed(answer(prepOk, col('?'), encodeEof(Status.AUTOCOMMIT), col('?'), col('a'), encodeEof(Status.AUTOCOMMIT)));
    await flush();
    const got = client.sent();
    expectSeqs(got);
    expect(got).toHaveLength(4);
    expect(got.every((p) => p.payload[0] !== 0xfe)).toBe(true);
  });

  it('COM_FIELD_LIST and COM_SET_OPTION: EOF becomes OK with 0xFE', async () => {
    const { client, up } = await setup(WITH, BASE);
    client.feed(cmd(Com.FIELD_LIST, Buffer.from('t\0')));
    await flush();
    up.feed(answer(col('a'), encodeEof(Status.AUTOCOMMIT)));
    await flush();
    const fields = client.sent();
    expectSeqs(fields);
    expect(fields[1]!.payload.length).toBe(7);
    client.feed(cmd(Com.SET_OPTION, Buffer.from([0, 0])));
    await flush();
    up.feed(answer(encodeEof(Status.AUTOCOMMIT)));
    await flush();
    const set = client.sent();
    expect(set).toHaveLength(1);
    expect([...set[0]!.payload]).toEqual([0xfe, 0, 0, Status.AUTOCOMMIT, 0, 0, 0]);
  });

  it('a CALL: every result set translated, SERVER_MORE_RESULTS_EXISTS followed to the final OK', async () => {
    const { client, up } = await setup(WITH, BASE);
    client.feed(cmd(Com.QUERY, 'CALL p()'));
    await flush();
    const more = Status.AUTOCOMMIT | Status.MORE_RESULTS_EXISTS;
    const okFinal = new MyWriter().u8(0).lenenc(0).lenenc(0).u16(Status.AUTOCOMMIT).u16(0).payload();
    up.feed(answer(Buffer.from([1]), col('a'), encodeEof(more), row('1'), encodeEof(more), Buffer.from([1]), col('b'), encodeEof(more), row('2'), encodeEof(more), okFinal));
    await flush();
    const got = client.sent();
    expectSeqs(got);
    expect(got.map((p) => p.payload[0])).toEqual([1, 3, 1, 0xfe, 1, 3, 1, 0xfe, 0]);
  });
});

describe('target with CLIENT_DEPRECATE_EOF, client without it', () => {
  it('EOF packets appear after the definitions and at the end', async () => {
    const { client, up } = await setup(BASE, WITH);
    client.feed(cmd(Com.QUERY, 'SELECT a FROM t'));
    await flush();
    const okEof = new MyWriter().u8(0xfe).lenenc(0).lenenc(0).u16(Status.AUTOCOMMIT).u16(1).payload();
    up.feed(answer(Buffer.from([1]), col('a'), row('1'), okEof));
    await flush();
    const got = client.sent();
    expectSeqs(got);
    expect(got.map((p) => [p.payload[0], p.payload.length])).toEqual([[1, 1], [3, col('a').length], [0xfe, 5], [1, 2], [0xfe, 5]]);
    expect(got[4]!.payload.readUInt16LE(1)).toBe(1); // warnings carried over
  });
});
