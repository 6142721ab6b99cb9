/* libpg_query's shared library, as Debian installs it (APP_PG_QUERY_SO: its path, found by
   Package.swift), as bytes of the binary. Nothing reads them until the parser is loaded (loader.c),
   and nothing writes them. */
        .section .rodata.app_pg_query_so, "a"
        .balign 4096
        .globl app_pg_query_so
        .hidden app_pg_query_so
app_pg_query_so:
        .incbin APP_PG_QUERY_SO
        .globl app_pg_query_so_end
        .hidden app_pg_query_so_end
app_pg_query_so_end:

        .section .note.GNU-stack, "", @progbits
