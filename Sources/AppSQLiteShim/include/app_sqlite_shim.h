#ifndef APP_SQLITE_SHIM_H
#define APP_SQLITE_SHIM_H

#include <stdint.h>

/// Sets up every SQLite connection opened after this call (an SQLite auto-extension): foreign keys
/// on, and the functions `app_migrate_batch` and `app_in_transaction`. Idempotent. Returns SQLite's
/// result code (0 when registered).
int app_sqlite_shim_install(void);

/// Told, on SQLite's thread, of each migration `app_migrate_batch` committed: its index in the call
/// and its run time in milliseconds. It runs under the registry's lock: it must not register or
/// forget a run.
typedef void (*app_migrate_progress)(void *context, int64_t index, int64_t milliseconds);

/// Lets one call of `app_migrate_batch` name `token` (not 0, and not registered already), whose
/// migrations are then reported to `progress` with `context`. Returns 0, or -1 when it cannot.
int app_sqlite_shim_register_run(int64_t token, app_migrate_progress progress, void *context);

/// Forgets `token`: a call naming it is refused from now on, and a call under way with it tells its
/// handler nothing more. Once this returns, the handler is not running and will not run for it: its
/// context can be freed.
void app_sqlite_shim_unregister_run(int64_t token);

#endif
