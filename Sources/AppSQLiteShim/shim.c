// The server's own part of SQLite: each connection's settings, made while it opens, and the
// transactional migrations of a run applied in one call on SQLite's own thread, the migrator's
// "whole" path on SQLite (see docs/migrations.md, "How a run works").
//
// SQLiteNIO runs one statement per call, each a hop to its thread pool and back; a migration is
// seven of them. This registers an SQL function, `app_migrate_batch(run, migrations)`, that does
// what those seven do, for each migration in turn, on the connection it is called on:
//
//   BEGIN IMMEDIATE      (busy past the connection's busy timeout: stop, nothing open)
//   check                (a SELECT that must answer 1: the history is the one the runner expects;
//                         otherwise ROLLBACK and stop. After the call's first migration it runs only
//                         when another connection committed since this one's last COMMIT, as
//                         `PRAGMA data_version` tells: otherwise the history is the one this call
//                         left, which is the one the runner expects. The version is read inside each
//                         transaction, where no other connection can commit, never after the COMMIT:
//                         another runner can commit the moment the write lock is released, and a
//                         version read then would count that commit as seen)
//   each statement       (the migration's own, then its history rows, in which the parameter
//                         :app_migrate_ms is bound to the milliseconds the migration took)
//   COMMIT
//   progress             (the run's handler is told: the migration's index and milliseconds)
//
// and returns how many it committed. Any error rolls that migration back and becomes the function's
// error, with the failing statement's own message and extended result code, as the statement would
// have failed on its own; the migrations before it stay committed, each already reported.
//
// `run` is a number the server registered (app_sqlite_shim_register_run) just before the call, with
// its handler; a call naming any other number is refused before it does anything. So SQL, a
// migration's included, cannot reach the handler: it cannot know the number, and inside the call a
// transaction is open, where the function refuses to run. `migrations` is a blob: for each migration,
// two native-endian uint32s (its own statements, and all its statements with the history rows), the
// check and then each statement, each ending in a NUL byte.
//
// The SQLite library is the one SQLiteNIO links in (its vendored copy, every symbol prefixed
// `sqlite_nio_`); these prototypes are those of sqlite3.h under that prefix.

// clock_gettime and strdup are POSIX.
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
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
int64_t sqlite_nio_sqlite3_column_int64(sqlite3_stmt *, int);
int sqlite_nio_sqlite3_reset(sqlite3_stmt *);
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

/// The runs registered for a call, at most a few at once (one per migrating connection). A token of 0
/// marks a free slot.
#define RUN_SLOTS 16
static struct {
    int64_t token;
    app_migrate_progress progress;
    void *context;
} runs[RUN_SLOTS];
static pthread_mutex_t runs_lock = PTHREAD_MUTEX_INITIALIZER;

/// The slot holding `token` (0: a free one), or -1; with `runs_lock` held.
static int slot_of(int64_t token) {
    for (int i = 0; i < RUN_SLOTS; i++) {
        if (runs[i].token == token) return i;
    }
    return -1;
}

int app_sqlite_shim_register_run(int64_t token, app_migrate_progress progress, void *context) {
    if (token == 0 || progress == NULL) return -1;
    pthread_mutex_lock(&runs_lock);
    int slot = slot_of(token) < 0 ? slot_of(0) : -1;
    if (slot >= 0) {
        runs[slot].token = token;
        runs[slot].progress = progress;
        runs[slot].context = context;
    }
    pthread_mutex_unlock(&runs_lock);
    return slot >= 0 ? 0 : -1;
}

void app_sqlite_shim_unregister_run(int64_t token) {
    if (token == 0) return;
    pthread_mutex_lock(&runs_lock);
    int slot = slot_of(token);
    if (slot >= 0) runs[slot].token = 0;
    pthread_mutex_unlock(&runs_lock);
}

static int is_registered(int64_t token) {
    if (token == 0) return 0;
    pthread_mutex_lock(&runs_lock);
    int found = slot_of(token) >= 0;
    pthread_mutex_unlock(&runs_lock);
    return found;
}

/// Tells the run's handler of a commit, under the lock: a run forgotten meanwhile (its caller gone) is
/// told nothing, and none can be forgotten (its context freed) while it is being told.
static void report(int64_t token, int64_t index, int64_t milliseconds) {
    pthread_mutex_lock(&runs_lock);
    int slot = token != 0 ? slot_of(token) : -1;
    if (slot >= 0) runs[slot].progress(runs[slot].context, index, milliseconds);
    pthread_mutex_unlock(&runs_lock);
}

static void refuse(sqlite3_context *context, const char *message) {
    sqlite_nio_sqlite3_result_error(context, message, -1);
    sqlite_nio_sqlite3_result_error_code(context, SQLITE_MISUSE);
}

/// The NUL-terminated text at `*offset` in `blob` (`bytes` long), moving `*offset` past it; NULL when
/// it does not end inside the blob.
static const char *next_text(const char *blob, int bytes, int *offset, int *length) {
    if (*offset >= bytes) return NULL;
    const char *text = blob + *offset;
    const char *end = memchr(text, '\0', (size_t)(bytes - *offset));
    if (end == NULL) return NULL;
    *length = (int)(end - text);
    *offset += *length + 1;
    return text;
}

static int next_count(const char *blob, int bytes, int *offset, uint32_t *value) {
    if (bytes - *offset < (int)sizeof(uint32_t)) return 0;
    memcpy(value, blob + *offset, sizeof(uint32_t));
    *offset += (int)sizeof(uint32_t);
    return 1;
}

/// After `fail`, which reads the connection's error first: finalizing may clear it.
static void finish(sqlite3_stmt *statement) {
    if (statement != NULL) sqlite_nio_sqlite3_finalize(statement);
}

/// `PRAGMA data_version` through `statement`, prepared once per call: it changes when another
/// connection commits to the file, and only then. -1 when it cannot be read.
static int64_t data_version(sqlite3_stmt *statement) {
    if (statement == NULL) return -1;
    int64_t version = -1;
    if (sqlite_nio_sqlite3_step(statement) == SQLITE_ROW) version = sqlite_nio_sqlite3_column_int64(statement, 0);
    sqlite_nio_sqlite3_reset(statement);
    return version;
}

static void migrate_batch(sqlite3_context *context, int argc, sqlite3_value **argv) {
    (void)argc;
    sqlite3 *db = sqlite_nio_sqlite3_context_db_handle(context);
    int64_t token = sqlite_nio_sqlite3_value_int64(argv[0]);
    if (!is_registered(token)) {
        refuse(context, "app_migrate_batch: not a run of this server");
        return;
    }
    if (!sqlite_nio_sqlite3_get_autocommit(db)) {
        refuse(context, "app_migrate_batch: a transaction is already open");
        return;
    }
    const char *blob = (const char *)sqlite_nio_sqlite3_value_blob(argv[1]);
    int bytes = sqlite_nio_sqlite3_value_bytes(argv[1]);
    if (blob == NULL && bytes > 0) {
        refuse(context, "app_migrate_batch: malformed arguments");
        return;
    }

    // The whole blob is read before any of it runs.
    for (int offset = 0; offset < bytes;) {
        uint32_t own = 0, total = 0;
        int length = 0;
        int whole = next_count(blob, bytes, &offset, &own) && next_count(blob, bytes, &offset, &total) && own <= total;
        for (uint32_t i = 0; whole && i <= total; i++) whole = next_text(blob, bytes, &offset, &length) != NULL;
        if (!whole) {
            refuse(context, "app_migrate_batch: malformed arguments");
            return;
        }
    }

    sqlite3_stmt *version_statement = NULL;
    if (sqlite_nio_sqlite3_prepare_v2(db, "PRAGMA data_version", -1, &version_statement, NULL) != SQLITE_OK) {
        version_statement = NULL;  // every migration's history is checked then
    }
    // The data version inside the transaction of this call's last COMMIT; -1 before the first.
    int64_t committed_version = -1;
    int64_t applied = 0;
    for (int offset = 0; offset < bytes; applied++) {
        uint32_t own = 0, total = 0;
        int length = 0;
        next_count(blob, bytes, &offset, &own);
        next_count(blob, bytes, &offset, &total);
        const char *check = next_text(blob, bytes, &offset, &length);

        int rc = run(db, "BEGIN IMMEDIATE", -1, -1, NULL);
        if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) break;
        if (rc != SQLITE_OK) { fail(context, db); finish(version_statement); return; }

        // Inside the transaction: it stays this until this connection's COMMIT (a connection's own
        // commits leave its data version as it was), and no other connection can commit before that.
        int64_t version = data_version(version_statement);
        int unchanged = committed_version >= 0 && version == committed_version;
        if (!unchanged && run(db, check, -1, -1, &unchanged) != SQLITE_OK) {
            fail(context, db);
            finish(version_statement);
            return;
        }
        if (unchanged != 1) {
            run(db, "ROLLBACK", -1, -1, NULL);
            break;
        }

        int64_t started = now_ms();
        int64_t ms = -1;
        for (uint32_t index = 0; index < total; index++) {
            const char *sql = next_text(blob, bytes, &offset, &length);
            if (index == own) ms = now_ms() - started;
            if (run(db, sql, length, index >= own ? ms : -1, NULL) != SQLITE_OK) {
                fail(context, db);
                finish(version_statement);
                return;
            }
        }
        if (ms < 0) ms = now_ms() - started;
        if (run(db, "COMMIT", -1, -1, NULL) != SQLITE_OK) { fail(context, db); finish(version_statement); return; }
        committed_version = version;
        report(token, applied, ms);
    }
    finish(version_statement);
    sqlite_nio_sqlite3_result_int64(context, applied);
}

/// 1 while a transaction is open on the connection, else 0: whether it can be handed to the next caller.
static void in_transaction(sqlite3_context *context, int argc, sqlite3_value **argv) {
    (void)argc;
    (void)argv;
    sqlite3 *db = sqlite_nio_sqlite3_context_db_handle(context);
    sqlite_nio_sqlite3_result_int64(context, sqlite_nio_sqlite3_get_autocommit(db) ? 0 : 1);
}

/// Every new connection: foreign keys enforced, set here on SQLite's own thread during the open
/// rather than by a statement and a hop to the thread pool afterwards, and the functions above. (The
/// busy timeout cannot be set here: SQLiteNIO installs a busy handler of its own after the open,
/// which waits for ever, and the server replaces it with each connection's timeout.)
static int set_up_connection(sqlite3 *db, char **error, const void *api) {
    (void)error;
    (void)api;
    int rc = sqlite_nio_sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
    if (rc != SQLITE_OK) return rc;
    // Direct only: callable from the server's own top-level SQL, never from a trigger or view a
    // database file could bring with it.
    rc = sqlite_nio_sqlite3_create_function_v2(db, "app_migrate_batch", 2, SQLITE_UTF8 | SQLITE_DIRECTONLY, NULL, migrate_batch, NULL, NULL, NULL);
    if (rc != SQLITE_OK) return rc;
    return sqlite_nio_sqlite3_create_function_v2(db, "app_in_transaction", 0, SQLITE_UTF8 | SQLITE_DIRECTONLY, NULL, in_transaction, NULL, NULL, NULL);
}

int app_sqlite_shim_install(void) {
    return sqlite_nio_sqlite3_auto_extension((void (*)(void))set_up_connection);
}
