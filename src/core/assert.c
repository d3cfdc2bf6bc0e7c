/*
 * assert.c - the failure path of PAY_ASSERT: an invariant of payd's own code
 * was broken, so the process stops before it can commit a wrong state.
 *
 * Threading: safe from any thread; the message is one write() so it does not
 * interleave with log lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/core.h"

_Noreturn void pay_assert_fail(const char *expr, const char *file, int line)
{
    char msg[512];
    int n = snprintf(msg, sizeof(msg), "payd: assertion failed: %s (%s:%d)\n", expr, file, line);
    if (n > 0) {
        size_t len = (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1;
        ssize_t w = write(STDERR_FILENO, msg, len);
        (void)w; /* about to abort: nothing better to do with a failed write */
    }
    abort();
}
