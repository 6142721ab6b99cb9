#define _GNU_SOURCE
#include "app_pg_parser.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U  // Linux 6.3: the file may be mapped executable even where memfd_noexec says not by default
#endif

extern const unsigned char app_pg_query_so[];
extern const unsigned char app_pg_query_so_end[];

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const char *failure;
static char failure_text[512];

static PgQueryParseResult (*parse)(const char *);
static void (*free_parse_result)(PgQueryParseResult);
static PgQuerySplitResult (*split_with_scanner)(const char *);
static void (*free_split_result)(PgQuerySplitResult);

static void fail(const char *what, const char *why) {
    snprintf(failure_text, sizeof failure_text, "%s: %s", what, why);
    failure = failure_text;
}

// The library's bytes into `fd`, all of them; false (and `failure` set) otherwise.
static int write_library(int fd) {
    const unsigned char *at = app_pg_query_so;
    while (at < app_pg_query_so_end) {
        ssize_t written = write(fd, at, (size_t)(app_pg_query_so_end - at));
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) {
            fail("writing the library to memory", written < 0 ? strerror(errno) : "nothing written");
            return 0;
        }
        at += written;
    }
    return 1;
}

// The library's bytes into an anonymous in-memory file, opened by the loader through /proc: no file
// on disk is written, so a read-only or no-exec file system does not matter.
static void load(void) {
    int fd = memfd_create("libpg_query.so", MFD_CLOEXEC | MFD_EXEC);
    if (fd < 0 && errno == EINVAL) fd = memfd_create("libpg_query.so", MFD_CLOEXEC);  // before Linux 6.3
    if (fd < 0) {
        fail("memfd_create", strerror(errno));
        return;
    }
    if (!write_library(fd)) {
        close(fd);
        return;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    close(fd);  // the loader keeps its own mapping
    if (!library) {
        fail("dlopen", dlerror());
        return;
    }
    const char *names[] = {
        "pg_query_parse", "pg_query_free_parse_result", "pg_query_split_with_scanner",
        "pg_query_free_split_result"};
    void *found[4];
    for (int i = 0; i < 4; i++) {
        found[i] = dlsym(library, names[i]);
        if (!found[i]) {
            fail(names[i], "not in the library");
            return;
        }
    }
    parse = (PgQueryParseResult (*)(const char *))found[0];
    free_parse_result = (void (*)(PgQueryParseResult))found[1];
    split_with_scanner = (PgQuerySplitResult (*)(const char *))found[2];
    free_split_result = (void (*)(PgQuerySplitResult))found[3];
}

const char *app_pg_parser_load(void) {
    pthread_once(&once, load);
    return failure;
}

PgQueryParseResult app_pg_query_parse(const char *sql) { return parse(sql); }
void app_pg_query_free_parse_result(PgQueryParseResult result) { free_parse_result(result); }
PgQuerySplitResult app_pg_query_split_with_scanner(const char *sql) { return split_with_scanner(sql); }
void app_pg_query_free_split_result(PgQuerySplitResult result) { free_split_result(result); }
