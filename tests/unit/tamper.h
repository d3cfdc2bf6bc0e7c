/*
 * tamper.h - for the tests of verification: edit a stored JSON document as
 * someone with SQL access to the database would, whatever form the store
 * keeps it in (SQLite packs documents, src/store/pack.c, so SQL's replace()
 * cannot reach inside them). Header-only: each test file has its own copy.
 */
#ifndef PAY_TEST_TAMPER_H
#define PAY_TEST_TAMPER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

struct tamper {
    const char *table, *key_col, *key, *from, *to;
    bool found; /* @from was in the document */
};

static enum pay_err tamper_cb(struct pay_tx *tx, void *arg)
{
    struct tamper *t = arg;
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT data FROM %s WHERE %s = $1", t->table, t->key_col);
    struct pay_param k[] = {PAY_PTEXT(t->key)};
    char *data = NULL;
    enum pay_err e = pay_tx_query_text(tx, sql, k, 1, &data);
    if (e != PAY_OK || data == NULL) {
        free(data);
        return e != PAY_OK ? e : PAY_ERR_NOT_FOUND;
    }
    char *at = strstr(data, t->from);
    t->found = at != NULL;
    if (at == NULL) {
        free(data);
        return PAY_OK;
    }
    size_t head = (size_t)(at - data), from = strlen(t->from), to = strlen(t->to);
    size_t tail = strlen(at + from);
    char *edited = malloc(head + to + tail + 1);
    if (edited == NULL) {
        free(data);
        return PAY_ERR_NOMEM;
    }
    memcpy(edited, data, head);
    memcpy(edited + head, t->to, to);
    memcpy(edited + head + to, at + from, tail + 1);
    free(data);
    snprintf(sql, sizeof(sql), "UPDATE %s SET data = $2 WHERE %s = $1", t->table, t->key_col);
    struct pay_param p[] = {PAY_PTEXT(t->key), PAY_PJSON(edited)};
    e = pay_tx_exec(tx, sql, p, 2, NULL);
    free(edited);
    return e;
}

/* Replaces the first @from in the data of the row of @table whose @key_col
 * is @key with @to; true when it was there and the row was written. */
static bool tamper_doc(struct pay_store *s, const char *table, const char *key_col, const char *key,
                       const char *from, const char *to)
{
    struct tamper t = {table, key_col, key, from, to, false};
    return pay_store_write(s, tamper_cb, &t) == PAY_OK && t.found;
}

#endif
