// PostgreSQL's own parser as a C library (Debian: libpg-query-dev), linked statically by Package.swift.
#include <pg_query.h>
