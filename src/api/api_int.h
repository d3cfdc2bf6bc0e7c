/*
 * api_int.h - declarations shared by the files of src/api/ only.
 *
 * Each resource file (customers.c, payment_intents.c, ...) defines its
 * routes as a table and its OpenAPI fragment as
 * src/api/openapi/<resource>.json; routes.c lists the tables.
 */
#ifndef PAY_API_INT_H
#define PAY_API_INT_H

#include "../payments/payments.h"
#include "api.h"

/* The domain context of @req: its transaction, its patient scope (a
 * patient's token sees only its own customer), its request id. */
static inline struct pay_op pay_api_op(struct pay_request *req)
{
    struct pay_op op = {
        .tx = req->tx,
        .customer_scope = req->who.role == PAY_ROLE_PATIENT ? req->who.customer : NULL,
        .request_id = req->request_id,
        .fingerprint_key = req->app->fingerprint_key,
        .public_url = req->app->public_url,
        .err = &req->err,
        .stripe = req->app->stripe,
        .actor = req->who.subject,
        .actor_role = req->who.kind == PAY_PRINCIPAL_NONE ? "" : pay_role_name(req->who.role),
        .client_addr = req->client_addr != NULL ? req->client_addr : "",
    };
    return op;
}

/* How a resource answers a domain outcome (@obj stolen). */
typedef enum pay_err (*pay_api_answer_fn)(struct pay_request *req, struct pay_op *op,
                                          enum pay_err e, json_t *obj);
/*
 * After a domain call made with op->call = @call (provider.c): when @e is
 * PAY_OK and a provider call is to follow, make it the request's
 * continuation (pay_request.deferred): the server sends it after the commit,
 * the outcome is applied in a new transaction and answered with @answer.
 * Always empties @call. Returns @e, or PAY_ERR_NOMEM.
 */
enum pay_err pay_api_defer_call(struct pay_request *req, struct pay_provider_call *call,
                                enum pay_err e, pay_api_answer_fn answer) PAY_WUR;

/* Answer with Stripe's list envelope {"object":"list","url":@url,
 * "has_more":..,"data":@data}; @data is stolen. */
void pay_api_list(struct pay_request *req, const char *url, json_t *data, bool has_more);
/* The same envelope around @items, the objects' JSON texts comma-separated
 * (pay_tx_list_text), copied into the answer as they are. */
enum pay_err pay_api_list_text(struct pay_request *req, const char *url,
                               const struct pay_buf *items, bool has_more) PAY_WUR;

/* Return the error of an expression that can fail, from a handler. */
#define PAY_TRY(expr)                                                                              \
    do {                                                                                           \
        enum pay_err pay_try_e_ = (expr);                                                          \
        if (pay_try_e_ != PAY_OK) {                                                                \
            return pay_try_e_;                                                                     \
        }                                                                                          \
    } while (0)

#define PAY_API_ROUTES_DECL(name)                                                                  \
    extern const struct pay_route pay_api_##name##_routes[];                                       \
    extern const size_t pay_api_##name##_routes_n

/* Define a resource's table: PAY_API_ROUTES_DEFINE(customers) = { {...}, ... }; */
#define PAY_API_ROUTES_DEFINE(name) const struct pay_route pay_api_##name##_routes[]
#define PAY_API_ROUTES_COUNT(name)                                                                 \
    const size_t pay_api_##name##_routes_n =                                                       \
        sizeof(pay_api_##name##_routes) / sizeof(pay_api_##name##_routes[0])

#endif
