/*
 * dns_gate.c - a test shim (LD_PRELOAD) that holds host name lookups:
 * getaddrinfo for a name ending in ".gate.test" creates the file
 * $PAYD_TEST_DNS_GATE.waiting, then waits until the file $PAYD_TEST_DNS_GATE
 * exists (at most 30 s) and answers that the name does not exist, except
 * that a name ending in ".ok.gate.test" then resolves to 127.0.0.1. Every
 * other lookup goes to the C library. The API tests use it to hold a
 * lookup open for as long as they like, with no resolver and no traffic.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SUFFIX ".gate.test"
#define OK_SUFFIX ".ok.gate.test"
#define WAIT_MS_MAX 30000

typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);

static int gated(const char *node)
{
    size_t n = node != NULL ? strlen(node) : 0, s = strlen(SUFFIX);
    return n > s && strcmp(node + n - s, SUFFIX) == 0;
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    const char *gate = getenv("PAYD_TEST_DNS_GATE");
    if (gate != NULL && gated(node)) {
        char waiting[4096];
        snprintf(waiting, sizeof(waiting), "%s.waiting", gate);
        int fd = open(waiting, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        if (fd >= 0) {
            close(fd);
        }
        const struct timespec tick = {0, 10 * 1000 * 1000};
        for (int ms = 0; ms < WAIT_MS_MAX && access(gate, F_OK) != 0; ms += 10) {
            nanosleep(&tick, NULL);
        }
        size_t n = strlen(node), s = strlen(OK_SUFFIX);
        if (n <= s || strcmp(node + n - s, OK_SUFFIX) != 0) {
            return EAI_NONAME;
        }
        node = "127.0.0.1";
    }
    gai_fn real = (gai_fn)dlsym(RTLD_NEXT, "getaddrinfo");
    return real != NULL ? real(node, service, hints, res) : EAI_SYSTEM;
}
