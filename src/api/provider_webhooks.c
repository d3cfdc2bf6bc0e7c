/*
 * provider_webhooks.c - POST /v1/webhooks/stripe: events a Stripe account
 * sends about payments payd routed to it.
 *
 * Access: public (no API key); the Stripe-Signature header is the
 * credential. The raw body is verified (PROTOCOLS.md "Webhook signatures")
 * before anything parses it and before any transaction opens: a bad, stale
 * or missing signature is a 400 naming Stripe-Signature and touches
 * nothing. A verified event is then recorded and applied in one write
 * transaction (src/payments/provider_events.c): 200 for applied, ignored,
 * mismatched, unmatched and duplicate deliveries alike, so Stripe stops
 * retrying; any other answer makes Stripe retry later.
 */
#include "../events/stripe_signature.h"
#include "../payments/provider_events.h"
#include "api_int.h"

struct webhook_tx {
    struct pay_request *req;
    const json_t *event;
    struct pay_provider_event_outcome out;
};

static enum pay_err apply_cb(struct pay_tx *tx, void *arg)
{
    struct webhook_tx *w = arg;
    struct pay_op op = pay_api_op(w->req);
    op.tx = tx;
    op.customer_scope = NULL; /* the signature, not a principal, authorises */
    return pay_provider_event_stripe(&op, w->event, &w->out);
}

static enum pay_err stripe_webhook(struct pay_request *req)
{
    const struct pay_app *app = req->app;
    enum pay_stripe_sig_result r = pay_stripe_signature_verify(
        pay_req_header(req, "Stripe-Signature"), req->raw_body, req->raw_body_len,
        app->stripe_webhook_secrets, app->n_stripe_webhook_secrets, pay_now(),
        app->stripe_webhook_tolerance_s > 0 ? app->stripe_webhook_tolerance_s
                                            : PAY_STRIPE_SIG_TOLERANCE_DEFAULT_S);
    if (r != PAY_STRIPE_SIG_OK) {
        pay_error_set(&req->err, PAY_ERR_PARAM_INVALID, "Stripe-Signature",
                      "Invalid Stripe-Signature: %s.", pay_stripe_signature_reason(r));
        snprintf(req->err.code_str, sizeof(req->err.code_str), "%s",
                 "signature_verification_failed");
        return PAY_ERR_PARAM_INVALID;
    }
    json_t *event = NULL;
    enum pay_err e = pay_json_decode(req->raw_body, req->raw_body_len, &event, &req->err);
    if (e != PAY_OK) {
        return e;
    }
    struct webhook_tx w = {.req = req, .event = event};
    e = pay_store_write(app->store, apply_cb, &w);
    if (e == PAY_OK) {
        json_t *o = json_object();
        pay_json_set_str(o, "object", "provider_event");
        pay_json_set_str(o, "provider", "stripe");
        pay_json_set_str(o, "id", pay_json_str(event, "id"));
        pay_json_set_str(o, "type", pay_json_str(event, "type"));
        pay_json_set_str(o, "status", w.out.status);
        pay_json_set_bool(o, "duplicate", w.out.duplicate);
        pay_json_set_str(o, "payment_intent",
                         w.out.payment_intent[0] ? w.out.payment_intent : NULL);
        pay_json_set_str(o, "note", w.out.note[0] ? w.out.note : NULL);
        pay_resp_json(req, 200, o);
    } else if (req->err.code != e) {
        pay_error_set(&req->err, e, NULL, NULL);
    }
    json_decref(event);
    return e;
}

PAY_API_ROUTES_DEFINE(provider_webhooks) = {
    {"POST", "/v1/webhooks/stripe", stripe_webhook, 0,
     PAY_ROUTE_PUBLIC | PAY_ROUTE_NO_TX | PAY_ROUTE_RAW_BODY,
     "Receive a Stripe webhook event (signed with Stripe-Signature)"},
};
PAY_API_ROUTES_COUNT(provider_webhooks);
