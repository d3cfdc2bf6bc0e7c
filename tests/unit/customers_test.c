/*
 * customers_test.c - customers and payment methods (src/payments/customers.c,
 * payment_methods.c) on a real SQLite store in a temp directory, through
 * the functions the payment intents and the API call: resolving payment
 * methods for a charge (test names, a patient's reach), attach with and
 * without the card check, the two lookups' error params, the default rule
 * on detach and on deletion, and the events each change appends.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "payments/payments.h"

static char dir[64];
static struct pay_store *store;

static void setup(void)
{
    pay_log_init(PAY_LOG_WARN);
    strcpy(dir, "/tmp/payd-customers-test-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char url[128];
    snprintf(url, sizeof(url), "sqlite:%s/t.db", dir);
    struct pay_error err = {0};
    cr_assert_eq(pay_store_open(url, &store, &err), PAY_OK, "open: %s", err.message);
    cr_assert_eq(pay_store_migrate(store, NULL, &err), PAY_OK, "migrate: %s", err.message);
}

static void teardown(void)
{
    pay_store_close(store);
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] != '.') {
                char p[512];
                snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
                unlink(p);
            }
        }
        closedir(d);
    }
    rmdir(dir);
}

TestSuite(customers, .init = setup, .fini = teardown);

/* One domain call in its own write transaction, as a patient (@scope) or
 * as staff (NULL). */
struct call {
    enum {
        C_CUS_NEW,
        C_PM_NEW,
        C_ATTACH,
        C_SAVE,
        C_DETACH,
        C_CHARGE,
        C_PM_GET,
        C_PM_RETRIEVE,
        C_CUS_GET,
        C_CUS_RETRIEVE,
        C_SET_DEFAULT,
        C_DELETE,
        C_EVENTS
    } what;
    const char *scope;
    const char *a, *b;
    json_t *out;
    struct pay_pm_charge charge;
    struct pay_error err;
};

static enum pay_err call_cb(struct pay_tx *tx, void *arg)
{
    struct call *c = arg;
    struct pay_op op = {
        .tx = tx,
        .customer_scope = c->scope,
        .request_id = "req_test",
        .fingerprint_key = "test-key",
        .err = &c->err,
    };
    pay_error_clear(&c->err);
    json_decref(c->out);
    c->out = NULL;
    switch (c->what) {
    case C_CUS_NEW: {
        struct pay_customer_params p = {.email = "t@example.com"};
        return pay_customer_create(&op, &p, &c->out);
    }
    case C_PM_NEW: {
        struct pay_pm_params p = {.type = "card", .card_token = c->a};
        return pay_payment_method_create(&op, &p, &c->out);
    }
    case C_ATTACH:
        return pay_payment_method_attach(&op, c->a, c->b);
    case C_SAVE:
        return pay_payment_method_save(&op, c->a, c->b, &c->out);
    case C_DETACH:
        return pay_payment_method_detach(&op, c->a, &c->out);
    case C_CHARGE:
        return pay_payment_method_for_charge(&op, c->a, "payment_method", &c->charge);
    case C_PM_GET:
        return pay_payment_method_get(&op, c->a, &c->out);
    case C_PM_RETRIEVE:
        return pay_payment_method_retrieve(&op, c->a, &c->out);
    case C_CUS_GET:
        return pay_customer_get(&op, c->a, &c->out);
    case C_CUS_RETRIEVE:
        return pay_customer_retrieve(&op, c->a, &c->out);
    case C_SET_DEFAULT: {
        struct pay_customer_params p = {.default_payment_method = c->b};
        return pay_customer_update(&op, c->a, &p, &c->out);
    }
    case C_DELETE:
        return pay_customer_delete(&op, c->a, &c->out);
    case C_EVENTS: {
        struct pay_list_args args;
        pay_list_args_init(&args);
        args.limit = 100;
        bool more = false;
        return pay_event_list(tx, NULL, c->a, &args, &c->out, &more, &c->err);
    }
    }
    return PAY_ERR_INTERNAL;
}

static enum pay_err call(struct call *c)
{
    return pay_store_write(store, call_cb, c);
}

static void done(struct call *c)
{
    json_decref(c->out);
    c->out = NULL;
}

static void new_customer(char *id)
{
    struct call c = {.what = C_CUS_NEW};
    cr_assert_eq(call(&c), PAY_OK, "%s", c.err.message);
    strcpy(id, pay_json_str(c.out, "id"));
    done(&c);
}

static void new_pm(const char *token, char *id)
{
    struct call c = {.what = C_PM_NEW, .a = token};
    cr_assert_eq(call(&c), PAY_OK, "%s", c.err.message);
    strcpy(id, pay_json_str(c.out, "id"));
    done(&c);
}

static void attach(const char *pm, const char *cus)
{
    struct call c = {.what = C_ATTACH, .a = pm, .b = cus};
    cr_assert_eq(call(&c), PAY_OK, "%s", c.err.message);
}

/* The event types about @customer, newest first, joined by spaces. */
static void event_types(const char *customer, char *out, size_t n)
{
    struct call c = {.what = C_EVENTS, .a = customer};
    cr_assert_eq(call(&c), PAY_OK, "%s", c.err.message);
    out[0] = '\0';
    size_t i;
    json_t *e;
    json_array_foreach(c.out, i, e)
    {
        size_t used = strlen(out);
        snprintf(out + used, n - used, "%s%s", used ? " " : "", pay_json_str(e, "type"));
    }
    done(&c);
}

Test(customers, charge_resolves_test_names_to_new_payment_methods)
{
    struct call c = {.what = C_CHARGE, .a = "pm_card_visa"};
    cr_assert_eq(call(&c), PAY_OK, "%s", c.err.message);
    cr_assert(pay_id_valid(c.charge.id, "pm"), "%s", c.charge.id);
    cr_assert_str_eq(c.charge.customer, "");
    cr_assert_str_eq(c.charge.type, "card");
    cr_assert_str_eq(c.charge.connector, "sandbox");
    cr_assert_str_eq(c.charge.token, "tok_sandbox_success");
    char first[PAY_ID_LEN_MAX + 1];
    strcpy(first, c.charge.id);

    c.a = "pm_card_chargeDeclinedInsufficientFunds";
    cr_assert_eq(call(&c), PAY_OK);
    cr_assert_str_eq(c.charge.token, "tok_sandbox_insufficient_funds");
    c.a = "tok_visa";
    cr_assert_eq(call(&c), PAY_OK);
    cr_assert_str_neq(c.charge.id, first, "each use makes a new payment method");

    /* The created one is a real, retrievable payment method. */
    struct call g = {.what = C_PM_GET, .a = first};
    cr_assert_eq(call(&g), PAY_OK);
    cr_assert_str_eq(pay_json_str(json_object_get(g.out, "card"), "last4"), "4242");
    done(&g);

    c.a = "pm_card_nope";
    cr_assert_eq(call(&c), PAY_ERR_NOT_FOUND);
    cr_assert_str_eq(c.err.param, "payment_method");
    c.a = "pm_000000000000000000000000";
    cr_assert_eq(call(&c), PAY_ERR_NOT_FOUND);
}

Test(customers, a_patients_reach)
{
    char me[PAY_ID_LEN_MAX + 1], other[PAY_ID_LEN_MAX + 1];
    char mine[PAY_ID_LEN_MAX + 1], theirs[PAY_ID_LEN_MAX + 1], loose[PAY_ID_LEN_MAX + 1];
    new_customer(me);
    new_customer(other);
    new_pm("tok_visa", mine);
    new_pm("tok_visa", theirs);
    new_pm("tok_amex", loose);
    attach(mine, me);
    attach(theirs, other);

    /* Charging and expanding: its own cards and unattached ones. */
    const char *ok[] = {mine, loose};
    for (size_t i = 0; i < 2; i++) {
        struct call c = {.what = C_CHARGE, .scope = me, .a = ok[i]};
        cr_assert_eq(call(&c), PAY_OK, "%s", ok[i]);
        struct call g = {.what = C_PM_GET, .scope = me, .a = ok[i]};
        cr_assert_eq(call(&g), PAY_OK, "%s", ok[i]);
        done(&g);
    }
    struct call c = {.what = C_CHARGE, .scope = me, .a = theirs};
    cr_assert_eq(call(&c), PAY_ERR_NOT_FOUND);
    cr_assert_str_eq(c.err.param, "payment_method");
    struct call g = {.what = C_PM_GET, .scope = me, .a = theirs};
    cr_assert_eq(call(&g), PAY_ERR_NOT_FOUND);

    /* The routes: only its own customer's cards. */
    struct call r = {.what = C_PM_RETRIEVE, .scope = me, .a = mine};
    cr_assert_eq(call(&r), PAY_OK);
    done(&r);
    r.a = loose;
    cr_assert_eq(call(&r), PAY_ERR_NOT_FOUND);
    cr_assert_str_eq(r.err.param, "id");
    r.a = theirs;
    cr_assert_eq(call(&r), PAY_ERR_NOT_FOUND);
    struct call d = {.what = C_DETACH, .scope = me, .a = theirs};
    cr_assert_eq(call(&d), PAY_ERR_NOT_FOUND);

    /* Its customer only. */
    struct call cg = {.what = C_CUS_GET, .scope = me, .a = other};
    cr_assert_eq(call(&cg), PAY_ERR_NOT_FOUND);
    cr_assert_str_eq(cg.err.param, "customer");
    cg.what = C_CUS_RETRIEVE;
    cr_assert_eq(call(&cg), PAY_ERR_NOT_FOUND);
    cr_assert_str_eq(cg.err.param, "id");
    cg.a = me;
    cr_assert_eq(call(&cg), PAY_OK);
    done(&cg);

    /* Attaching: an unattached card to itself, nothing to anyone else. */
    struct call s = {.what = C_SAVE, .scope = me, .a = loose, .b = other};
    cr_assert_eq(call(&s), PAY_ERR_NOT_FOUND);
    cr_assert_str_eq(s.err.param, "customer");
    s.b = me;
    cr_assert_eq(call(&s), PAY_OK, "%s", s.err.message);
    cr_assert_str_eq(pay_json_str(s.out, "customer"), me);
    done(&s);

    struct call nc = {.what = C_CUS_NEW, .scope = me};
    cr_assert_eq(call(&nc), PAY_ERR_FORBIDDEN);
    struct call del = {.what = C_DELETE, .scope = me, .a = me};
    cr_assert_eq(call(&del), PAY_ERR_FORBIDDEN);
}

Test(customers, save_checks_the_card_attach_does_not)
{
    char cus[PAY_ID_LEN_MAX + 1], pm[PAY_ID_LEN_MAX + 1], pm2[PAY_ID_LEN_MAX + 1];
    new_customer(cus);
    new_pm("tok_chargeDeclined", pm);
    struct call s = {.what = C_SAVE, .a = pm, .b = cus};
    cr_assert_eq(call(&s), PAY_ERR_CARD_DECLINED);
    cr_assert_str_eq(s.err.decline_code, "generic_decline");
    cr_assert_str_eq(s.err.message, "Your card was declined.");
    struct call g = {.what = C_PM_GET, .a = pm};
    cr_assert_eq(call(&g), PAY_OK);
    cr_assert(json_is_null(json_object_get(g.out, "customer")), "the refusal changed nothing");
    done(&g);

    /* What payment intents call after a payment: no second check. */
    attach(pm, cus);
    cr_assert_eq(call(&g), PAY_OK);
    cr_assert_str_eq(pay_json_str(g.out, "customer"), cus);
    done(&g);

    /* Attached elsewhere already. */
    char other[PAY_ID_LEN_MAX + 1];
    new_customer(other);
    struct call a = {.what = C_ATTACH, .a = pm, .b = other};
    cr_assert_eq(call(&a), PAY_ERR_PARAM_INVALID);

    new_pm("tok_mastercard", pm2);
    s.a = pm2;
    cr_assert_eq(call(&s), PAY_OK);
    done(&s);
    s.b = "cus_000000000000000000000000";
    cr_assert_eq(call(&s), PAY_ERR_NOT_FOUND);
    cr_assert_str_eq(s.err.param, "customer");
}

Test(customers, the_default_rule)
{
    char cus[PAY_ID_LEN_MAX + 1], a[PAY_ID_LEN_MAX + 1], b[PAY_ID_LEN_MAX + 1];
    new_customer(cus);
    new_pm("tok_visa", a);
    new_pm("tok_amex", b);
    attach(a, cus);

    struct call d = {.what = C_SET_DEFAULT, .a = cus, .b = b};
    cr_assert_eq(call(&d), PAY_ERR_PARAM_INVALID, "b is not attached");
    cr_assert_str_eq(d.err.param, "invoice_settings[default_payment_method]");
    attach(b, cus);
    d.b = a;
    cr_assert_eq(call(&d), PAY_OK, "%s", d.err.message);
    done(&d);

    struct call x = {.what = C_DETACH, .a = b};
    cr_assert_eq(call(&x), PAY_OK);
    done(&x);
    struct call g = {.what = C_CUS_GET, .a = cus};
    cr_assert_eq(call(&g), PAY_OK);
    cr_assert_str_eq(
        pay_json_str(json_object_get(g.out, "invoice_settings"), "default_payment_method"), a,
        "another card's detach leaves the default");
    done(&g);

    x.a = a;
    cr_assert_eq(call(&x), PAY_OK);
    done(&x);
    cr_assert_eq(call(&x), PAY_ERR_PARAM_INVALID, "not attached any more");
    cr_assert_eq(call(&g), PAY_OK);
    cr_assert(json_is_null(
        json_object_get(json_object_get(g.out, "invoice_settings"), "default_payment_method")));
    done(&g);

    char types[512];
    event_types(cus, types, sizeof(types));
    cr_assert_str_eq(types, "customer.updated payment_method.detached payment_method.detached "
                            "customer.updated payment_method.attached payment_method.attached "
                            "customer.created");
}

Test(customers, deletion_detaches_and_hides)
{
    char cus[PAY_ID_LEN_MAX + 1], a[PAY_ID_LEN_MAX + 1], b[PAY_ID_LEN_MAX + 1];
    new_customer(cus);
    new_pm("tok_visa", a);
    new_pm("tok_visa", b);
    attach(a, cus);
    attach(b, cus);
    struct call d = {.what = C_SET_DEFAULT, .a = cus, .b = a};
    cr_assert_eq(call(&d), PAY_OK);
    done(&d);

    struct call del = {.what = C_DELETE, .a = cus};
    cr_assert_eq(call(&del), PAY_OK, "%s", del.err.message);
    cr_assert(json_is_true(json_object_get(del.out, "deleted")));
    cr_assert_str_eq(pay_json_str(del.out, "id"), cus);
    done(&del);
    cr_assert_eq(call(&del), PAY_ERR_NOT_FOUND);

    const char *pms[] = {a, b};
    for (size_t i = 0; i < 2; i++) {
        struct call g = {.what = C_PM_GET, .a = pms[i]};
        cr_assert_eq(call(&g), PAY_OK);
        cr_assert(json_is_null(json_object_get(g.out, "customer")));
        done(&g);
    }
    struct call g = {.what = C_CUS_GET, .a = cus};
    cr_assert_eq(call(&g), PAY_ERR_NOT_FOUND);
    struct call s = {.what = C_SAVE, .a = a, .b = cus};
    cr_assert_eq(call(&s), PAY_ERR_NOT_FOUND, "nothing attaches to a deleted customer");

    char types[512];
    event_types(cus, types, sizeof(types));
    cr_assert_str_eq(types, "customer.deleted payment_method.detached payment_method.detached "
                            "customer.updated payment_method.attached payment_method.attached "
                            "customer.created");
}
