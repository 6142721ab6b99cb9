#ifndef APP_SQLITE_SHIM_H
#define APP_SQLITE_SHIM_H

/// Sets up every SQLite connection opened after this call (an SQLite auto-extension): foreign keys
/// on, and the function `app_migrate_whole`. Idempotent. Returns SQLite's result code (0 when
/// registered).
int app_sqlite_shim_install(void);

/// The function's refusals, returned in place of the run time: nothing ran, nothing is open.
#define APP_MIGRATE_WHOLE_LOCK_BUSY (-1)
#define APP_MIGRATE_WHOLE_HISTORY_CHANGED (-2)

#endif
