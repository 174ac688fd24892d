// pgjdbc probe for test/integration/pg-jdbc.test.ts.
//
//   java -cp <classes>:/usr/share/java/postgresql.jar JdbcProbe <url> <user> <password> <scenario>
//
// Prints one JSON object per line on stdout ({"kind": ..., ...}); the test parses them. An unexpected
// SQLException ends the program with a {"kind":"fatal",...} line and exit status 1. Every scenario ends
// with {"kind":"done"} so the test can tell a complete run from a crash.
//
// Tables (created by the test on the server): people(id int, email text, note text, score float8,
// born date, amount numeric(10,2)) with 150 rows; batch_items(id int, email text, note text), empty.
import java.sql.BatchUpdateException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;

import org.postgresql.PGStatement;

public class JdbcProbe {
  public static void main(String[] args) throws Exception {
    if (args.length != 4) {
      System.err.println("usage: JdbcProbe <url> <user> <password> <scenario>");
      System.exit(2);
    }
    Properties props = new Properties();
    props.setProperty("user", args[1]);
    props.setProperty("password", args[2]);
    props.setProperty("connectTimeout", "10");
    props.setProperty("socketTimeout", "30");
    try (Connection c = DriverManager.getConnection(args[0], props)) {
      switch (args[3]) {
        case "prepared": prepared(c); break;
        case "batch": batch(c); break;
        case "fetch": fetch(c); break;
        case "blocked": blocked(c); break;
        case "binary": binary(c); break;
        default:
          System.err.println("unknown scenario " + args[3]);
          System.exit(2);
      }
      out("done");
    } catch (SQLException e) {
      out("fatal", "sqlstate", e.getSQLState(), "message", String.valueOf(e.getMessage()));
      System.out.flush();
      System.exit(1);
    }
  }

  // ---- scenarios -------------------------------------------------------------------------------

  /** One PreparedStatement executed 12 times (named server-side statement, re-executed without Describe). */
  static void prepared(Connection c) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement("SELECT id, email, note, score FROM people WHERE id = ?")) {
      for (int i = 1; i <= 12; i++) {
        ps.setInt(1, i);
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            out("row", "iter", i, "id", rs.getInt(1), "email", rs.getString(2), "note", rs.getString(3), "score", rs.getDouble(4));
          }
        }
        out("exec", "iter", i, "serverPrepare", ps.unwrap(PGStatement.class).isUseServerPrepare());
      }
    }
    // a second statement returning several rows per execution, the e-mail under an alias
    try (PreparedStatement ps = c.prepareStatement("SELECT email AS contact, id FROM people WHERE id BETWEEN ? AND ? ORDER BY id")) {
      for (int i = 0; i < 10; i++) {
        ps.setInt(1, 20 + i * 3);
        ps.setInt(2, 22 + i * 3);
        int n = 0;
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            out("range", "iter", i, "id", rs.getInt(2), "email", rs.getString(1));
            n++;
          }
        }
        out("rangeCount", "iter", i, "n", n);
      }
    }
    // the names of the server-side prepared statements on this (upstream) connection
    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT name, statement FROM pg_prepared_statements ORDER BY name")) {
      while (rs.next()) out("serverStatement", "name", rs.getString(1), "statement", rs.getString(2));
    }
  }

  /** PreparedStatement and Statement batches of inserts, a batch with a blocked statement, then counts. */
  static void batch(Connection c) throws SQLException {
    try (PreparedStatement ins = c.prepareStatement("INSERT INTO batch_items (id, email, note) VALUES (?, ?, ?)")) {
      for (int i = 1; i <= 50; i++) {
        ins.setInt(1, i);
        ins.setString(2, "batch" + i + "@batch.example");
        ins.setString(3, "item " + i);
        ins.addBatch();
      }
      out("preparedBatch", "counts", join(ins.executeBatch()));
    }
    try (Statement st = c.createStatement()) {
      st.addBatch("INSERT INTO batch_items VALUES (1001, 'stmt1001@batch.example', 'stmt')");
      st.addBatch("INSERT INTO batch_items VALUES (1002, 'stmt1002@batch.example', 'stmt')");
      st.addBatch("UPDATE batch_items SET note = 'updated' WHERE id <= 5");
      out("statementBatch", "counts", join(st.executeBatch()));
    }
    // a batch whose middle statement a guardrail blocks: the batch fails with 42501, nothing of it stays
    try (Statement st = c.createStatement()) {
      st.addBatch("INSERT INTO batch_items VALUES (2001, 'x2001@batch.example', 'doomed')");
      st.addBatch("DELETE FROM batch_items");
      st.addBatch("INSERT INTO batch_items VALUES (2002, 'x2002@batch.example', 'doomed')");
      try {
        out("blockedBatch", "counts", join(st.executeBatch()));
      } catch (BatchUpdateException e) {
        SQLException next = e.getNextException();
        out("blockedBatchError", "sqlstate", e.getSQLState(), "message", String.valueOf(e.getMessage()),
            "nextSqlstate", next == null ? null : next.getSQLState(), "nextMessage", next == null ? null : String.valueOf(next.getMessage()),
            "counts", join(e.getUpdateCounts()));
      }
    }
    try (Statement st = c.createStatement()) {
      try (ResultSet rs = st.executeQuery("SELECT count(*), count(*) FILTER (WHERE note = 'updated') FROM batch_items")) {
        rs.next();
        out("count", "n", rs.getLong(1), "updated", rs.getLong(2));
      }
      try (ResultSet rs = st.executeQuery("SELECT id, email FROM batch_items ORDER BY id")) {
        while (rs.next()) out("row", "id", rs.getInt(1), "email", rs.getString(2));
      }
    }
  }

  /** Cursor-based fetch: Execute with a row limit, PortalSuspended, more Executes. */
  static void fetch(Connection c) throws SQLException {
    c.setAutoCommit(false);
    try (PreparedStatement ps = c.prepareStatement("SELECT id, email, note FROM people WHERE id > ? ORDER BY id")) {
      ps.setFetchSize(10);
      // twice: the second run re-uses the named statement (Bind/Execute without Describe)
      for (int round = 1; round <= 2; round++) {
        ps.setInt(1, 0);
        int n = 0;
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            out("row", "round", round, "id", rs.getInt(1), "email", rs.getString(2), "note", rs.getString(3));
            n++;
          }
        }
        out("count", "round", round, "n", n);
      }
    }
    c.commit();
    try (Statement st = c.createStatement()) {
      st.setFetchSize(7);
      int n = 0;
      try (ResultSet rs = st.executeQuery("SELECT id, email FROM people ORDER BY id")) {
        while (rs.next()) {
          out("row", "round", 3, "id", rs.getInt(1), "email", rs.getString(2), "note", null);
          n++;
        }
      }
      out("count", "round", 3, "n", n);
    }
    c.commit();
  }

  /** Blocked statements via PreparedStatement and Statement; the connection stays usable. */
  static void blocked(Connection c) throws SQLException {
    tryUpdate(c, "prepared-drop", "DROP TABLE people", true);
    tryUpdate(c, "statement-drop", "DROP TABLE people", false);
    tryUpdate(c, "prepared-delete", "DELETE FROM people", true);
    tryUpdate(c, "statement-truncate", "TRUNCATE people", false);
    tryUpdate(c, "prepared-update", "UPDATE people SET email = 'pwned@evil.example'", true);
    // still usable
    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT count(*) FROM people")) {
      rs.next();
      out("afterBlock", "n", rs.getLong(1));
    }
    // inside a transaction: the block aborts it on both sides, the earlier insert is rolled back
    c.setAutoCommit(false);
    try (PreparedStatement ins = c.prepareStatement("INSERT INTO batch_items (id, email, note) VALUES (?, ?, ?)")) {
      ins.setInt(1, 3001);
      ins.setString(2, "tx3001@batch.example");
      ins.setString(3, "in tx");
      out("txInsert", "n", ins.executeUpdate());
    }
    tryUpdate(c, "tx-drop", "DROP TABLE people", true);
    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT 1")) {
      rs.next();
      out("txAfterBlock", "ok", true);
    } catch (SQLException e) {
      out("txAfterBlock", "ok", false, "sqlstate", e.getSQLState());
    }
    c.rollback();
    c.setAutoCommit(true);
    try (PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM batch_items WHERE id = ?")) {
      ps.setInt(1, 3001);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        out("afterRollback", "n", rs.getLong(1));
      }
    }
  }

  /** binaryTransfer: binary results for numbers/dates (and, per the URL, text); masking still applies. */
  static void binary(Connection c) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement("SELECT id, email, note, score, born, amount FROM people WHERE id = ?")) {
      for (int i = 1; i <= 10; i++) {
        ps.setInt(1, i * 10);
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            out("row", "iter", i, "id", rs.getInt(1), "email", rs.getString(2), "note", rs.getString(3),
                "score", rs.getDouble(4), "born", String.valueOf(rs.getDate(5)), "amount", rs.getBigDecimal(6).toPlainString());
          }
        }
      }
    }
    c.setAutoCommit(false);
    try (PreparedStatement ps = c.prepareStatement("SELECT id, email, score FROM people WHERE id <= ? ORDER BY id")) {
      ps.setFetchSize(10);
      for (int round = 1; round <= 2; round++) {
        ps.setInt(1, 45);
        int n = 0;
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            out("fetchRow", "round", round, "id", rs.getInt(1), "email", rs.getString(2), "score", rs.getDouble(3));
            n++;
          }
        }
        out("fetchCount", "round", round, "n", n);
      }
    }
    c.commit();
    c.setAutoCommit(true);
  }

  // ---- helpers ---------------------------------------------------------------------------------

  static void tryUpdate(Connection c, String label, String sql, boolean prepared) {
    try {
      if (prepared) {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
          ps.executeUpdate();
        }
      } else {
        try (Statement st = c.createStatement()) {
          st.executeUpdate(sql);
        }
      }
      out("blocked", "label", label, "raised", false);
    } catch (SQLException e) {
      out("blocked", "label", label, "raised", true, "sqlstate", e.getSQLState(), "message", String.valueOf(e.getMessage()));
    }
  }

  static String join(int[] counts) {
    if (counts == null) return null;
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < counts.length; i++) {
      if (i > 0) sb.append(',');
      sb.append(counts[i]);
    }
    return sb.toString();
  }

  static void out(String kind, Object... kv) {
    StringBuilder sb = new StringBuilder("{\"kind\":");
    str(sb, kind);
    for (int i = 0; i + 1 < kv.length; i += 2) {
      sb.append(',');
      str(sb, String.valueOf(kv[i]));
      sb.append(':');
      Object v = kv[i + 1];
      if (v == null) sb.append("null");
      else if (v instanceof Boolean || v instanceof Integer || v instanceof Long) sb.append(v);
      else if (v instanceof Double) {
        double d = (Double) v;
        if (Double.isFinite(d)) sb.append(d);
        else str(sb, String.valueOf(d));
      } else str(sb, String.valueOf(v));
    }
    sb.append('}');
    System.out.println(sb);
  }

  static void str(StringBuilder sb, String s) {
    sb.append('"');
    for (int i = 0; i < s.length(); i++) {
      char ch = s.charAt(i);
      switch (ch) {
        case '"': sb.append("\\\""); break;
        case '\\': sb.append("\\\\"); break;
        case '\n': sb.append("\\n"); break;
        case '\r': sb.append("\\r"); break;
        case '\t': sb.append("\\t"); break;
        default:
          if (ch < 0x20) sb.append(String.format("\\u%04x", (int) ch));
          else sb.append(ch);
      }
    }
    sb.append('"');
  }
}
