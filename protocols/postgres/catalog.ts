// Resolves result columns to their source table and column (RowDescription carries only OIDs), so column
// masking rules cannot be walked around with an alias. One side connection per target, cached answers.
import type net from 'node:net';
import { Backend } from './codes.js';
import { Reader } from './bytes.js';
import { Framer } from './framer.js';
import { decodeErrorFields, encodeQuery, encodeTerminate } from './messages.js';
import { connectUpstream, type UpstreamTarget } from './upstream.js';

export interface TableInfo {
  schema: string;
  table: string;
  /** column name by attnum */
  columns: Map<number, string>;
  /** column names in attnum order (for COPY without a column list) */
  ordered: string[];
  at: number;
}

const TTL_MS = 5 * 60_000;
const MAX_ENTRIES = 10_000;

/** A minimal simple-query client over an authenticated upstream connection. */
class SideConnection {
  private framer = new Framer(1 << 30);
  private queue: Array<{ resolve: (rows: (string | null)[][]) => void; reject: (e: Error) => void; rows: (string | null)[][]; error?: Error }> = [];
  private readonly r = new Reader();
  closed = false;

  constructor(private readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('close', () => this.fail(new Error('catalog connection closed')));
    socket.on('error', () => this.fail(new Error('catalog connection failed')));
    socket.resume();
  }

  query(sql: string): Promise<(string | null)[][]> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error('catalog connection closed'));
      this.queue.push({ resolve, reject, rows: [] });
      this.socket.write(encodeQuery(sql));
    });
  }

  close(): void {
    this.closed = true;
    if (!this.socket.destroyed) this.socket.end(encodeTerminate());
  }

  private fail(err: Error): void {
    this.closed = true;
    for (const q of this.queue.splice(0)) q.reject(err);
  }

  private onData(d: Buffer): void {
    let got;
    try {
      got = this.framer.push(d);
    } catch (err) {
      this.fail(err as Error);
      this.socket.destroy();
      return;
    }
    if (!got) return;
    const { buf, end } = got;
    let off = 0;
    while (off < end) {
      const len = 1 + buf.readInt32BE(off + 1);
      const head = this.queue[0];
      const r = this.r.reset(buf, off + 5, off + len);
      if (head) {
        if (buf[off] === Backend.DataRow) {
          const n = r.int16();
          const row: (string | null)[] = [];
          for (let i = 0; i < n; i++) {
            const l = r.int32();
            row.push(l < 0 ? null : r.bytes(l).toString('utf8'));
          }
          head.rows.push(row);
        } else if (buf[off] === Backend.ErrorResponse) {
          head.error = new Error(decodeErrorFields(r).get('M') ?? 'catalog query failed');
        } else if (buf[off] === Backend.ReadyForQuery) {
          this.queue.shift();
          if (head.error) head.reject(head.error);
          else head.resolve(head.rows);
        }
      }
      off += len;
    }
  }
}

export class CatalogResolver {
  private conn: SideConnection | null = null;
  private connecting: Promise<SideConnection> | null = null;
  private tables = new Map<number, TableInfo>();
  private byName = new Map<string, TableInfo>();

  constructor(private readonly target: UpstreamTarget) {}

  /** Cached info, or undefined when a lookup is needed. */
  cached(oid: number): TableInfo | undefined {
    const t = this.tables.get(oid);
    if (t && Date.now() - t.at < TTL_MS) return t;
    return undefined;
  }

  async resolve(oids: number[]): Promise<void> {
    const missing = oids.filter((o) => o !== 0 && !this.cached(o));
    if (missing.length === 0) return;
    const list = [...new Set(missing)].map((o) => String(o >>> 0)).join(',');
    const rows = await this.query(
      `SELECT c.oid, n.nspname, c.relname, a.attnum, a.attname FROM pg_catalog.pg_class c ` +
        `JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace ` +
        `JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ` +
        `WHERE c.oid IN (${list}) ORDER BY c.oid, a.attnum`,
    );
    this.store(rows);
    // Remember misses too (e.g. a dropped table) so they do not cost a round trip per result.
    for (const o of missing) if (!this.tables.has(o)) this.put(o, { schema: '', table: '', columns: new Map(), ordered: [], at: Date.now() });
  }

  /** Columns of a table named in a COPY statement, in attnum order; undefined if it cannot be resolved. */
  async tableByName(name: string): Promise<TableInfo | undefined> {
    const hit = this.byName.get(name);
    if (hit && Date.now() - hit.at < TTL_MS) return hit;
    const literal = "'" + name.replace(/'/g, "''") + "'";
    const rows = await this.query(
      `SELECT c.oid, n.nspname, c.relname, a.attnum, a.attname FROM pg_catalog.pg_class c ` +
        `JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace ` +
        `JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ` +
        `WHERE c.oid = pg_catalog.to_regclass(${literal}) ORDER BY a.attnum`,
    );
    this.store(rows);
    const oid = rows[0]?.[0];
    const info = oid ? this.tables.get(Number(oid)) : undefined;
    if (info) this.byName.set(name, info);
    return info;
  }

  close(): void {
    this.conn?.close();
    this.conn = null;
  }

  private store(rows: (string | null)[][]): void {
    const now = Date.now();
    const fresh = new Map<number, TableInfo>();
    for (const [oid, schema, table, attnum, attname] of rows) {
      const o = Number(oid);
      let t = fresh.get(o);
      if (!t) {
        t = { schema: schema ?? '', table: table ?? '', columns: new Map(), ordered: [], at: now };
        fresh.set(o, t);
      }
      t.columns.set(Number(attnum), attname ?? '');
      t.ordered.push(attname ?? '');
    }
    for (const [o, t] of fresh) this.put(o, t);
  }

  private put(oid: number, t: TableInfo): void {
    if (this.tables.size >= MAX_ENTRIES) this.tables.clear();
    this.tables.set(oid, t);
  }

  private async query(sql: string): Promise<(string | null)[][]> {
    const conn = await this.connection();
    try {
      return await conn.query(sql);
    } catch (err) {
      if (conn.closed) this.conn = null;
      throw err;
    }
  }

  private async connection(): Promise<SideConnection> {
    if (this.conn && !this.conn.closed) return this.conn;
    this.connecting ??= connectUpstream(this.target, new Map([['application_name', 'portcullis-catalog']]))
      .then((u) => {
        const c = new SideConnection(u.socket);
        u.socket.unref();
        this.conn = c;
        return c;
      })
      .finally(() => {
        this.connecting = null;
      });
    return this.connecting;
  }
}
