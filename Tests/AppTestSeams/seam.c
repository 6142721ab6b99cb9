// A test's seam inside SQLite: a handler called right after a connection commits to a file in
// write-ahead-log mode, before that connection runs anything more (SQLite's WAL hook, which runs inside
// the COMMIT's own step once the commit is done and the write lock released). The tests use it to land
// another runner's commit at the one moment no statement of the server's can reach. Only the tests
// link this.
//
// The WAL hook cannot be set while a connection opens: the open sets SQLite's automatic checkpoints
// after the auto-extensions ran, and they are a WAL hook too. It is set from the connection's commit
// hook, which runs inside each commit just before the WAL hook would.

// realpath is X/Open, strdup POSIX.
#define _XOPEN_SOURCE 700

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "app_test_seams.h"

typedef struct sqlite3 sqlite3;

int sqlite_nio_sqlite3_auto_extension(void (*entry)(void));
int sqlite_nio_sqlite3_cancel_auto_extension(void (*entry)(void));
void *sqlite_nio_sqlite3_commit_hook(sqlite3 *db, int (*hook)(void *), void *context);
void *sqlite_nio_sqlite3_wal_hook(sqlite3 *db, int (*hook)(void *, sqlite3 *, const char *, int), void *context);
const char *sqlite_nio_sqlite3_db_filename(sqlite3 *db, const char *name);

// The handler is called under this lock, so unwatching waits for a call under way.
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *watched = NULL;
static app_test_after_commit handler = NULL;
static void *handler_context = NULL;

static int committed(void *context, sqlite3 *db, const char *name, int pages) {
    (void)context;
    (void)db;
    (void)name;
    (void)pages;
    pthread_mutex_lock(&lock);
    if (handler != NULL) handler(handler_context);
    pthread_mutex_unlock(&lock);
    return 0;
}

/// Lets the commit go on (0), with the WAL hook set for after it.
static int committing(void *db) {
    sqlite_nio_sqlite3_wal_hook(db, committed, NULL);
    return 0;
}

static int on_open(sqlite3 *db, char **error, const void *api) {
    (void)error;
    (void)api;
    const char *file = sqlite_nio_sqlite3_db_filename(db, "main");
    char resolved[PATH_MAX];
    if (file == NULL || realpath(file, resolved) == NULL) return 0;
    pthread_mutex_lock(&lock);
    int match = watched != NULL && strcmp(watched, resolved) == 0;
    pthread_mutex_unlock(&lock);
    if (match) sqlite_nio_sqlite3_commit_hook(db, committing, db);
    return 0;
}

int app_test_watch_commits(const char *path, app_test_after_commit after, void *context) {
    char resolved[PATH_MAX];
    if (realpath(path, resolved) == NULL) return -1;
    pthread_mutex_lock(&lock);
    if (watched != NULL) {
        pthread_mutex_unlock(&lock);
        return -1;
    }
    watched = strdup(resolved);
    handler = after;
    handler_context = context;
    pthread_mutex_unlock(&lock);
    if (sqlite_nio_sqlite3_auto_extension((void (*)(void))on_open) == 0) return 0;
    app_test_unwatch_commits();
    return -1;
}

void app_test_unwatch_commits(void) {
    sqlite_nio_sqlite3_cancel_auto_extension((void (*)(void))on_open);
    pthread_mutex_lock(&lock);
    free(watched);
    watched = NULL;
    handler = NULL;
    handler_context = NULL;
    pthread_mutex_unlock(&lock);
}
