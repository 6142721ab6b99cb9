// The server's own part of SQLite: each connection's settings, made while it opens, and one
// transactional migration applied in one call on SQLite's own thread, the migrator's "whole" path
// on SQLite (see docs/migrations.md, "How a run works").
//
// SQLiteNIO runs one statement per call, each a hop to its thread pool and back; a migration is
// seven of them. This registers an SQL function, `app_migrate_whole(check, statements, count)`,
// that does what those seven do, in order, on the connection it is called on:
//
//   BEGIN IMMEDIATE      (busy past the connection's busy timeout: returns -1, nothing open)
//   check                (a SELECT that must answer 1: the history is the one the runner read;
//                         otherwise ROLLBACK and return -2)
//   each statement       (the migration's first `count`, then its history rows, in which the
//                         parameter :app_migrate_ms is bound to the milliseconds the migration took)
//   COMMIT
//
// and returns the migration's milliseconds. Any error rolls the transaction back and becomes the
// function's error, with the failing statement's own message and extended result code, as the
// statement would have failed on its own. `statements` is a blob of NUL-terminated statements.
//
// The SQLite library is the one SQLiteNIO links in (its vendored copy, every symbol prefixed
// `sqlite_nio_`); these prototypes are those of sqlite3.h under that prefix.

// clock_gettime and strdup are POSIX.
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "app_sqlite_shim.h"

typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
typedef struct sqlite3_context sqlite3_context;
typedef struct sqlite3_value sqlite3_value;

#define SQLITE_OK 0
#define SQLITE_ERROR 1
#define SQLITE_BUSY 5
#define SQLITE_LOCKED 6
#define SQLITE_MISUSE 21
#define SQLITE_ROW 100
#define SQLITE_DONE 101
#define SQLITE_UTF8 1
#define SQLITE_DIRECTONLY 0x000080000
#define SQLITE_INTEGER 1

int sqlite_nio_sqlite3_auto_extension(void (*entry)(void));
int sqlite_nio_sqlite3_exec(sqlite3 *, const char *, int (*)(void *, int, char **, char **), void *, char **);
sqlite3 *sqlite_nio_sqlite3_context_db_handle(sqlite3_context *);
int sqlite_nio_sqlite3_create_function_v2(
    sqlite3 *, const char *, int, int, void *,
    void (*)(sqlite3_context *, int, sqlite3_value **),
    void (*)(sqlite3_context *, int, sqlite3_value **),
    void (*)(sqlite3_context *), void (*)(void *));
int sqlite_nio_sqlite3_prepare_v2(sqlite3 *, const char *, int, sqlite3_stmt **, const char **);
int sqlite_nio_sqlite3_step(sqlite3_stmt *);
int sqlite_nio_sqlite3_finalize(sqlite3_stmt *);
int sqlite_nio_sqlite3_column_int(sqlite3_stmt *, int);
int sqlite_nio_sqlite3_column_type(sqlite3_stmt *, int);
int sqlite_nio_sqlite3_bind_parameter_index(sqlite3_stmt *, const char *);
int sqlite_nio_sqlite3_bind_int64(sqlite3_stmt *, int, int64_t);
const char *sqlite_nio_sqlite3_errmsg(sqlite3 *);
int sqlite_nio_sqlite3_extended_errcode(sqlite3 *);
int sqlite_nio_sqlite3_get_autocommit(sqlite3 *);
const unsigned char *sqlite_nio_sqlite3_value_text(sqlite3_value *);
const void *sqlite_nio_sqlite3_value_blob(sqlite3_value *);
int sqlite_nio_sqlite3_value_bytes(sqlite3_value *);
int64_t sqlite_nio_sqlite3_value_int64(sqlite3_value *);
void sqlite_nio_sqlite3_result_int64(sqlite3_context *, int64_t);
void sqlite_nio_sqlite3_result_error(sqlite3_context *, const char *, int);
void sqlite_nio_sqlite3_result_error_code(sqlite3_context *, int);

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/// Runs one statement to its end, rows discarded. `ms` >= 0 is bound to :app_migrate_ms.
/// `answer` (may be NULL) receives the first column of the first row as an integer.
static int run(sqlite3 *db, const char *sql, int length, int64_t ms, int *answer) {
    sqlite3_stmt *statement = NULL;
    int rc = sqlite_nio_sqlite3_prepare_v2(db, sql, length, &statement, NULL);
    if (rc != SQLITE_OK) return rc;
    if (statement == NULL) return SQLITE_OK;  // only a comment or whitespace
    if (ms >= 0) {
        int index = sqlite_nio_sqlite3_bind_parameter_index(statement, ":app_migrate_ms");
        if (index > 0) sqlite_nio_sqlite3_bind_int64(statement, index, ms);
    }
    int first = 1;
    while ((rc = sqlite_nio_sqlite3_step(statement)) == SQLITE_ROW) {
        if (answer && first) *answer = sqlite_nio_sqlite3_column_type(statement, 0) == SQLITE_INTEGER ? sqlite_nio_sqlite3_column_int(statement, 0) : 0;
        first = 0;
    }
    if (rc != SQLITE_DONE) {
        // The step's error, which finalize reports again; keep the step's code.
        sqlite_nio_sqlite3_finalize(statement);
        return rc;
    }
    return sqlite_nio_sqlite3_finalize(statement);
}

/// Reports the connection's current error as the function's, after rolling back whatever is open.
static void fail(sqlite3_context *context, sqlite3 *db) {
    int code = sqlite_nio_sqlite3_extended_errcode(db);
    char *message = strdup(sqlite_nio_sqlite3_errmsg(db));
    if (!sqlite_nio_sqlite3_get_autocommit(db)) run(db, "ROLLBACK", -1, -1, NULL);
    sqlite_nio_sqlite3_result_error(context, message ? message : "out of memory", -1);
    sqlite_nio_sqlite3_result_error_code(context, code == SQLITE_OK ? SQLITE_ERROR : code);
    free(message);
}

static void migrate_whole(sqlite3_context *context, int argc, sqlite3_value **argv) {
    (void)argc;
    sqlite3 *db = sqlite_nio_sqlite3_context_db_handle(context);
    if (!sqlite_nio_sqlite3_get_autocommit(db)) {
        sqlite_nio_sqlite3_result_error(context, "app_migrate_whole: a transaction is already open", -1);
        sqlite_nio_sqlite3_result_error_code(context, SQLITE_MISUSE);
        return;
    }
    const char *check = (const char *)sqlite_nio_sqlite3_value_text(argv[0]);
    const char *blob = (const char *)sqlite_nio_sqlite3_value_blob(argv[1]);
    int bytes = sqlite_nio_sqlite3_value_bytes(argv[1]);
    int64_t count = sqlite_nio_sqlite3_value_int64(argv[2]);
    if (check == NULL || (blob == NULL && bytes > 0) || (bytes > 0 && blob[bytes - 1] != '\0')) {
        sqlite_nio_sqlite3_result_error(context, "app_migrate_whole: malformed arguments", -1);
        sqlite_nio_sqlite3_result_error_code(context, SQLITE_MISUSE);
        return;
    }

    int rc = run(db, "BEGIN IMMEDIATE", -1, -1, NULL);
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
        sqlite_nio_sqlite3_result_int64(context, APP_MIGRATE_WHOLE_LOCK_BUSY);
        return;
    }
    if (rc != SQLITE_OK) { fail(context, db); return; }

    int unchanged = 0;
    if (run(db, check, -1, -1, &unchanged) != SQLITE_OK) { fail(context, db); return; }
    if (unchanged != 1) {
        run(db, "ROLLBACK", -1, -1, NULL);
        sqlite_nio_sqlite3_result_int64(context, APP_MIGRATE_WHOLE_HISTORY_CHANGED);
        return;
    }

    int64_t started = now_ms();
    int64_t ms = -1;
    int64_t index = 0;
    for (int offset = 0; offset < bytes; index++) {
        const char *sql = blob + offset;
        int length = (int)strlen(sql);
        offset += length + 1;
        if (index == count) ms = now_ms() - started;
        if (run(db, sql, length, index >= count ? ms : -1, NULL) != SQLITE_OK) { fail(context, db); return; }
    }
    if (ms < 0) ms = now_ms() - started;
    if (run(db, "COMMIT", -1, -1, NULL) != SQLITE_OK) { fail(context, db); return; }
    sqlite_nio_sqlite3_result_int64(context, ms);
}

/// 1 while a transaction is open on the connection, else 0: whether it can be handed to the next caller.
static void in_transaction(sqlite3_context *context, int argc, sqlite3_value **argv) {
    (void)argc;
    (void)argv;
    sqlite3 *db = sqlite_nio_sqlite3_context_db_handle(context);
    sqlite_nio_sqlite3_result_int64(context, sqlite_nio_sqlite3_get_autocommit(db) ? 0 : 1);
}

/// Every new connection: foreign keys enforced, set here on SQLite's own thread during the open
/// rather than by a statement and a hop to the thread pool afterwards, and the function above. (The
/// busy timeout cannot be set here: SQLiteNIO installs a busy handler of its own after the open,
/// which waits for ever, and the server replaces it with each connection's timeout.)
static int set_up_connection(sqlite3 *db, char **error, const void *api) {
    (void)error;
    (void)api;
    int rc = sqlite_nio_sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
    if (rc != SQLITE_OK) return rc;
    // Direct only: callable from the server's own top-level SQL, never from a trigger or view a
    // database file could bring with it.
    rc = sqlite_nio_sqlite3_create_function_v2(db, "app_migrate_whole", 3, SQLITE_UTF8 | SQLITE_DIRECTONLY, NULL, migrate_whole, NULL, NULL, NULL);
    if (rc != SQLITE_OK) return rc;
    return sqlite_nio_sqlite3_create_function_v2(db, "app_in_transaction", 0, SQLITE_UTF8 | SQLITE_DIRECTONLY, NULL, in_transaction, NULL, NULL, NULL);
}

int app_sqlite_shim_install(void) {
    return sqlite_nio_sqlite3_auto_extension((void (*)(void))set_up_connection);
}
