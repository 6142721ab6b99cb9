#ifndef APP_PG_PARSER_H
#define APP_PG_PARSER_H

// PostgreSQL's own parser (libpg_query, Debian's libpg-query-dev), carried inside the binary as its
// shared library and loaded from memory the first time it is asked for: a process that lints nothing
// maps none of it and relocates none of its 8 000 pointers (docs/safety.md).
#include <pg_query.h>

/// Loads the parser, once per process; later calls return the first call's answer. NULL once it is
/// loaded, else why it could not be (the loader's words; static storage, never freed).
const char *app_pg_parser_load(void);

/// libpg_query's functions of the same names (`pg_query_…`). Only after `app_pg_parser_load`
/// returned NULL.
PgQueryParseResult app_pg_query_parse(const char *sql);
void app_pg_query_free_parse_result(PgQueryParseResult result);
PgQuerySplitResult app_pg_query_split_with_scanner(const char *sql);
void app_pg_query_free_split_result(PgQuerySplitResult result);

#endif
