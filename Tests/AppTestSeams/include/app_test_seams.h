#ifndef APP_TEST_SEAMS_H
#define APP_TEST_SEAMS_H

/// Called on SQLite's thread right after a connection to the watched file committed in write-ahead-log
/// mode, inside the COMMIT's own step: the commit is done and the write lock released, and the
/// connection has run nothing more.
/// It runs under the seam's lock: it must not open an SQLite connection in this process (another
/// process's is fine), nor watch or unwatch.
typedef void (*app_test_after_commit)(void *context);

/// Watches the SQLite file at `path`: every connection to it opened from now on (through the SQLite
/// that SQLiteNIO links in) calls `after_commit` with `context` after each of its commits,
/// until `app_test_unwatch_commits`. One file at a time; returns 0, or -1 when a file is watched
/// already or the path cannot be resolved. (On those connections the handler takes the place of
/// SQLite's automatic checkpoints, and of any commit hook.)
int app_test_watch_commits(const char *path, app_test_after_commit after_commit, void *context);

/// Stops calling the handler; once this returns, it is not running and will not run again.
void app_test_unwatch_commits(void);

#endif
