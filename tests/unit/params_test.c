/*
 * params_test.c - the parameter helpers on JSON values and on form values
 * (strings), and every refusal with the code and the parameter it names.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "http/http.h"

static struct pay_request req;

static void setup(void)
{
    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.body = json_object();
    req.query = json_object();
}

static void teardown(void)
{
    json_decref(req.body);
    json_decref(req.query);
}

TestSuite(params, .init = setup, .fini = teardown);

/* A source object from JSON text (JSON "typed" values). */
static json_t *J(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);
    cr_assert_not_null(v, "bad test JSON %s: %s", text, e.text);
    return v;
}

/* A source object from a form body (every value a string). */
static json_t *F(const char *form)
{
    json_t *v = NULL;
    struct pay_error err = {0};
    cr_assert_eq(pay_form_decode(form, strlen(form), &v, &err), PAY_OK, "%s", err.message);
    return v;
}

static void expect_err(enum pay_err got, enum pay_err want, const char *param)
{
    cr_assert_eq(got, want, "got %s, want %s", pay_err_str(got), pay_err_str(want));
    cr_assert_eq(req.err.code, want);
    cr_assert_str_eq(req.err.param, param);
    cr_assert_neq(req.err.message[0], '\0');
    pay_error_clear(&req.err);
}

/* ---- integers ------------------------------------------------------------ */

static enum pay_err int_of(json_t *src, int64_t *out)
{
    enum pay_err e = pay_arg_int(&req, src, "n", false, INT64_MIN, INT64_MAX, out, NULL);
    json_decref(src);
    return e;
}

Test(params, int_accepts_json_and_string)
{
    int64_t v = 0;
    cr_assert_eq(int_of(J("{\"n\":42}"), &v), PAY_OK);
    cr_assert_eq(v, 42);
    cr_assert_eq(int_of(F("n=42"), &v), PAY_OK);
    cr_assert_eq(v, 42);
    cr_assert_eq(int_of(F("n=-7"), &v), PAY_OK);
    cr_assert_eq(v, -7);
    cr_assert_eq(int_of(F("n=9223372036854775807"), &v), PAY_OK);
    cr_assert_eq(v, INT64_MAX);
    cr_assert_eq(int_of(F("n=-9223372036854775808"), &v), PAY_OK);
    cr_assert_eq(v, INT64_MIN);
    cr_assert_eq(int_of(F("n=007"), &v), PAY_OK);
    cr_assert_eq(v, 7);
}

Test(params, int_rejects_non_integers)
{
    const char *bad_forms[] = {"n=4.2",
                               "n=abc",
                               "n=",
                               "n=+4",
                               "n=%204",
                               "n=4%20",
                               "n=-",
                               "n=1e3",
                               "n=0x10",
                               "n=9223372036854775808",
                               "n=-9223372036854775809",
                               "n=99999999999999999999999"};
    for (size_t i = 0; i < sizeof(bad_forms) / sizeof(bad_forms[0]); i++) {
        int64_t v = 123;
        expect_err(int_of(F(bad_forms[i]), &v), PAY_ERR_PARAM_INTEGER, "n");
        cr_assert_eq(v, 123, "%s changed the output", bad_forms[i]);
    }
    const char *bad_json[] = {"{\"n\":4.2}", "{\"n\":4.0}",     "{\"n\":true}",  "{\"n\":[1]}",
                              "{\"n\":{}}",  "{\"n\":\"4.2\"}", "{\"n\":\" 4\"}"};
    for (size_t i = 0; i < sizeof(bad_json) / sizeof(bad_json[0]); i++) {
        int64_t v = 123;
        expect_err(int_of(J(bad_json[i]), &v), PAY_ERR_PARAM_INTEGER, "n");
        cr_assert_eq(v, 123);
    }
}

Test(params, int_range_required_and_presence)
{
    json_t *src = F("n=11");
    int64_t v = 5;
    bool present = false;
    expect_err(pay_arg_int(&req, src, "n", false, 1, 10, &v, &present), PAY_ERR_PARAM_INVALID, "n");
    cr_assert(present);
    cr_assert_eq(v, 5);
    cr_assert_eq(pay_arg_int(&req, src, "m", false, 1, 10, &v, &present), PAY_OK);
    cr_assert_not(present);
    cr_assert_eq(v, 5, "absent leaves the default");
    expect_err(pay_arg_int(&req, src, "m", true, 1, 10, &v, &present), PAY_ERR_PARAM_MISSING, "m");
    json_decref(src);

    /* JSON null is absent. */
    src = J("{\"n\":null}");
    cr_assert_eq(pay_arg_int(&req, src, "n", false, 1, 10, &v, &present), PAY_OK);
    cr_assert_not(present);
    expect_err(pay_arg_int(&req, src, "n", true, 1, 10, &v, NULL), PAY_ERR_PARAM_MISSING, "n");
    json_decref(src);
}

Test(params, nested_names_use_bracket_paths)
{
    json_t *src = F("card[exp_month]=13&card[exp_year]=2030&items[0][quantity]=x");
    int64_t v = 0;
    cr_assert_eq(pay_arg_int(&req, src, "card[exp_year]", true, 2000, 2100, &v, NULL), PAY_OK);
    cr_assert_eq(v, 2030);
    expect_err(pay_arg_int(&req, src, "card[exp_month]", true, 1, 12, &v, NULL),
               PAY_ERR_PARAM_INVALID, "card[exp_month]");
    expect_err(pay_arg_int(&req, src, "items[0][quantity]", true, 1, 12, &v, NULL),
               PAY_ERR_PARAM_INTEGER, "items[0][quantity]");
    expect_err(pay_arg_int(&req, src, "items[1][quantity]", true, 1, 12, &v, NULL),
               PAY_ERR_PARAM_MISSING, "items[1][quantity]");
    expect_err(pay_arg_int(&req, src, "card[cvc]", true, 1, 12, &v, NULL), PAY_ERR_PARAM_MISSING,
               "card[cvc]");
    json_decref(src);
    src = J("{\"items\":[{\"quantity\":1},{\"quantity\":\"x\"}]}");
    expect_err(pay_arg_int(&req, src, "items[1][quantity]", true, 1, 12, &v, NULL),
               PAY_ERR_PARAM_INTEGER, "items[1][quantity]");
    json_decref(src);
}

/* ---- amounts ------------------------------------------------------------- */

static enum pay_err amount_of(json_t *src, int64_t min, int64_t *out)
{
    enum pay_err e = pay_arg_amount(&req, src, "amount", true, min, out, NULL);
    json_decref(src);
    return e;
}

Test(params, amounts)
{
    int64_t v = 0;
    cr_assert_eq(amount_of(F("amount=1050"), 0, &v), PAY_OK);
    cr_assert_eq(v, 1050);
    cr_assert_eq(amount_of(J("{\"amount\":999999999999}"), 0, &v), PAY_OK);
    cr_assert_eq(v, PAY_AMOUNT_MAX_MINOR);
    cr_assert_eq(amount_of(F("amount=0"), 0, &v), PAY_OK);
    cr_assert_eq(v, 0);

    expect_err(amount_of(F("amount=10.50"), 0, &v), PAY_ERR_AMOUNT_INVALID, "amount");
    expect_err(amount_of(J("{\"amount\":10.5}"), 0, &v), PAY_ERR_AMOUNT_INVALID, "amount");
    expect_err(amount_of(F("amount=-1"), 0, &v), PAY_ERR_AMOUNT_INVALID, "amount");
    expect_err(amount_of(J("{\"amount\":-5}"), 0, &v), PAY_ERR_AMOUNT_INVALID, "amount");
    expect_err(amount_of(F("amount=abc"), 0, &v), PAY_ERR_AMOUNT_INVALID, "amount");
    expect_err(amount_of(F("amount="), 0, &v), PAY_ERR_AMOUNT_INVALID, "amount");
    expect_err(amount_of(F("amount=1000000000000"), 0, &v), PAY_ERR_AMOUNT_TOO_LARGE, "amount");
    expect_err(amount_of(F("amount=99999999999999999999999"), 0, &v), PAY_ERR_AMOUNT_TOO_LARGE,
               "amount");
    expect_err(amount_of(F("amount=49"), 50, &v), PAY_ERR_AMOUNT_TOO_SMALL, "amount");
    expect_err(amount_of(F("x=1"), 0, &v), PAY_ERR_PARAM_MISSING, "amount");
    cr_assert_eq(v, 0, "failures leave the output alone");
}

/* ---- booleans, strings, enums, currencies -------------------------------- */

Test(params, booleans)
{
    json_t *src = J("{\"a\":true,\"b\":false,\"c\":\"true\",\"d\":\"false\",\"e\":1,"
                    "\"f\":\"yes\",\"g\":\"True\"}");
    bool v = false;
    bool present = false;
    cr_assert_eq(pay_arg_bool(&req, src, "a", &v, &present), PAY_OK);
    cr_assert(v && present);
    cr_assert_eq(pay_arg_bool(&req, src, "b", &v, NULL), PAY_OK);
    cr_assert_not(v);
    cr_assert_eq(pay_arg_bool(&req, src, "c", &v, NULL), PAY_OK);
    cr_assert(v);
    cr_assert_eq(pay_arg_bool(&req, src, "d", &v, NULL), PAY_OK);
    cr_assert_not(v);
    expect_err(pay_arg_bool(&req, src, "e", &v, NULL), PAY_ERR_PARAM_INVALID, "e");
    expect_err(pay_arg_bool(&req, src, "f", &v, NULL), PAY_ERR_PARAM_INVALID, "f");
    expect_err(pay_arg_bool(&req, src, "g", &v, NULL), PAY_ERR_PARAM_INVALID, "g");
    v = true;
    cr_assert_eq(pay_arg_bool(&req, src, "zz", &v, &present), PAY_OK);
    cr_assert(v && !present);
    json_decref(src);
}

Test(params, strings)
{
    json_t *src = J("{\"s\":\"hello\",\"n\":5,\"e\":\"\",\"u\":\"\\u00e9\\u00e9\\u00e9\"}");
    const char *v = "dflt";
    cr_assert_eq(pay_arg_str(&req, src, "s", true, 10, &v, NULL), PAY_OK);
    cr_assert_str_eq(v, "hello");
    expect_err(pay_arg_str(&req, src, "s", true, 4, &v, NULL), PAY_ERR_PARAM_INVALID, "s");
    expect_err(pay_arg_str(&req, src, "n", false, 10, &v, NULL), PAY_ERR_PARAM_INVALID, "n");
    expect_err(pay_arg_str(&req, src, "e", true, 10, &v, NULL), PAY_ERR_PARAM_MISSING, "e");
    cr_assert_eq(pay_arg_str(&req, src, "e", false, 10, &v, NULL), PAY_OK);
    cr_assert_str_eq(v, "");
    /* Lengths count characters, not bytes. */
    cr_assert_eq(pay_arg_str(&req, src, "u", false, 3, &v, NULL), PAY_OK);
    expect_err(pay_arg_str(&req, src, "u", false, 2, &v, NULL), PAY_ERR_PARAM_INVALID, "u");
    v = "dflt";
    cr_assert_eq(pay_arg_str(&req, src, "absent", false, 10, &v, NULL), PAY_OK);
    cr_assert_str_eq(v, "dflt");
    json_decref(src);
}

Test(params, enums)
{
    static const char *const methods[] = {"automatic", "manual", NULL};
    json_t *src = F("capture_method=manual&bad=Manual");
    const char *v = NULL;
    cr_assert_eq(pay_arg_enum(&req, src, "capture_method", true, methods, &v, NULL), PAY_OK);
    cr_assert_str_eq(v, "manual");
    expect_err(pay_arg_enum(&req, src, "bad", true, methods, &v, NULL), PAY_ERR_PARAM_INVALID,
               "bad");
    expect_err(pay_arg_enum(&req, src, "none", true, methods, &v, NULL), PAY_ERR_PARAM_MISSING,
               "none");
    json_decref(src);
    src = J("{\"m\":3}");
    expect_err(pay_arg_enum(&req, src, "m", true, methods, &v, NULL), PAY_ERR_PARAM_INVALID, "m");
    json_decref(src);
}

Test(params, enum_message_lists_values)
{
    static const char *const methods[] = {"automatic", "manual", NULL};
    json_t *src = F("m=x");
    const char *v = NULL;
    cr_assert_eq(pay_arg_enum(&req, src, "m", true, methods, &v, NULL), PAY_ERR_PARAM_INVALID);
    cr_assert(strstr(req.err.message, "automatic, manual"), "%s", req.err.message);
    json_decref(src);
}

Test(params, currencies)
{
    json_t *src = J("{\"currency\":\"usd\",\"up\":\"JPY\",\"bad\":\"xyz\",\"num\":840,"
                    "\"long\":\"usdd\"}");
    const struct pay_currency *c = NULL;
    cr_assert_eq(pay_arg_currency(&req, src, "currency", true, &c, NULL), PAY_OK);
    cr_assert_str_eq(c->code, "usd");
    cr_assert_eq(pay_arg_currency(&req, src, "up", true, &c, NULL), PAY_OK);
    cr_assert_eq(c->exponent, 0);
    expect_err(pay_arg_currency(&req, src, "bad", true, &c, NULL), PAY_ERR_CURRENCY_INVALID, "bad");
    expect_err(pay_arg_currency(&req, src, "num", true, &c, NULL), PAY_ERR_CURRENCY_INVALID, "num");
    expect_err(pay_arg_currency(&req, src, "long", true, &c, NULL), PAY_ERR_CURRENCY_INVALID,
               "long");
    expect_err(pay_arg_currency(&req, src, "none", true, &c, NULL), PAY_ERR_PARAM_MISSING, "none");
    json_decref(src);
}

/* ---- metadata ------------------------------------------------------------ */

Test(params, metadata_from_form_and_json)
{
    json_t *src = F("metadata[order]=42&metadata[0]=zero&metadata[gone]=");
    json_t *md = NULL;
    cr_assert_eq(pay_arg_metadata(&req, src, "metadata", &md), PAY_OK);
    cr_assert_str_eq(pay_json_str(md, "order"), "42");
    cr_assert_str_eq(pay_json_str(md, "0"), "zero");
    cr_assert_str_eq(pay_json_str(md, "gone"), "", "empty string means unset; caller merges");
    json_decref(md);
    json_decref(src);

    src = J("{\"metadata\":{\"n\":42,\"r\":4.2,\"b\":true,\"s\":\"x\",\"z\":null}}");
    cr_assert_eq(pay_arg_metadata(&req, src, "metadata", &md), PAY_OK);
    cr_assert_str_eq(pay_json_str(md, "n"), "42");
    cr_assert_str_eq(pay_json_str(md, "r"), "4.2");
    cr_assert_str_eq(pay_json_str(md, "b"), "true");
    cr_assert_str_eq(pay_json_str(md, "s"), "x");
    cr_assert_str_eq(pay_json_str(md, "z"), "");
    json_decref(md);
    json_decref(src);
}

Test(params, metadata_absent_and_empty)
{
    json_t *src = J("{\"a\":1}");
    json_t *md = (json_t *)1;
    cr_assert_eq(pay_arg_metadata(&req, src, "metadata", &md), PAY_OK);
    cr_assert_null(md);
    json_decref(src);
    src = F("metadata=");
    cr_assert_eq(pay_arg_metadata(&req, src, "metadata", &md), PAY_OK);
    cr_assert(json_is_object(md));
    cr_assert_eq(json_object_size(md), 0);
    json_decref(md);
    json_decref(src);
}

Test(params, metadata_limits)
{
    json_t *md = NULL;
    json_t *src = J("{\"metadata\":\"x\"}");
    expect_err(pay_arg_metadata(&req, src, "metadata", &md), PAY_ERR_PARAM_INVALID, "metadata");
    cr_assert_null(md);
    json_decref(src);

    src = J("{\"metadata\":[\"x\"]}");
    expect_err(pay_arg_metadata(&req, src, "metadata", &md), PAY_ERR_PARAM_INVALID, "metadata");
    json_decref(src);

    src = J("{\"metadata\":{\"k\":{\"x\":1}}}");
    expect_err(pay_arg_metadata(&req, src, "metadata", &md), PAY_ERR_PARAM_INVALID, "metadata[k]");
    json_decref(src);

    /* 40-character keys pass, 41 fail. */
    char key41[42];
    memset(key41, 'k', 41);
    key41[41] = '\0';
    src = json_pack("{s:{s:s}}", "metadata", key41 + 1, "v");
    cr_assert_eq(pay_arg_metadata(&req, src, "metadata", &md), PAY_OK);
    json_decref(md);
    json_decref(src);
    src = json_pack("{s:{s:s}}", "metadata", key41, "v");
    char pname[64];
    snprintf(pname, sizeof(pname), "metadata[%s]", key41);
    expect_err(pay_arg_metadata(&req, src, "metadata", &md), PAY_ERR_PARAM_INVALID, pname);
    json_decref(src);

    /* 500-character values pass, 501 fail. */
    char val[502];
    memset(val, 'v', 501);
    val[501] = '\0';
    src = json_pack("{s:{s:s}}", "metadata", "k", val + 1);
    cr_assert_eq(pay_arg_metadata(&req, src, "metadata", &md), PAY_OK);
    json_decref(md);
    json_decref(src);
    src = json_pack("{s:{s:s}}", "metadata", "k", val);
    expect_err(pay_arg_metadata(&req, src, "metadata", &md), PAY_ERR_PARAM_INVALID, "metadata[k]");
    json_decref(src);

    /* 50 keys pass, 51 fail. */
    json_t *obj = json_object();
    for (int i = 0; i < PAY_METADATA_KEYS_MAX; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        json_object_set_new(obj, k, json_string("v"));
    }
    src = json_pack("{s:O}", "metadata", obj);
    cr_assert_eq(pay_arg_metadata(&req, src, "metadata", &md), PAY_OK);
    cr_assert_eq(json_object_size(md), PAY_METADATA_KEYS_MAX);
    json_decref(md);
    json_decref(src);
    json_object_set_new(obj, "one_more", json_string("v"));
    src = json_pack("{s:o}", "metadata", obj);
    expect_err(pay_arg_metadata(&req, src, "metadata", &md), PAY_ERR_PARAM_INVALID, "metadata");
    json_decref(src);
}

/* ---- unknown parameters ------------------------------------------------- */

Test(params, allow_lists)
{
    static const char *const allowed[] = {"amount",       "currency",        "metadata",
                                          "card[number]", "card[exp_month]", NULL};
    json_t *src = F("amount=1&currency=usd&metadata[x]=y&expand[]=customer&card[number]=4242");
    cr_assert_eq(pay_args_allow(&req, src, allowed), PAY_OK);
    json_decref(src);

    src = F("amount=1&status=succeeded");
    expect_err(pay_args_allow(&req, src, allowed), PAY_ERR_PARAM_UNKNOWN, "status");
    json_decref(src);

    src = F("card[number]=4242&card[cvc]=123");
    expect_err(pay_args_allow(&req, src, allowed), PAY_ERR_PARAM_UNKNOWN, "card[cvc]");
    json_decref(src);

    src = F("card=x");
    expect_err(pay_args_allow(&req, src, allowed), PAY_ERR_PARAM_INVALID, "card");
    json_decref(src);

    src = F("amount[x]=1");
    cr_assert_eq(pay_args_allow(&req, src, allowed), PAY_OK,
                 "an allowed leaf takes any value; the typed helper refuses it");
    json_decref(src);

    src = F("x=1");
    static const char *const none[] = {NULL};
    expect_err(pay_args_allow(&req, src, none), PAY_ERR_PARAM_UNKNOWN, "x");
    json_decref(src);
}

/* ---- expand -------------------------------------------------------------- */

Test(params, expands)
{
    json_decref(req.body);
    req.body = F("expand[]=customer&expand[]=payment_method");
    cr_assert(pay_arg_expands(&req, "customer"));
    cr_assert(pay_arg_expands(&req, "payment_method"));
    cr_assert_not(pay_arg_expands(&req, "invoice"));

    json_decref(req.body);
    req.body = J("{\"expand\":\"customer\"}");
    cr_assert(pay_arg_expands(&req, "customer"));
    cr_assert_not(pay_arg_expands(&req, "custom"));

    /* GET reads the query, not the body. */
    req.method = "GET";
    cr_assert_not(pay_arg_expands(&req, "customer"));
    json_decref(req.query);
    req.query = F("expand[0]=customer");
    cr_assert(pay_arg_expands(&req, "customer"));
    req.method = "POST";
    json_decref(req.body);
    req.body = json_object();
    cr_assert_not(pay_arg_expands(&req, "customer"), "POST ignores expand in the query");
}

/* ---- list arguments ---------------------------------------------------- */

static enum pay_err list_of(const char *query, struct pay_list_args *a)
{
    json_decref(req.query);
    req.query = F(query);
    req.method = "GET";
    return pay_list_args_parse(&req, a);
}

Test(params, list_defaults)
{
    struct pay_list_args a;
    cr_assert_eq(list_of("", &a), PAY_OK);
    cr_assert_eq(a.limit, PAY_LIST_LIMIT_DEFAULT);
    cr_assert_null(a.starting_after);
    cr_assert_null(a.ending_before);
    cr_assert_eq(a.created_gte, INT64_MIN);
    cr_assert_eq(a.created_gt, INT64_MIN);
    cr_assert_eq(a.created_lte, INT64_MAX);
    cr_assert_eq(a.created_lt, INT64_MAX);
}

Test(params, list_limit)
{
    struct pay_list_args a;
    cr_assert_eq(list_of("limit=100", &a), PAY_OK);
    cr_assert_eq(a.limit, 100);
    cr_assert_eq(list_of("limit=1", &a), PAY_OK);
    cr_assert_eq(a.limit, 1);
    expect_err(list_of("limit=0", &a), PAY_ERR_PARAM_INVALID, "limit");
    expect_err(list_of("limit=101", &a), PAY_ERR_PARAM_INVALID, "limit");
    expect_err(list_of("limit=ten", &a), PAY_ERR_PARAM_INTEGER, "limit");
}

Test(params, list_cursors)
{
    struct pay_list_args a;
    cr_assert_eq(list_of("starting_after=cus_1", &a), PAY_OK);
    cr_assert_str_eq(a.starting_after, "cus_1");
    cr_assert_null(a.ending_before);
    cr_assert_eq(list_of("ending_before=cus_2", &a), PAY_OK);
    cr_assert_str_eq(a.ending_before, "cus_2");
    cr_assert_eq(list_of("starting_after=", &a), PAY_OK);
    cr_assert_null(a.starting_after);
    expect_err(list_of("starting_after=cus_1&ending_before=cus_2", &a), PAY_ERR_PARAM_INVALID,
               "ending_before");
}

Test(params, list_created)
{
    struct pay_list_args a;
    cr_assert_eq(list_of("created=1700000000", &a), PAY_OK);
    cr_assert_eq(a.created_gte, 1700000000);
    cr_assert_eq(a.created_lte, 1700000000);
    cr_assert_eq(a.created_gt, INT64_MIN);
    cr_assert_eq(a.created_lt, INT64_MAX);

    cr_assert_eq(list_of("created[gte]=10&created[lt]=20", &a), PAY_OK);
    cr_assert_eq(a.created_gte, 10);
    cr_assert_eq(a.created_lt, 20);
    cr_assert_eq(a.created_gt, INT64_MIN);
    cr_assert_eq(a.created_lte, INT64_MAX);

    cr_assert_eq(list_of("created[gt]=1&created[lte]=2", &a), PAY_OK);
    cr_assert_eq(a.created_gt, 1);
    cr_assert_eq(a.created_lte, 2);

    expect_err(list_of("created[gte]=x", &a), PAY_ERR_PARAM_INTEGER, "created[gte]");
    expect_err(list_of("created[after]=1", &a), PAY_ERR_PARAM_UNKNOWN, "created[after]");
    expect_err(list_of("created=soon", &a), PAY_ERR_PARAM_INTEGER, "created");
    expect_err(list_of("created[lt]=-1", &a), PAY_ERR_PARAM_INVALID, "created[lt]");
}
