/*
 * sandbox.c - the built-in connector: behaves like Stripe's test mode, with
 * the outcome of every charge decided by the scenario its token carries
 * ("tok_sandbox_<scenario>", written by card.c from PROTOCOLS.md's
 * test-card table). No account, no network, no state.
 *
 * Invariants: a given (scenario, three_ds_completed, off_session) always
 * gives the same outcome; declines carry Stripe's code, decline_code and
 * message texts; every authorization, capture and refund gets a fresh
 * "sbx_" reference, and capture/cancel/refund accept any "sbx_" reference
 * (the sandbox keeps no state to check it against).
 *
 * Threading: stateless, any thread.
 */
#include <stdio.h>
#include <string.h>

#include "connectors_int.h"

enum outcome {
    SUCCEED,
    DECLINE,
    THREE_DS,              /* 3-D Secure first, then succeeds */
    THREE_DS_UNLESS_OFF,   /* like THREE_DS, but off-session charges succeed */
    THREE_DS_THEN_DECLINE, /* 3-D Secure first, then declines */
};

static const struct scenario {
    const char *name;
    enum outcome outcome;
    /* The decline (DECLINE, THREE_DS_THEN_DECLINE): Stripe's texts. */
    const char *code;
    const char *decline_code;
    const char *message;
    bool verify_declines; /* saving the card to a customer fails too */
} scenarios[] = {
    {"success", SUCCEED, NULL, NULL, NULL, false},
    {"dispute", SUCCEED, NULL, NULL, NULL, false},
    {"generic_decline", DECLINE, "card_declined", "generic_decline", "Your card was declined.",
     true},
    {"insufficient_funds", DECLINE, "card_declined", "insufficient_funds",
     "Your card has insufficient funds.", true},
    {"lost_card", DECLINE, "card_declined", "lost_card", "Your card was declined.", true},
    {"stolen_card", DECLINE, "card_declined", "stolen_card", "Your card was declined.", true},
    {"expired_card", DECLINE, "expired_card", "expired_card", "Your card has expired.", true},
    {"incorrect_cvc", DECLINE, "incorrect_cvc", "incorrect_cvc",
     "Your card's security code is incorrect.", true},
    {"processing_error", DECLINE, "processing_error", "processing_error",
     "An error occurred while processing your card. Try again in a little bit.", true},
    {"fraudulent", DECLINE, "card_declined", "fraudulent", "Your card was declined.", true},
    /* Stripe's 4000 0000 0000 0341: attaching works, every charge declines. */
    {"charge_fails", DECLINE, "card_declined", "generic_decline", "Your card was declined.", false},
    {"3ds_required", THREE_DS, NULL, NULL, NULL, false},
    {"3ds_unless_off_session", THREE_DS_UNLESS_OFF, NULL, NULL, NULL, false},
    {"3ds_then_insufficient", THREE_DS_THEN_DECLINE, "card_declined", "insufficient_funds",
     "Your card has insufficient funds.", false},
    {"3ds_then_decline", THREE_DS_THEN_DECLINE, "card_declined", "generic_decline",
     "Your card was declined.", false},
};

static const struct scenario *scenario_find(const char *token)
{
    size_t plen = strlen(PAY_SANDBOX_TOKEN_PREFIX);
    if (token == NULL || strncmp(token, PAY_SANDBOX_TOKEN_PREFIX, plen) != 0) {
        return NULL;
    }
    for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
        if (strcmp(scenarios[i].name, token + plen) == 0) {
            return &scenarios[i];
        }
    }
    return NULL;
}

const char *pay_sandbox_scenario(const char *token)
{
    const struct scenario *s = scenario_find(token);
    return s ? s->name : NULL;
}

static void result_init(struct pay_conn_result *res, enum pay_conn_status status)
{
    memset(res, 0, sizeof(*res));
    res->status = status;
}

static void result_new_ref(struct pay_conn_result *res)
{
    char id[PAY_ID_LEN_MAX + 1];
    pay_id_new("sbx", id);
    snprintf(res->provider_ref, sizeof(res->provider_ref), "%s", id);
}

static void result_decline(struct pay_conn_result *res, const struct scenario *s)
{
    res->status = PAY_CONN_DECLINED;
    snprintf(res->code, sizeof(res->code), "%s", s->code);
    snprintf(res->decline_code, sizeof(res->decline_code), "%s", s->decline_code);
    snprintf(res->message, sizeof(res->message), "%s", s->message);
}

static enum pay_err sandbox_authorize(const struct pay_conn_request *req,
                                      struct pay_conn_result *res)
{
    result_init(res, PAY_CONN_FAILED);
    const struct scenario *s = scenario_find(req->token);
    if (s == NULL) {
        snprintf(res->message, sizeof(res->message), "Not a sandbox card token.");
        return PAY_ERR_PARAM_INVALID;
    }
    if (!pay_amount_valid(req->amount_minor)) {
        snprintf(res->message, sizeof(res->message), "Invalid amount.");
        return PAY_ERR_AMOUNT_INVALID;
    }
    result_new_ref(res);
    switch (s->outcome) {
    case SUCCEED:
        res->status = PAY_CONN_SUCCEEDED;
        break;
    case DECLINE:
        result_decline(res, s);
        break;
    case THREE_DS:
        res->status = req->three_ds_completed ? PAY_CONN_SUCCEEDED : PAY_CONN_REQUIRES_ACTION;
        break;
    case THREE_DS_UNLESS_OFF:
        res->status = req->three_ds_completed || req->off_session ? PAY_CONN_SUCCEEDED
                                                                  : PAY_CONN_REQUIRES_ACTION;
        break;
    case THREE_DS_THEN_DECLINE:
        if (req->three_ds_completed) {
            result_decline(res, s);
        } else {
            res->status = PAY_CONN_REQUIRES_ACTION;
        }
        break;
    }
    return PAY_OK;
}

static bool sandbox_ref(const char *ref)
{
    return ref != NULL && pay_id_valid(ref, "sbx");
}

static enum pay_err follow_up(const char *provider_ref, int64_t amount_minor, bool new_ref,
                              struct pay_conn_result *res)
{
    result_init(res, PAY_CONN_FAILED);
    if (!sandbox_ref(provider_ref)) {
        snprintf(res->message, sizeof(res->message), "No such sandbox authorization.");
        return PAY_ERR_PARAM_INVALID;
    }
    if (!pay_amount_valid(amount_minor)) {
        snprintf(res->message, sizeof(res->message), "Invalid amount.");
        return PAY_ERR_AMOUNT_INVALID;
    }
    res->status = PAY_CONN_SUCCEEDED;
    if (new_ref) {
        result_new_ref(res);
    } else {
        snprintf(res->provider_ref, sizeof(res->provider_ref), "%s", provider_ref);
    }
    return PAY_OK;
}

static enum pay_err sandbox_capture(const char *provider_ref, int64_t amount_minor,
                                    struct pay_conn_result *res)
{
    return follow_up(provider_ref, amount_minor, false, res);
}

static enum pay_err sandbox_cancel(const char *provider_ref, struct pay_conn_result *res)
{
    return follow_up(provider_ref, 0, false, res);
}

/* A refund is its own object at the provider: it gets its own reference. */
static enum pay_err sandbox_refund(const char *provider_ref, int64_t amount_minor,
                                   struct pay_conn_result *res)
{
    return follow_up(provider_ref, amount_minor, true, res);
}

static enum pay_err sandbox_verify(const char *token, struct pay_conn_result *res)
{
    result_init(res, PAY_CONN_FAILED);
    const struct scenario *s = scenario_find(token);
    if (s == NULL) {
        snprintf(res->message, sizeof(res->message), "Not a sandbox card token.");
        return PAY_ERR_PARAM_INVALID;
    }
    if (s->verify_declines) {
        result_decline(res, s);
    } else {
        res->status = PAY_CONN_SUCCEEDED;
    }
    return PAY_OK;
}

const struct pay_connector pay_sandbox_connector = {
    .name = "sandbox",
    .authorize = sandbox_authorize,
    .capture = sandbox_capture,
    .cancel = sandbox_cancel,
    .refund = sandbox_refund,
    .verify = sandbox_verify,
};
