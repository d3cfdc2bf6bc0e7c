/*
 * pack.c - JSON documents kept compressed: the SQLite back end stores what
 * callers bind with PAY_PJSON (objects' data, events, stored responses) as
 * a blob of one version byte and a zstd frame made with payd's dictionary
 * (json_dict.c), and pay_rows_text gives the text back. A stored event of
 * ~1,350 bytes becomes ~240, a payment intent ~1,100 → ~170: most of every
 * object is the same keys and nulls, which the dictionary already holds.
 *
 * Why zstd (Debian's libzstd, a new dependency in round 8): it takes any
 * bytes as a dictionary, and with one made of payd's objects a stored
 * event packs to ~240 bytes in ~1.6 us; zlib (already on every machine)
 * with the same bytes as its preset dictionary left ~470.
 *
 * The format: byte 0 is the dictionary's version (PACK_V1), then one zstd
 * frame with its content size and a checksum. Text that does not shrink
 * is stored as text; rows written before packing existed are text too, so
 * a reader tells the two apart by the column's type (a blob) and byte 0.
 *
 * Threading: the dictionaries are made once and shared (zstd allows it); a
 * struct pay_pack holds one connection's contexts and is used by one thread
 * at a time, as its connection is.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "store_int.h"

#define PACK_V1 0x01
/* With the dictionary the fast levels do not shrink in step with their
 * number. Over 265 stored objects of every kind (230 KB of text; round
 * 10): level 1 packed them to 50.8 KB at 2.9 us each, -1 to 52.1 KB at
 * 1.8 us, -2 to 53.1 KB at 1.6 us, -3 and -5 to ~58.7 KB, -6 to 55.1 KB at
 * 1.4 us. -6 is taken: 23 % less of the writer's time than -1 for 6 % more
 * bytes. The level is the writer's choice alone: any level reads back
 * alike, so rows written at another level stay readable. */
#define PACK_LEVEL (-6)
/* Shorter texts are stored as they are: a frame's header and checksum
 * would eat what the dictionary saves. */
#define PACK_MIN 64
/* Texts kept for a repeat (struct pay_pack.kept), and the longest kept. */
#define PACK_KEPT 2
#define PACK_KEPT_MAX (64 * 1024)
/* Refuse to expand a blob that claims more than this (a corrupt header). */
#define PACK_EXPANDED_MAX ((unsigned long long)256 << 20)

struct pay_pack {
    ZSTD_CCtx *cctx;
    ZSTD_DCtx *dctx;
    /* The last texts packed, each with its blob. A payment stores its
     * intent's text twice, as the intent's row and (after its event) as the
     * answer kept for its Idempotency-Key: the second is a copy of the
     * first blob. */
    struct pack_kept {
        unsigned char *bytes; /* the text, then its blob */
        size_t len, blob_len, cap;
    } kept[PACK_KEPT];
    unsigned next_kept; /* the one replaced next */
};

static pthread_once_t dict_once = PTHREAD_ONCE_INIT;
static ZSTD_CDict *cdict_v1;
static ZSTD_DDict *ddict_v1;

static void dict_init(void)
{
    cdict_v1 = ZSTD_createCDict(pay_json_dict_v1, pay_json_dict_v1_len, PACK_LEVEL);
    ddict_v1 = ZSTD_createDDict(pay_json_dict_v1, pay_json_dict_v1_len);
}

struct pay_pack *pay_pack_new(void)
{
    pthread_once(&dict_once, dict_init);
    return calloc(1, sizeof(struct pay_pack));
}

void pay_pack_free(struct pay_pack *p)
{
    if (p != NULL) {
        ZSTD_freeCCtx(p->cctx);
        ZSTD_freeDCtx(p->dctx);
        for (size_t i = 0; i < PACK_KEPT; i++) {
            free(p->kept[i].bytes);
        }
        free(p);
    }
}

/* Keep @text and its @blob in place of the oldest pair kept; a text over
 * PACK_KEPT_MAX, or one there is no memory for, leaves that place empty. */
static void remember(struct pay_pack *p, const char *text, size_t len, const unsigned char *blob,
                     size_t blob_len)
{
    struct pack_kept *k = &p->kept[p->next_kept];
    p->next_kept = (p->next_kept + 1) % PACK_KEPT;
    k->len = k->blob_len = 0;
    size_t need = len + blob_len;
    if (len > PACK_KEPT_MAX) {
        return;
    }
    if (need > k->cap) {
        size_t cap = need < 4096 ? 4096 : need;
        unsigned char *b = realloc(k->bytes, cap);
        if (b == NULL) {
            return;
        }
        k->bytes = b;
        k->cap = cap;
    }
    memcpy(k->bytes, text, len);
    memcpy(k->bytes + len, blob, blob_len);
    k->len = len;
    k->blob_len = blob_len;
}

/* The blob of a kept text equal to @text, or NULL. */
static const struct pack_kept *kept_as(const struct pay_pack *p, const char *text, size_t len)
{
    for (size_t i = 0; i < PACK_KEPT; i++) {
        const struct pack_kept *k = &p->kept[i];
        if (k->blob_len > 0 && k->len == len && memcmp(k->bytes, text, len) == 0) {
            return k;
        }
    }
    return NULL;
}

bool pay_pack_json(struct pay_pack *p, const char *s, size_t len, unsigned char **out,
                   size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (p == NULL || len < PACK_MIN || cdict_v1 == NULL) {
        return false;
    }
    if (p->cctx == NULL) {
        p->cctx = ZSTD_createCCtx();
        if (p->cctx == NULL ||
            ZSTD_isError(ZSTD_CCtx_setParameter(p->cctx, ZSTD_c_checksumFlag, 1)) ||
            ZSTD_isError(ZSTD_CCtx_refCDict(p->cctx, cdict_v1))) {
            ZSTD_freeCCtx(p->cctx);
            p->cctx = NULL;
            return false;
        }
    }
    /* No room for more than the text: a blob that is not smaller is not
     * kept. A block of 2 or 4 KiB where the text fits: sizes the writer
     * thread keeps (pay_mem), so most blobs cost no malloc. */
    unsigned char *blob = pay_mem_alloc(len <= 2048 ? 2048 : len <= 4096 ? 4096 : len);
    if (blob == NULL) {
        return false;
    }
    const struct pack_kept *k = kept_as(p, s, len);
    if (k != NULL) {
        memcpy(blob, k->bytes + len, k->blob_len);
        *out = blob;
        *out_len = k->blob_len;
        return true;
    }
    blob[0] = PACK_V1;
    size_t n = ZSTD_compress2(p->cctx, blob + 1, len - 1, s, len);
    if (ZSTD_isError(n) || n + 1 >= len) {
        pay_mem_free(blob);
        return false;
    }
    *out = blob;
    *out_len = n + 1;
    remember(p, s, len, blob, n + 1);
    return true;
}

bool pay_pack_is_packed(const void *blob, size_t n)
{
    return blob != NULL && n > 1 && ((const unsigned char *)blob)[0] == PACK_V1;
}

bool pay_pack_expand(struct pay_pack *p, const void *blob, size_t n, char **buf, size_t *cap,
                     size_t *len)
{
    *len = 0;
    if (p == NULL || !pay_pack_is_packed(blob, n) || ddict_v1 == NULL) {
        return false;
    }
    const unsigned char *frame = (const unsigned char *)blob + 1;
    unsigned long long size = ZSTD_getFrameContentSize(frame, n - 1);
    if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR ||
        size > PACK_EXPANDED_MAX) {
        return false;
    }
    if (*buf == NULL || *cap < size + 1) {
        char *nb = realloc(*buf, size + 1);
        if (nb == NULL) {
            return false;
        }
        *buf = nb;
        *cap = size + 1;
    }
    if (p->dctx == NULL && (p->dctx = ZSTD_createDCtx()) == NULL) {
        return false;
    }
    size_t got = ZSTD_decompress_usingDDict(p->dctx, *buf, size, frame, n - 1, ddict_v1);
    if (ZSTD_isError(got) || got != size) {
        return false;
    }
    (*buf)[size] = '\0';
    *len = size;
    return true;
}
