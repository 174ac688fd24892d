#!/usr/bin/python3
# psycopg2 probe for test/integration/pg-psycopg2.test.ts.
#
#   /usr/bin/python3 psycopg2_probe.py <dsn> <scenario>
#
# Prints one JSON object per line on stdout ({"kind": ..., ...}); the test parses them. An unexpected
# exception ends the program with a {"kind": "fatal", ...} line and exit status 1. Every scenario ends
# with {"kind": "done"}.
#
# Tables (created by the test on the server): people(id int, email text, note text) with 120 rows;
# copy_in(id int, email text, note text) and params(id int, label text, email text), both empty.
import io
import json
import sys

import psycopg2
import psycopg2.errors


def out(kind, **kv):
    kv = {"kind": kind, **kv}
    sys.stdout.write(json.dumps(kv, default=str) + "\n")
    sys.stdout.flush()


def named_cursor(conn):
    # iteration with itersize: DECLARE "c" CURSOR WITHOUT HOLD FOR …, then FETCH FORWARD 7 FROM "c" …
    with conn.cursor(name="c") as cur:
        cur.itersize = 7
        cur.execute("SELECT id, email, note FROM people ORDER BY id")
        n = 0
        for row in cur:
            out("row", mode="iter", id=row[0], email=row[1], note=row[2])
            n += 1
        out("count", mode="iter", n=n)
    conn.commit()
    # fetchmany on a second named cursor, e-mail under an alias, parameterised
    with conn.cursor(name="c2") as cur:
        cur.execute("SELECT email AS contact, id FROM people WHERE id > %s ORDER BY id", (20,))
        batches = []
        n = 0
        while True:
            rows = cur.fetchmany(13)
            if not rows:
                break
            batches.append(len(rows))
            for r in rows:
                out("row", mode="fetchmany", id=r[1], email=r[0], note=None)
                n += 1
        out("count", mode="fetchmany", n=n, batches=batches)
    conn.commit()
    # a scrollable named cursor can go back (MOVE ABSOLUTE through the gateway)
    with conn.cursor(name="c3", scrollable=True) as cur:
        cur.execute("SELECT id, email FROM people ORDER BY id")
        cur.fetchmany(30)
        cur.scroll(5, mode="absolute")
        r = cur.fetchone()
        out("scroll", id=r[0], email=r[1])
    conn.commit()


def copy(conn):
    cur = conn.cursor()
    buf = io.StringIO()
    cur.copy_expert("COPY people TO STDOUT WITH CSV HEADER", buf)
    out("copyOut", text=buf.getvalue())
    buf = io.StringIO()
    cur.copy_expert("COPY people (id, email) TO STDOUT", buf)
    out("copyOutColumns", text=buf.getvalue())
    buf = io.StringIO()
    cur.copy_expert("COPY (SELECT id, email, note FROM people WHERE id <= 10 ORDER BY id) TO STDOUT WITH (FORMAT csv)", buf)
    out("copyOutQuery", text=buf.getvalue())
    conn.commit()
    data = "".join("%d\tcopied%d@load.example\tloaded row %d\n" % (i, i, i) for i in range(1, 251))
    cur.copy_expert("COPY copy_in (id, email, note) FROM STDIN", io.StringIO(data))
    out("copyIn", rowcount=cur.rowcount)
    csv = "id,email,note\n1001,\"csv1001@load.example\",\"with, comma\"\n1002,csv1002@load.example,plain\n"
    cur.copy_expert("COPY copy_in FROM STDIN WITH (FORMAT csv, HEADER true)", io.StringIO(csv))
    out("copyInCsv", rowcount=cur.rowcount)
    conn.commit()
    cur.execute("SELECT count(*), min(id), max(id) FROM copy_in")
    n, lo, hi = cur.fetchone()
    out("copyInCount", n=n, min=lo, max=hi)
    cur.execute("SELECT id, email, note FROM copy_in WHERE id IN (7, 1001) ORDER BY id")
    for r in cur.fetchall():
        out("row", id=r[0], email=r[1], note=r[2])
    conn.commit()


def copy_options(conn):
    # COPY options that change how a row is split: the gateway must split rows the same way
    cur = conn.cursor()
    for label, sql in [
        ("textPipe", "COPY people (id, email) TO STDOUT WITH (DELIMITER '|')"),
        ("csvSemicolon", "COPY people (id, email, note) TO STDOUT WITH (FORMAT csv, DELIMITER ';')"),
        ("textHeader", "COPY people (id, email) TO STDOUT WITH (FORMAT text, HEADER true)"),
    ]:
        buf = io.StringIO()
        cur.copy_expert(sql, buf)
        out("copyOption", label=label, text=buf.getvalue())
    conn.commit()


def params(conn):
    cur = conn.cursor()
    cur.execute("SELECT id, email, note FROM people WHERE id = %s", (5,))
    r = cur.fetchone()
    out("byId", id=r[0], email=r[1], note=r[2])
    cur.execute("SELECT id, email FROM people WHERE id = ANY(%s) ORDER BY id", ([3, 30, 33],))
    out("anyIds", ids=[r[0] for r in cur.fetchall()])
    cur.execute("SELECT %(a)s::int + %(b)s::int AS s, %(t)s AS t", {"a": 40, "b": 2, "t": "it's"})
    s, t = cur.fetchone()
    out("named", s=s, t=t)
    # strings that look like dangerous SQL are literals, not statements: stored verbatim
    tricky = [
        (1, "x'; DROP TABLE people; --", "a@params.example"),
        (2, "DELETE FROM people", "b@params.example"),
        (3, "back\\slash 'quote' \"dq\" $$dollar$$ /* c */ -- d", "c@params.example"),
    ]
    cur.executemany("INSERT INTO params (id, label, email) VALUES (%s, %s, %s)", tricky)
    out("executemany", rowcount=cur.rowcount)
    conn.commit()
    cur.execute("SELECT id, label, email FROM params ORDER BY id")
    for r in cur.fetchall():
        out("param", id=r[0], label=r[1], email=r[2])
    cur.execute("UPDATE params SET label = %s WHERE id = %s", ("updated", 2))
    out("update", rowcount=cur.rowcount)
    conn.commit()


def blocked(conn):
    cur = conn.cursor()
    cases = [
        ("drop", "DROP TABLE people"),
        ("truncate", "TRUNCATE people"),
        ("delete", "DELETE FROM people"),
        ("update", "UPDATE people SET email = %s", ("pwned@evil.example",)),
    ]
    for k, case in enumerate(cases):
        label, sql = case[0], case[1]
        args = case[2] if len(case) > 2 else None
        # psycopg2 opens a transaction (BEGIN) before the first statement: insert, then the blocked one
        cur.execute("INSERT INTO params (id, label, email) VALUES (%s, %s, %s)", (9000 + k, label, "tx@params.example"))
        try:
            cur.execute(sql, args)
            out("blocked", label=label, raised=False)
        except psycopg2.errors.InsufficientPrivilege as e:
            out("blocked", label=label, raised=True, cls=type(e).__name__, pgcode=e.pgcode, message=str(e).strip(),
                status=conn.get_transaction_status())
        except psycopg2.Error as e:
            out("blocked", label=label, raised=True, cls=type(e).__name__, pgcode=e.pgcode, message=str(e).strip())
        # the transaction is aborted: the next statement fails until rollback
        try:
            cur.execute("SELECT 1")
            out("afterBlock", label=label, aborted=False)
        except psycopg2.errors.InFailedSqlTransaction as e:
            out("afterBlock", label=label, aborted=True, pgcode=e.pgcode)
        conn.rollback()
        cur.execute("SELECT count(*) FROM people")
        out("afterRollback", label=label, n=cur.fetchone()[0])
        conn.commit()
    cur.execute("SELECT count(*) FROM params WHERE id >= 9000")
    out("leftovers", n=cur.fetchone()[0])
    conn.commit()
    # autocommit mode: no transaction around the blocked statement, the connection goes on
    conn.autocommit = True
    try:
        cur.execute("drop table if exists people")
        out("blocked", label="autocommit-drop", raised=False)
    except psycopg2.errors.InsufficientPrivilege as e:
        out("blocked", label="autocommit-drop", raised=True, cls=type(e).__name__, pgcode=e.pgcode, message=str(e).strip())
    cur.execute("SELECT id, email FROM people WHERE id = %s", (1,))
    r = cur.fetchone()
    out("autocommitAfter", id=r[0], email=r[1])


def main():
    if len(sys.argv) < 3:
        sys.stderr.write("usage: psycopg2_probe.py <dsn> <scenario>\n")
        sys.exit(2)
    dsn, scenario = sys.argv[1], sys.argv[2]
    try:
        conn = psycopg2.connect(dsn)
    except psycopg2.Error as e:
        out("fatal", stage="connect", pgcode=getattr(e, "pgcode", None), message=str(e).strip())
        sys.exit(1)
    try:
        if scenario == "named_cursor":
            named_cursor(conn)
        elif scenario == "copy":
            copy(conn)
        elif scenario == "copy_options":
            copy_options(conn)
        elif scenario == "params":
            params(conn)
        elif scenario == "blocked":
            blocked(conn)
        else:
            sys.stderr.write("unknown scenario %s\n" % scenario)
            sys.exit(2)
        out("done")
    except psycopg2.Error as e:
        out("fatal", cls=type(e).__name__, pgcode=e.pgcode, message=str(e).strip())
        sys.exit(1)
    finally:
        conn.close()


if __name__ == "__main__":
    main()
