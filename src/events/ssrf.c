/*
 * ssrf.c - the SSRF guard for webhook URLs: payd POSTs to URLs its API
 * clients give it, so a URL must never make payd reach its own host, the
 * private network around it or a cloud metadata service.
 *
 * Rules: https (http only when configured), no credentials in the URL, and
 * every address the host resolves to is public (not loopback, private,
 * link-local, CGNAT, multicast, unspecified, broadcast, unique-local or
 * reserved, in IPv4, IPv6 and every IPv6 form that carries an IPv4
 * address), unless the address or host name is on the allow-list. The
 * caller connects only to the address checked here (CURLOPT_RESOLVE), so a
 * second DNS answer cannot differ from the one checked.
 *
 * Threading: no state; getaddrinfo is thread-safe.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "webhooks.h"

static bool in4(uint32_t a, uint32_t net, unsigned bits)
{
    uint32_t mask = bits == 0 ? 0 : 0xffffffffu << (32 - bits);
    return (a & mask) == (net & mask);
}

#define V4(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (d))

static enum pay_addr_class classify4(uint32_t a)
{
    if (in4(a, V4(0, 0, 0, 0), 8)) {
        return PAY_ADDR_UNSPECIFIED;
    }
    if (in4(a, V4(127, 0, 0, 0), 8)) {
        return PAY_ADDR_LOOPBACK;
    }
    if (in4(a, V4(10, 0, 0, 0), 8) || in4(a, V4(172, 16, 0, 0), 12) ||
        in4(a, V4(192, 168, 0, 0), 16)) {
        return PAY_ADDR_PRIVATE;
    }
    if (in4(a, V4(169, 254, 0, 0), 16)) {
        return PAY_ADDR_LINK_LOCAL;
    }
    if (in4(a, V4(100, 64, 0, 0), 10)) {
        return PAY_ADDR_CGNAT;
    }
    if (in4(a, V4(224, 0, 0, 0), 4)) {
        return PAY_ADDR_MULTICAST;
    }
    if (a == V4(255, 255, 255, 255)) {
        return PAY_ADDR_BROADCAST;
    }
    /* 240/4 future use, 192.0.0/24 protocol assignments, 192.0.2/24,
     * 198.51.100/24, 203.0.113/24 documentation, 198.18/15 benchmarking,
     * 192.88.99/24 6to4 relay. */
    if (in4(a, V4(240, 0, 0, 0), 4) || in4(a, V4(192, 0, 0, 0), 24) ||
        in4(a, V4(192, 0, 2, 0), 24) || in4(a, V4(198, 51, 100, 0), 24) ||
        in4(a, V4(203, 0, 113, 0), 24) || in4(a, V4(198, 18, 0, 0), 15) ||
        in4(a, V4(192, 88, 99, 0), 24)) {
        return PAY_ADDR_RESERVED;
    }
    return PAY_ADDR_PUBLIC;
}

static uint32_t v4_at(const unsigned char *b)
{
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

static bool zeros(const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (b[i] != 0) {
            return false;
        }
    }
    return true;
}

static enum pay_addr_class classify6(const unsigned char *b)
{
    if (zeros(b, 16)) {
        return PAY_ADDR_UNSPECIFIED;
    }
    if (zeros(b, 15) && b[15] == 1) {
        return PAY_ADDR_LOOPBACK;
    }
    /* ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated). */
    if (zeros(b, 10) && ((b[10] == 0xff && b[11] == 0xff) || (b[10] == 0 && b[11] == 0))) {
        return classify4(v4_at(b + 12));
    }
    /* ::ffff:0:a.b.c.d (SIIT translated). */
    if (zeros(b, 8) && b[8] == 0xff && b[9] == 0xff && b[10] == 0 && b[11] == 0) {
        return classify4(v4_at(b + 12));
    }
    /* 64:ff9b::/96 NAT64 and 64:ff9b:1::/48 local-use NAT64. */
    if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) {
        if (zeros(b + 4, 8)) {
            return classify4(v4_at(b + 12));
        }
        if (b[4] == 0 && b[5] == 1) {
            return PAY_ADDR_PRIVATE;
        }
    }
    /* 2002::/16 6to4 carries an IPv4 address in bits 16..47. */
    if (b[0] == 0x20 && b[1] == 0x02) {
        return classify4(v4_at(b + 2));
    }
    if (b[0] == 0xff) {
        return PAY_ADDR_MULTICAST;
    }
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) {
        return PAY_ADDR_LINK_LOCAL;
    }
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) {
        return PAY_ADDR_PRIVATE; /* fec0::/10 site-local, deprecated */
    }
    if ((b[0] & 0xfe) == 0xfc) {
        return PAY_ADDR_UNIQUE_LOCAL;
    }
    /* 100::/64 discard, 2001:db8::/32 documentation, 2001::/23 IETF
     * protocol assignments (Teredo 2001::/32 included), 3fff::/20 docs. */
    if ((b[0] == 0x01 && b[1] == 0x00 && zeros(b + 2, 6)) ||
        (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) ||
        (b[0] == 0x20 && b[1] == 0x01 && b[2] < 0x02) ||
        (b[0] == 0x3f && b[1] == 0xff && (b[2] & 0xf0) == 0)) {
        return PAY_ADDR_RESERVED;
    }
    return PAY_ADDR_PUBLIC;
}

enum pay_addr_class pay_addr_classify(const struct sockaddr *sa)
{
    if (sa == NULL) {
        return PAY_ADDR_RESERVED;
    }
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
        return classify4(ntohl(s4->sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        return classify6(s6->sin6_addr.s6_addr);
    }
    return PAY_ADDR_RESERVED;
}

bool pay_addr_classify_str(const char *literal, enum pay_addr_class *out)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (literal == NULL) {
        return false;
    }
    if (inet_pton(AF_INET, literal, &a4) == 1) {
        *out = classify4(ntohl(a4.s_addr));
        return true;
    }
    if (inet_pton(AF_INET6, literal, &a6) == 1) {
        *out = classify6(a6.s6_addr);
        return true;
    }
    return false;
}

const char *pay_addr_class_name(enum pay_addr_class c)
{
    switch (c) {
    case PAY_ADDR_PUBLIC:
        return "public";
    case PAY_ADDR_LOOPBACK:
        return "loopback";
    case PAY_ADDR_PRIVATE:
        return "private";
    case PAY_ADDR_LINK_LOCAL:
        return "link-local";
    case PAY_ADDR_CGNAT:
        return "carrier-grade NAT";
    case PAY_ADDR_MULTICAST:
        return "multicast";
    case PAY_ADDR_UNSPECIFIED:
        return "unspecified";
    case PAY_ADDR_BROADCAST:
        return "broadcast";
    case PAY_ADDR_UNIQUE_LOCAL:
        return "unique-local";
    case PAY_ADDR_RESERVED:
        return "reserved";
    }
    return "reserved";
}

/* True when @name (a host name or a numeric address) is an entry of the
 * comma-separated @list (case-insensitive; spaces around entries ignored). */
static bool on_list(const char *list, const char *name)
{
    if (list == NULL || name == NULL || name[0] == '\0') {
        return false;
    }
    size_t n = strlen(name);
    const char *p = list;
    while (*p != '\0') {
        while (*p == ' ' || *p == ',') {
            p++;
        }
        const char *end = p;
        while (*end != '\0' && *end != ',') {
            end++;
        }
        const char *e = end;
        while (e > p && e[-1] == ' ') {
            e--;
        }
        if ((size_t)(e - p) == n && strncasecmp(p, name, n) == 0) {
            return true;
        }
        p = end;
    }
    return false;
}

/* The numeric form of @sa into @out. */
static void numeric(const struct sockaddr *sa, socklen_t len, char *out, size_t n)
{
    if (getnameinfo(sa, len, out, (socklen_t)n, NULL, 0, NI_NUMERICHOST) != 0) {
        snprintf(out, n, "?");
    }
}

static enum pay_err refuse(struct pay_error *err, const char *fmt, ...) PAY_PRINTF(2, 3);
static enum pay_err refuse(struct pay_error *err, const char *fmt, ...)
{
    char msg[PAY_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return pay_error_set(err, PAY_ERR_PARAM_INVALID, "url", "%s", msg);
}

enum pay_err pay_webhook_url_check(const char *url, const struct pay_webhook_config *cfg,
                                   struct pay_webhook_target *out, struct pay_error *err)
{
    enum pay_err rc = PAY_OK;
    char *scheme = NULL, *user = NULL, *pass = NULL, *host = NULL, *port = NULL;
    struct addrinfo *res = NULL;
    if (url == NULL || url[0] == '\0' || strlen(url) > PAY_WEBHOOK_URL_LEN_MAX) {
        return refuse(err, "Invalid URL%s.", "");
    }
    CURLU *u = curl_url();
    if (u == NULL) {
        return pay_error_set(err, PAY_ERR_NOMEM, NULL, NULL);
    }
    /* No guessing of schemes: "example.com/hook" is not a URL. */
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        rc = refuse(err, "Invalid URL: '%.200s'.", url);
        goto out;
    }
    bool https = strcasecmp(scheme, "https") == 0;
    if (!https && !(strcasecmp(scheme, "http") == 0 && cfg->allow_http)) {
        rc = refuse(err, "The URL must use https%s.",
                    strcasecmp(scheme, "http") == 0 ? " (plain http is not allowed here)" : "");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK) {
        rc = refuse(err, "The URL must not contain credentials%s.", "");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        rc = refuse(err, "Invalid URL port%s.", "");
        goto out;
    }
    /* curl gives IPv6 literals in brackets. */
    char bare[256];
    size_t hl = strlen(host);
    if (hl >= sizeof(bare) || hl == 0) {
        rc = refuse(err, "Invalid URL host%s.", "");
        goto out;
    }
    if (host[0] == '[' && hl >= 2 && host[hl - 1] == ']') {
        memcpy(bare, host + 1, hl - 2);
        bare[hl - 2] = '\0';
        char *zone = strchr(bare, '%');
        if (zone != NULL) {
            rc = refuse(err, "The URL must not name an IPv6 zone%s.", "");
            goto out;
        }
    } else {
        memcpy(bare, host, hl + 1);
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int gai = getaddrinfo(bare, port, &hints, &res);
    if (gai != 0 || res == NULL) {
        rc = refuse(err, "The URL's host '%.200s' does not resolve.", bare);
        goto out;
    }
    bool host_allowed = on_list(cfg->allow_hosts, bare);
    bool first = true;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) {
            continue;
        }
        char num[64];
        numeric(ai->ai_addr, ai->ai_addrlen, num, sizeof(num));
        enum pay_addr_class c = pay_addr_classify(ai->ai_addr);
        if (c != PAY_ADDR_PUBLIC && !host_allowed && !on_list(cfg->allow_hosts, num)) {
            char why[160];
            snprintf(why, sizeof(why), "%s (%s)", num, pay_addr_class_name(c));
            rc = refuse(err, "The URL's host resolves to a non-public address: %s.", why);
            goto out;
        }
        if (first && out != NULL) {
            memset(out, 0, sizeof(*out));
            snprintf(out->host, sizeof(out->host), "%s", bare);
            snprintf(out->addr, sizeof(out->addr), "%s", num);
            out->port = (unsigned)strtoul(port, NULL, 10);
            out->ipv6 = ai->ai_family == AF_INET6;
        }
        first = false;
    }
    if (first) {
        rc = refuse(err, "The URL's host '%.200s' has no IP address.", bare);
    }
out:
    if (res != NULL) {
        freeaddrinfo(res);
    }
    curl_free(scheme);
    curl_free(user);
    curl_free(pass);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}
