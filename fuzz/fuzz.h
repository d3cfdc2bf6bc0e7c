/*
 * fuzz.h - what every libFuzzer target in fuzz/ shares: the entry point's
 * prototype (the build has -Wmissing-prototypes) and a helper that turns
 * the fuzzer's bytes into a NUL-terminated string.
 *
 * A target never trusts its input and never crashes on a rejected one: any
 * crash, leak, sanitizer report or abort() is a bug in payd's code (or a
 * broken invariant the target checks with fuzz_check).
 *
 * Threading: libFuzzer calls a target from one thread.
 */
#ifndef PAY_FUZZ_H
#define PAY_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A malloc'd NUL-terminated copy of @data (which may contain NULs). */
static inline char *fuzz_strdup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) {
        abort();
    }
    if (size) {
        memcpy(s, data, size);
    }
    s[size] = '\0';
    return s;
}

/* An invariant of the code under test: abort (a finding) when it fails. */
#define fuzz_check(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
