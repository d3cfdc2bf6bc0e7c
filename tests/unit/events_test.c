/*
 * events_test.c - the event log on a real SQLite store in a temp
 * directory: Stripe's event shape, get with customer scoping, lists with
 * exact and wildcard types, types[], paging, and refused appends.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "events/events.h"

static char dir[64];
static struct pay_store *store;

static void setup(void)
{
    pay_log_init(PAY_LOG_WARN); /* no "applied migration" lines */
    strcpy(dir, "/tmp/payd-events-test-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char url[128];
    snprintf(url, sizeof(url), "sqlite:%s/t.db", dir);
    struct pay_error err = {0};
    cr_assert_eq(pay_store_open(url, &store, &err), PAY_OK, "open: %s", err.message);
    cr_assert_eq(pay_store_migrate(store, NULL, &err), PAY_OK, "migrate: %s", err.message);
}

static void teardown(void)
{
    pay_clock_set_fixed(0);
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

TestSuite(events, .init = setup, .fini = teardown);

struct append {
    const char *type;
    json_t *object;
    const char *customer, *request_id;
    char id[PAY_ID_LEN_MAX + 1];
    struct pay_error err;
};

static enum pay_err append_cb(struct pay_tx *tx, void *arg)
{
    struct append *a = arg;
    return pay_event_append(tx, a->type, a->object, a->customer, a->request_id, a->id, &a->err);
}

/* Append an event of @type about a customer object @cus (NULL: a
 * customer-less object); returns its id in @id_out (may be NULL). */
static void append(const char *type, const char *cus, char *id_out)
{
    json_t *obj = json_pack("{s:s, s:s}", "id", cus ? cus : "obj_1", "object", "thing");
    struct append a = {.type = type, .object = obj, .customer = cus, .request_id = "req_t"};
    cr_assert_eq(pay_store_write(store, append_cb, &a), PAY_OK, "%s", a.err.message);
    json_decref(obj);
    if (id_out != NULL) {
        strcpy(id_out, a.id);
    }
}

struct get {
    const char *id, *customer;
    json_t *out;
    struct pay_error err;
};

static enum pay_err get_cb(struct pay_tx *tx, void *arg)
{
    struct get *g = arg;
    return pay_event_get(tx, g->id, g->customer, &g->out, &g->err);
}

struct list {
    const char *types[PAY_EVENT_TYPES_MAX + 2];
    size_t n_types;
    const char *customer;
    struct pay_list_args args;
    json_t *data;
    bool has_more;
    struct pay_error err;
};

static enum pay_err list_cb(struct pay_tx *tx, void *arg)
{
    struct list *l = arg;
    return pay_event_list_types(tx, l->types, l->n_types, l->customer, &l->args, &l->data,
                                &l->has_more, &l->err);
}

/* The types of one page, newest first, joined by ' '. */
static void list_types(struct list *l, char *out, size_t n)
{
    pay_list_args_init(&l->args);
    l->args.limit = 100;
    cr_assert_eq(pay_store_read(store, list_cb, l), PAY_OK, "%s", l->err.message);
    out[0] = '\0';
    size_t i;
    json_t *ev;
    json_array_foreach(l->data, i, ev)
    {
        if (i > 0) {
            strncat(out, " ", n - strlen(out) - 1);
        }
        strncat(out, pay_json_str(ev, "type"), n - strlen(out) - 1);
    }
    json_decref(l->data);
}

Test(events, append_writes_stripes_shape)
{
    pay_clock_set_fixed(1700000000);
    json_t *obj = json_pack("{s:s, s:s, s:i, s:{s:s}}", "id", "pi_1", "object", "payment_intent",
                            "amount", 1000, "metadata", "order", "42");
    struct append a = {.type = "payment_intent.succeeded",
                       .object = obj,
                       .customer = "cus_1",
                       .request_id = "req_abc"};
    cr_assert_eq(pay_store_write(store, append_cb, &a), PAY_OK, "%s", a.err.message);
    cr_assert(pay_id_valid(a.id, "evt"), "%s", a.id);
    /* The event holds a copy: changing the object afterwards changes nothing. */
    json_object_set_new(obj, "amount", json_integer(1));

    struct get g = {.id = a.id};
    cr_assert_eq(pay_store_read(store, get_cb, &g), PAY_OK);
    json_t *ev = g.out;
    cr_assert_str_eq(pay_json_str(ev, "id"), a.id);
    cr_assert_str_eq(pay_json_str(ev, "object"), "event");
    cr_assert_str_eq(pay_json_str(ev, "type"), "payment_intent.succeeded");
    cr_assert_str_eq(pay_json_str(ev, "api_version"), PAY_EVENT_API_VERSION);
    cr_assert_eq(pay_json_int(ev, "created", 0), 1700000000);
    cr_assert(json_is_false(json_object_get(ev, "livemode")));
    cr_assert_eq(pay_json_int(ev, "pending_webhooks", -1), 0);
    json_t *data_obj = json_object_get(json_object_get(ev, "data"), "object");
    cr_assert_eq(pay_json_int(data_obj, "amount", -1), 1000);
    cr_assert_str_eq(pay_json_str(json_object_get(data_obj, "metadata"), "order"), "42");
    json_t *req = json_object_get(ev, "request");
    cr_assert_str_eq(pay_json_str(req, "id"), "req_abc");
    cr_assert(json_is_null(json_object_get(req, "idempotency_key")));
    json_decref(g.out);
    json_decref(obj);
}

struct append_dumped {
    json_t *object;
    const char *text;
    char id[PAY_ID_LEN_MAX + 1];
    struct pay_error err;
};

static enum pay_err append_dumped_cb(struct pay_tx *tx, void *arg)
{
    struct append_dumped *a = arg;
    enum pay_err e = pay_event_append_dumped(tx, "payment_intent.succeeded", a->object, a->text,
                                             "cus_1", "req_abc", &a->err);
    if (e != PAY_OK) {
        return e;
    }
    /* The newest event: pay_event_append_dumped gives no id back. */
    char *id = NULL;
    e = pay_tx_query_text(tx, "SELECT id FROM events ORDER BY seq DESC LIMIT 1", NULL, 0, &id);
    if (e == PAY_OK && id != NULL) {
        snprintf(a->id, sizeof(a->id), "%s", id);
    }
    free(id);
    return e;
}

/* An event from the text the caller already wrote reads back as the one
 * pay_event_append writes from the object. */
Test(events, append_from_the_objects_text_stores_the_same_event)
{
    pay_clock_set_fixed(1700000000);
    json_t *obj = json_pack("{s:s, s:s, s:i, s:{s:s}}", "id", "pi_1", "object", "payment_intent",
                            "amount", 1000, "metadata", "order", "é \"42\"");
    char *text = pay_json_dump(obj);
    struct append_dumped d = {.object = obj, .text = text};
    cr_assert_eq(pay_store_write(store, append_dumped_cb, &d), PAY_OK, "%s", d.err.message);
    struct append a = {.type = "payment_intent.succeeded",
                       .object = obj,
                       .customer = "cus_1",
                       .request_id = "req_abc"};
    cr_assert_eq(pay_store_write(store, append_cb, &a), PAY_OK, "%s", a.err.message);

    struct get g1 = {.id = d.id}, g2 = {.id = a.id};
    cr_assert_eq(pay_store_read(store, get_cb, &g1), PAY_OK);
    cr_assert_eq(pay_store_read(store, get_cb, &g2), PAY_OK);
    json_object_set_new(g1.out, "id", json_string("evt_x"));
    json_object_set_new(g2.out, "id", json_string("evt_x"));
    cr_assert(json_equal(g1.out, g2.out), "the two events differ");
    cr_assert_eq(
        pay_json_int(json_object_get(json_object_get(g1.out, "data"), "object"), "amount", 0),
        1000);
    json_decref(g1.out);
    json_decref(g2.out);
    free(text);
    json_decref(obj);
}

#ifndef NDEBUG
/* A text that is not the object's would store an event that says something
 * else: debug builds (those the tests run) stop. */
Test(events, a_text_that_is_not_the_objects_stops_a_debug_build, .signal = SIGABRT)
{
    json_t *obj = json_pack("{s:s, s:i}", "id", "pi_1", "amount", 1000);
    struct append_dumped d = {.object = obj, .text = "{\"id\":\"pi_1\",\"amount\":999}"};
    enum pay_err e = pay_store_write(store, append_dumped_cb, &d);
    cr_assert_fail("the append returned (%d) instead of stopping", (int)e);
    json_decref(obj);
}
#endif

Test(events, request_id_may_be_absent)
{
    json_t *obj = json_pack("{s:s}", "id", "cus_1");
    struct append a = {.type = "customer.created", .object = obj};
    cr_assert_eq(pay_store_write(store, append_cb, &a), PAY_OK);
    struct get g = {.id = a.id};
    cr_assert_eq(pay_store_read(store, get_cb, &g), PAY_OK);
    cr_assert(json_is_null(json_object_get(json_object_get(g.out, "request"), "id")));
    json_decref(g.out);
    json_decref(obj);
}

Test(events, get_is_scoped_to_the_customer)
{
    char mine[PAY_ID_LEN_MAX + 1], theirs[PAY_ID_LEN_MAX + 1], none[PAY_ID_LEN_MAX + 1];
    append("customer.created", "cus_1", mine);
    append("customer.created", "cus_2", theirs);
    append("balance.available", NULL, none);

    struct get g = {.id = mine, .customer = "cus_1"};
    cr_assert_eq(pay_store_read(store, get_cb, &g), PAY_OK);
    json_decref(g.out);
    struct get other = {.id = theirs, .customer = "cus_1"};
    cr_assert_eq(pay_store_read(store, get_cb, &other), PAY_ERR_NOT_FOUND);
    cr_assert_str_eq(other.err.param, "id");
    struct get nobody = {.id = none, .customer = "cus_1"};
    cr_assert_eq(pay_store_read(store, get_cb, &nobody), PAY_ERR_NOT_FOUND);
    struct get staff = {.id = theirs};
    cr_assert_eq(pay_store_read(store, get_cb, &staff), PAY_OK);
    json_decref(staff.out);
    struct get missing = {.id = "evt_000000000000000000000000"};
    cr_assert_eq(pay_store_read(store, get_cb, &missing), PAY_ERR_NOT_FOUND);
    struct get malformed = {.id = "pi_1"};
    cr_assert_eq(pay_store_read(store, get_cb, &malformed), PAY_ERR_NOT_FOUND);
}

Test(events, list_filters_by_type_wildcard_types_and_customer)
{
    append("payment_intent.created", "cus_1", NULL);
    append("payment0intent.created", "cus_1", NULL); /* '_' must not act as LIKE's wildcard */
    append("payment_intent.succeeded", "cus_2", NULL);
    append("charge.refunded", "cus_1", NULL);
    append("customer.created", NULL, NULL);
    append("payment_intents.created", NULL, NULL); /* a different prefix */

    char got[512];
    struct list all = {0};
    list_types(&all, got, sizeof(got));
    cr_assert_str_eq(got, "payment_intents.created customer.created charge.refunded "
                          "payment_intent.succeeded payment0intent.created "
                          "payment_intent.created");

    struct list wild = {.types = {"payment_intent.*"}, .n_types = 1};
    list_types(&wild, got, sizeof(got));
    cr_assert_str_eq(got, "payment_intent.succeeded payment_intent.created");

    struct list exact = {.types = {"charge.refunded"}, .n_types = 1};
    list_types(&exact, got, sizeof(got));
    cr_assert_str_eq(got, "charge.refunded");

    struct list none = {.types = {"invoice.paid"}, .n_types = 1};
    list_types(&none, got, sizeof(got));
    cr_assert_str_eq(got, "");

    struct list several = {.types = {"charge.refunded", "customer.*"}, .n_types = 2};
    list_types(&several, got, sizeof(got));
    cr_assert_str_eq(got, "customer.created charge.refunded");

    struct list star = {.types = {"*"}, .n_types = 1, .customer = "cus_2"};
    list_types(&star, got, sizeof(got));
    cr_assert_str_eq(got, "payment_intent.succeeded");

    struct list scoped = {.types = {"payment_intent.*"}, .n_types = 1, .customer = "cus_1"};
    list_types(&scoped, got, sizeof(got));
    cr_assert_str_eq(got, "payment_intent.created");

    struct list mine = {.customer = "cus_1"};
    list_types(&mine, got, sizeof(got));
    cr_assert_str_eq(got, "charge.refunded payment0intent.created payment_intent.created");

    struct list nobody = {.customer = "cus_9"};
    list_types(&nobody, got, sizeof(got));
    cr_assert_str_eq(got, "");
}

static enum pay_err list_one_cb(struct pay_tx *tx, void *arg)
{
    struct list *l = arg;
    return pay_event_list(tx, l->n_types ? l->types[0] : NULL, l->customer, &l->args, &l->data,
                          &l->has_more, &l->err);
}

Test(events, pay_event_list_filters_like_types)
{
    append("payment_intent.created", "cus_1", NULL);
    append("customer.created", "cus_1", NULL);
    append("payment_intent.canceled", "cus_2", NULL);
    struct list l = {.types = {"payment_intent.*"}, .n_types = 1, .customer = "cus_2"};
    pay_list_args_init(&l.args);
    cr_assert_eq(pay_store_read(store, list_one_cb, &l), PAY_OK);
    cr_assert_eq(json_array_size(l.data), 1);
    cr_assert_str_eq(pay_json_str(json_array_get(l.data, 0), "type"), "payment_intent.canceled");
    json_decref(l.data);
    struct list any = {0};
    pay_list_args_init(&any.args);
    cr_assert_eq(pay_store_read(store, list_one_cb, &any), PAY_OK);
    cr_assert_eq(json_array_size(any.data), 3);
    json_decref(any.data);
}

Test(events, list_pages_both_ways)
{
    enum { N = 23 };
    char ids[N][PAY_ID_LEN_MAX + 1];
    for (int i = 0; i < N; i++) {
        append(i % 2 ? "customer.updated" : "customer.created", "cus_1", ids[i]);
    }
    /* Forward, newest first, 10 at a time. */
    int n = 0, pages = 0;
    const char *after = NULL;
    json_t *prev = NULL;
    for (;;) {
        struct list l = {.customer = "cus_1"};
        pay_list_args_init(&l.args);
        l.args.limit = 10;
        l.args.starting_after = after;
        cr_assert_eq(pay_store_read(store, list_cb, &l), PAY_OK, "%s", l.err.message);
        pages++;
        size_t i;
        json_t *ev;
        json_array_foreach(l.data, i, ev)
        {
            cr_assert_str_eq(pay_json_str(ev, "id"), ids[N - 1 - n]);
            n++;
        }
        json_decref(prev);
        prev = l.data;
        after = pay_json_str(json_array_get(l.data, json_array_size(l.data) - 1), "id");
        if (!l.has_more) {
            break;
        }
    }
    json_decref(prev);
    cr_assert_eq(n, N);
    cr_assert_eq(pages, 3);

    /* Backward from the oldest. */
    struct list b = {.customer = "cus_1"};
    pay_list_args_init(&b.args);
    b.args.limit = 5;
    b.args.ending_before = ids[0];
    cr_assert_eq(pay_store_read(store, list_cb, &b), PAY_OK);
    cr_assert_eq(json_array_size(b.data), 5);
    cr_assert(b.has_more);
    cr_assert_str_eq(pay_json_str(json_array_get(b.data, 4), "id"), ids[1]);
    cr_assert_str_eq(pay_json_str(json_array_get(b.data, 0), "id"), ids[5]);
    json_decref(b.data);

    /* Created bounds. */
    struct list c = {0};
    pay_list_args_init(&c.args);
    c.args.created_gt = pay_now() + 100;
    cr_assert_eq(pay_store_read(store, list_cb, &c), PAY_OK);
    cr_assert_eq(json_array_size(c.data), 0);
    json_decref(c.data);
}

Test(events, bad_appends_and_filters_are_refused)
{
    json_t *obj = json_pack("{s:s}", "id", "x");
    const char *bad_types[] = {"", "Bad.Type", "a b", "payment_intent.*"};
    for (size_t i = 0; i < sizeof(bad_types) / sizeof(bad_types[0]); i++) {
        struct append a = {.type = bad_types[i], .object = obj};
        cr_assert_eq(pay_store_write(store, append_cb, &a), PAY_ERR_INTERNAL, "%s", bad_types[i]);
    }
    struct append null_type = {.type = NULL, .object = obj};
    cr_assert_eq(pay_store_write(store, append_cb, &null_type), PAY_ERR_INTERNAL);
    json_t *arr = json_array();
    struct append not_object = {.type = "customer.created", .object = arr};
    cr_assert_eq(pay_store_write(store, append_cb, &not_object), PAY_ERR_INTERNAL);
    json_decref(arr);
    json_decref(obj);

    struct list all = {0};
    char got[64];
    list_types(&all, got, sizeof(got));
    cr_assert_str_eq(got, "", "nothing was written");

    struct list bad = {.types = {"bad type"}, .n_types = 1};
    pay_list_args_init(&bad.args);
    cr_assert_eq(pay_store_read(store, list_cb, &bad), PAY_ERR_PARAM_INVALID);
    cr_assert_str_eq(bad.err.param, "type");
    struct list bad2 = {.types = {"a.b", "'; DROP TABLE events; --"}, .n_types = 2};
    pay_list_args_init(&bad2.args);
    cr_assert_eq(pay_store_read(store, list_cb, &bad2), PAY_ERR_PARAM_INVALID);
    cr_assert_str_eq(bad2.err.param, "types");
    struct list many = {.n_types = PAY_EVENT_TYPES_MAX + 1};
    for (size_t i = 0; i < many.n_types; i++) {
        many.types[i] = "customer.created";
    }
    pay_list_args_init(&many.args);
    cr_assert_eq(pay_store_read(store, list_cb, &many), PAY_ERR_PARAM_INVALID);
    cr_assert_str_eq(many.err.param, "types");
}
