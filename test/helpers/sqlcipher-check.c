/*
 * sqlcipher-check: an independent SQLCipher for the tests (never the driver that wrote the file).
 *
 * Built by test/helpers/sqlcipher.ts from the SQLCipher 4.5.5 amalgamation of the npm package
 * @commapp/sqlcipher-amalgamation, with OpenSSL's libcrypto:
 *
 *   sqlcipher-check [--compat N] <database>
 *
 * The key is read from the environment variable SQLCIPHER_CHECK_KEY (never from argv, where `ps`
 * would show it) and given as pywry gives it: PRAGMA key = '<key>'. With --compat N,
 * `PRAGMA cipher_compatibility = N` follows the key (3 reads SQLCipher 3 files). The SQL, one or
 * more statements, is read from stdin; every row of every statement is printed on stdout as one
 * JSON object per line ({"column": value, ...}; a blob is {"blob": "<hex>"}). On any error the
 * message goes to stderr as one line and the exit code is 1 (2 for bad usage).
 *
 * The file is opened read-write but never created: a missing file is an error, not a new database.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sqlite3.h"

static void print_json_string(const unsigned char *text, int length) {
  putchar('"');
  for (int i = 0; i < length; i++) {
    unsigned char c = text[i];
    switch (c) {
      case '"': fputs("\\\"", stdout); break;
      case '\\': fputs("\\\\", stdout); break;
      case '\n': fputs("\\n", stdout); break;
      case '\r': fputs("\\r", stdout); break;
      case '\t': fputs("\\t", stdout); break;
      default:
        if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
  }
  putchar('"');
}

static void print_row(sqlite3_stmt *stmt) {
  int columns = sqlite3_column_count(stmt);
  putchar('{');
  for (int i = 0; i < columns; i++) {
    if (i > 0) putchar(',');
    const char *name = sqlite3_column_name(stmt, i);
    print_json_string((const unsigned char *)name, (int)strlen(name));
    putchar(':');
    switch (sqlite3_column_type(stmt, i)) {
      case SQLITE_INTEGER: printf("%lld", (long long)sqlite3_column_int64(stmt, i)); break;
      case SQLITE_FLOAT: printf("%.17g", sqlite3_column_double(stmt, i)); break;
      case SQLITE_NULL: fputs("null", stdout); break;
      case SQLITE_TEXT: print_json_string(sqlite3_column_text(stmt, i), sqlite3_column_bytes(stmt, i)); break;
      default: {
        const unsigned char *blob = sqlite3_column_blob(stmt, i);
        int length = sqlite3_column_bytes(stmt, i);
        fputs("{\"blob\":\"", stdout);
        for (int j = 0; j < length; j++) printf("%02x", blob[j]);
        fputs("\"}", stdout);
      }
    }
  }
  fputs("}\n", stdout);
}

static char *read_all(FILE *in) {
  size_t size = 0, capacity = 4096;
  char *buffer = malloc(capacity);
  if (!buffer) return NULL;
  size_t got;
  while ((got = fread(buffer + size, 1, capacity - size - 1, in)) > 0) {
    size += got;
    if (capacity - size - 1 == 0) {
      capacity *= 2;
      char *grown = realloc(buffer, capacity);
      if (!grown) { free(buffer); return NULL; }
      buffer = grown;
    }
  }
  buffer[size] = '\0';
  return buffer;
}

static int fail(sqlite3 *db, const char *doing) {
  fprintf(stderr, "sqlcipher-check: %s: %s\n", doing, db ? sqlite3_errmsg(db) : "out of memory");
  sqlite3_close_v2(db);
  return 1;
}

/* Runs every statement of `sql`, printing the rows of each. */
static int exec_printing(sqlite3 *db, const char *sql) {
  const char *rest = sql;
  while (rest && *rest) {
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db, rest, -1, &stmt, &rest) != SQLITE_OK) return 0;
    if (!stmt) continue; /* whitespace or a comment */
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) print_row(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) return 0;
  }
  return 1;
}

int main(int argc, char **argv) {
  const char *compat = NULL;
  const char *path = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--compat") == 0 && i + 1 < argc) compat = argv[++i];
    else if (!path && argv[i][0] != '-') path = argv[i];
    else { fprintf(stderr, "usage: sqlcipher-check [--compat N] <database> < statements.sql\n"); return 2; }
  }
  if (!path) { fprintf(stderr, "usage: sqlcipher-check [--compat N] <database> < statements.sql\n"); return 2; }
  if (compat && (strcmp(compat, "3") != 0 && strcmp(compat, "4") != 0)) {
    fprintf(stderr, "sqlcipher-check: --compat takes 3 or 4\n");
    return 2;
  }

  sqlite3 *db = NULL;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) return fail(db, "open");

  const char *key = getenv("SQLCIPHER_CHECK_KEY");
  if (key) {
    char *pragma = sqlite3_mprintf("PRAGMA key = %Q;", key);
    if (!pragma) return fail(NULL, "key");
    int ok = sqlite3_exec(db, pragma, NULL, NULL, NULL) == SQLITE_OK;
    sqlite3_free(pragma);
    if (!ok) return fail(db, "PRAGMA key");
  }
  if (compat) {
    char *pragma = sqlite3_mprintf("PRAGMA cipher_compatibility = %s;", compat);
    int ok = pragma && sqlite3_exec(db, pragma, NULL, NULL, NULL) == SQLITE_OK;
    sqlite3_free(pragma);
    if (!ok) return fail(db, "PRAGMA cipher_compatibility");
  }

  char *sql = read_all(stdin);
  if (!sql) return fail(NULL, "reading stdin");
  int ok = exec_printing(db, sql);
  free(sql);
  if (!ok) return fail(db, "SQL");
  fflush(stdout);
  if (sqlite3_close_v2(db) != SQLITE_OK) return fail(db, "close");
  return 0;
}
