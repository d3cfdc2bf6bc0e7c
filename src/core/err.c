/*
 * err.c - the machine strings and default messages of enum pay_err, and the
 * struct pay_error side channel.
 *
 * Invariants: both tables are generated from PAY_ERR_MAP, so they can never
 * disagree with the enum; any out-of-range code reads as "internal_error".
 * Threading: the tables are read-only; pay_error_set writes only to the
 * caller's struct.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"

struct err_entry {
    const char *str;
    const char *msg;
};

static const struct err_entry err_table[] = {
#define PAY_ERR_ROW(name, str, msg) [PAY_ERR_##name] = {str, msg},
    PAY_ERR_MAP(PAY_ERR_ROW)
#undef PAY_ERR_ROW
};

_Static_assert(sizeof(err_table) / sizeof(err_table[0]) == PAY_ERR__COUNT,
               "error table matches the enum");

static const struct err_entry *err_entry(enum pay_err e)
{
    if ((unsigned)e >= PAY_ERR__COUNT) {
        return &err_table[PAY_ERR_INTERNAL];
    }
    return &err_table[e];
}

const char *pay_err_str(enum pay_err e)
{
    return err_entry(e)->str;
}

const char *pay_err_message(enum pay_err e)
{
    return err_entry(e)->msg;
}

void pay_error_clear(struct pay_error *err)
{
    if (err) {
        memset(err, 0, sizeof(*err));
    }
}

enum pay_err pay_error_set(struct pay_error *err, enum pay_err code, const char *param,
                           const char *fmt, ...)
{
    if (!err) {
        return code;
    }
    err->code = code;
    /* snprintf truncates safely; a too-long parameter name is still useful cut. */
    snprintf(err->param, sizeof(err->param), "%s", param ? param : "");
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
        if (n < 0) {
            snprintf(err->message, sizeof(err->message), "%s", pay_err_message(code));
        }
    } else {
        snprintf(err->message, sizeof(err->message), "%s", pay_err_message(code));
    }
    return code;
}
