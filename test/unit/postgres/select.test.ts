// Connection selection (DESIGN "Selection rules"), startup `options` vetting, unsafe client encodings
// and what counts as loopback (DESIGN "Identity and TLS").
import { describe, expect, it } from 'vitest';
import { isUnsafeEncoding, selectConnection, vetOptions } from '../../../protocols/postgres/select.js';
import { isLoopback } from '../../../protocols/postgres/handshake.js';

describe('selectConnection on the shared port', () => {
  it('USER#CONNECTION: splits the user name, the connection comes from the suffix', () => {
    expect(selectConnection('alice#app-db', undefined)).toEqual({ ok: true, user: 'alice', connection: 'app-db', database: undefined });
  });

  it('splits at the LAST "#"', () => {
    const s = selectConnection('a#b#app-db', undefined);
    expect(s).toMatchObject({ ok: true, user: 'a#b', connection: 'app-db' });
  });

  it('the database name names the connection when there is no #suffix; the connection keeps its own database', () => {
    const s = selectConnection('alice', 'app-db');
    expect(s.ok).toBe(true);
    if (!s.ok) return;
    expect(s.user).toBe('alice');
    expect(s.connection).toBe('app-db');
    expect(s.database).toBeUndefined();
  });

  it('with both a #connection and a dbname, the #connection wins and the dbname names the target database', () => {
    expect(selectConnection('alice#app-db', 'reporting')).toEqual({ ok: true, user: 'alice', connection: 'app-db', database: 'reporting' });
  });

  it('a dbname equal to the whole user name (libpq default) names no database', () => {
    const s = selectConnection('alice#app-db', 'alice#app-db');
    expect(s).toMatchObject({ ok: true, user: 'alice', connection: 'app-db' });
    if (s.ok) expect(s.database).toBeUndefined();
  });

  it('a dbname equal only to the USER part is a real database name', () => {
    expect(selectConnection('alice#app-db', 'alice')).toMatchObject({ ok: true, connection: 'app-db', database: 'alice' });
  });

  it('an empty dbname is no dbname', () => {
    const s = selectConnection('alice#app-db', '');
    expect(s).toMatchObject({ ok: true, connection: 'app-db' });
    if (s.ok) expect(s.database).toBeUndefined();
    expect(selectConnection('alice', '')).toEqual({ ok: false, reason: 'no-connection' });
  });

  it('no #suffix and no dbname: no connection named', () => {
    expect(selectConnection('alice', undefined)).toEqual({ ok: false, reason: 'no-connection' });
  });

  it('an empty USER part is refused', () => {
    expect(selectConnection('#app-db', undefined)).toEqual({ ok: false, reason: 'bad-user' });
    expect(selectConnection('', 'app-db')).toEqual({ ok: false, reason: 'bad-user' });
  });

  it('never returns a connection named "" (a trailing "#" with no dbname)', () => {
    const s = selectConnection('alice#', undefined);
    if (s.ok) expect(s.connection).not.toBe('');
  });
});

describe('selectConnection on a connection\'s own listen port', () => {
  it('the user name is just USER; the port decides the connection', () => {
    const s = selectConnection('alice', undefined, 'own-db');
    expect(s).toMatchObject({ ok: true, user: 'alice', connection: 'own-db' });
    if (s.ok) expect(s.database).toBeUndefined();
  });

  it('the libpq-default dbname (= user name) names no database there either', () => {
    const s = selectConnection('alice', 'alice', 'own-db');
    expect(s).toMatchObject({ ok: true, user: 'alice', connection: 'own-db' });
    if (s.ok) expect(s.database).toBeUndefined();
  });

  it('a dbname names the target database, never another connection', () => {
    expect(selectConnection('alice', 'other-db', 'own-db')).toEqual({ ok: true, user: 'alice', connection: 'own-db', database: 'other-db' });
  });

  it('a #connection suffix is an error, even one naming the port\'s own connection', () => {
    expect(selectConnection('alice#other', undefined, 'own-db')).toEqual({ ok: false, reason: 'suffix-on-own-port' });
    expect(selectConnection('alice#own-db', undefined, 'own-db')).toEqual({ ok: false, reason: 'suffix-on-own-port' });
    expect(selectConnection('alice#', undefined, 'own-db')).toEqual({ ok: false, reason: 'suffix-on-own-port' });
  });
});

describe('vetOptions (the startup `options` parameter)', () => {
  it('accepts harmless settings in every spelling PostgreSQL accepts', () => {
    expect(vetOptions('-c statement_timeout=5000')).toBeNull();
    expect(vetOptions('-cstatement_timeout=5000')).toBeNull();
    expect(vetOptions('--statement-timeout=5000')).toBeNull();
    expect(vetOptions('--statement_timeout=5000')).toBeNull();
    expect(vetOptions('-c Statement_Timeout=5000')).toBeNull();
    expect(vetOptions('-c application_name=x -c DateStyle=ISO,MDY  -c\tlock_timeout=1s')).toBeNull();
    expect(vetOptions('')).toBeNull();
  });

  it('an escaped space keeps one value together (as PostgreSQL reads it)', () => {
    // PostgreSQL sees application_name = "a -c role=postgres": one harmless setting.
    expect(vetOptions('-c application_name=a\\ -c\\ role=postgres')).toBeNull();
  });

  it('refuses role and session_authorization however they are spelled', () => {
    for (const o of [
      '-c role=postgres',
      '-crole=postgres',
      '--role=postgres',
      '-c ROLE=postgres',
      '-c session_authorization=postgres',
      '--session-authorization=postgres',
      '-c statement_timeout=5000 -c role=postgres',
      '-c\\ role=postgres',
    ]) {
      expect(vetOptions(o), o).not.toBeNull();
    }
  });

  it('refuses standard_conforming_strings (it changes how the lexer must read strings)', () => {
    expect(vetOptions('-c standard_conforming_strings=off')).not.toBeNull();
    expect(vetOptions('--standard-conforming-strings=off')).not.toBeNull();
    expect(vetOptions('-c escape_string_warning=off -c standard_conforming_strings=off')).not.toBeNull();
  });

  it('refuses a client_encoding set through options (SJIS would hide quotes)', () => {
    expect(vetOptions('-c client_encoding=SJIS')).not.toBeNull();
  });

  it('refuses unknown settings, server switches and malformed words', () => {
    expect(vetOptions('-c my.custom=1')).not.toBeNull();
    expect(vetOptions('-c shared_preload_libraries=evil')).not.toBeNull();
    expect(vetOptions('-c log_statement=none')).not.toBeNull();
    expect(vetOptions('-B 100')).not.toBeNull();
    expect(vetOptions('-D /tmp')).not.toBeNull();
    expect(vetOptions('statement_timeout=5000')).not.toBeNull();
    expect(vetOptions('-c statement_timeout')).not.toBeNull();
    expect(vetOptions('-c =5000')).not.toBeNull();
    expect(vetOptions('-c')).not.toBeNull();
  });

  it('names the refused setting', () => {
    expect(vetOptions('-c role=postgres')).toMatch(/role/);
  });
});

describe('isUnsafeEncoding', () => {
  it('flags encodings where a quote or backslash byte can be the second byte of a character', () => {
    for (const e of ['SJIS', 'sjis', 'Shift_JIS', 'SHIFT_JIS_2004', 'MSKANJI', 'BIG5', 'Big5', 'GBK', 'GB18030', 'gb-18030', 'UHC', 'JOHAB', 'WIN932', 'win936', 'WIN949', 'win950']) {
      expect(isUnsafeEncoding(e), e).toBe(true);
    }
  });

  it('flags every alias PostgreSQL itself resolves to those encodings (Windows-932 etc.)', () => {
    // PostgreSQL's pg_encname_tbl maps windows932/936/949/950 to SJIS/GBK/UHC/BIG5 after dropping
    // non-alphanumerics and lowercasing.
    for (const e of ['Windows932', 'windows-936', 'WINDOWS949', 'windows_950']) {
      expect(isUnsafeEncoding(e), e).toBe(true);
    }
  });

  it('accepts encodings where every byte of a multibyte character has the high bit set, and single-byte ones', () => {
    for (const e of ['UTF8', 'utf-8', 'UNICODE', 'LATIN1', 'SQL_ASCII', 'EUC_JP', 'EUC_KR', 'EUC_CN', 'EUC_TW', 'EUC_JIS_2004', 'WIN1252', 'KOI8R']) {
      expect(isUnsafeEncoding(e), e).toBe(false);
    }
  });
});

describe('isLoopback', () => {
  it('127.0.0.0/8, ::1 and IPv4-mapped 127.0.0.0/104 are loopback', () => {
    for (const a of ['127.0.0.1', '127.0.0.2', '127.255.255.254', '127.1.2.3', '::1', '::ffff:127.0.0.1', '::ffff:127.9.9.9']) {
      expect(isLoopback(a), a).toBe(true);
    }
  });

  it('everything else is not', () => {
    for (const a of ['10.0.0.1', '192.168.1.127', '1.127.0.0', '128.0.0.1', '::ffff:10.0.0.1', '::ffff:1.127.0.0', '::', '::2', 'fe80::1', '0.0.0.0', '', 'unknown']) {
      expect(isLoopback(a), a).toBe(false);
    }
    expect(isLoopback(undefined)).toBe(false);
  });
});
