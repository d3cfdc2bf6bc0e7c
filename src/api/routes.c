/*
 * routes.c - payd's routing table: every resource's table, concatenated
 * once at first use. The tables themselves live beside their handlers
 * (src/api/<resource>.c), declared as data.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"

PAY_API_ROUTES_DECL(ops);
PAY_API_ROUTES_DECL(customers);
PAY_API_ROUTES_DECL(payment_methods);
PAY_API_ROUTES_DECL(balance);
PAY_API_ROUTES_DECL(events);
PAY_API_ROUTES_DECL(payment_intents);
PAY_API_ROUTES_DECL(refunds);
PAY_API_ROUTES_DECL(sandbox_pages);
PAY_API_ROUTES_DECL(audit_events);
PAY_API_ROUTES_DECL(provider_webhooks);
PAY_API_ROUTES_DECL(webhook_endpoints);
PAY_API_ROUTES_DECL(risk);
PAY_API_ROUTES_DECL(providers);
PAY_API_ROUTES_DECL(facilities);
PAY_API_ROUTES_DECL(verifications);
PAY_API_ROUTES_DECL(mobile_money);

static const struct {
    const struct pay_route *routes;
    const size_t *n;
} tables[] = {
    {pay_api_ops_routes, &pay_api_ops_routes_n},
    {pay_api_customers_routes, &pay_api_customers_routes_n},
    {pay_api_payment_methods_routes, &pay_api_payment_methods_routes_n},
    {pay_api_balance_routes, &pay_api_balance_routes_n},
    {pay_api_events_routes, &pay_api_events_routes_n},
    {pay_api_payment_intents_routes, &pay_api_payment_intents_routes_n},
    {pay_api_refunds_routes, &pay_api_refunds_routes_n},
    {pay_api_sandbox_pages_routes, &pay_api_sandbox_pages_routes_n},
    {pay_api_audit_events_routes, &pay_api_audit_events_routes_n},
    {pay_api_provider_webhooks_routes, &pay_api_provider_webhooks_routes_n},
    {pay_api_webhook_endpoints_routes, &pay_api_webhook_endpoints_routes_n},
    {pay_api_risk_routes, &pay_api_risk_routes_n},
    {pay_api_providers_routes, &pay_api_providers_routes_n},
    {pay_api_facilities_routes, &pay_api_facilities_routes_n},
    {pay_api_verifications_routes, &pay_api_verifications_routes_n},
    {pay_api_mobile_money_routes, &pay_api_mobile_money_routes_n},
};

static struct pay_route *all;
static size_t n_all;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void build(void)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        n += *tables[i].n;
    }
    all = calloc(n, sizeof(*all));
    PAY_ASSERT(all != NULL);
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        memcpy(all + n_all, tables[i].routes, *tables[i].n * sizeof(*all));
        n_all += *tables[i].n;
    }
}

const struct pay_route *pay_api_routes(size_t *n_out)
{
    pthread_once(&once, build);
    *n_out = n_all;
    return all;
}
