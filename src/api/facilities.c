/*
 * facilities.c - /v1/facilities: the clinics and hospitals of the network
 * (issue 6), each with an IANA time zone. Domain code:
 * src/payments/provider_config.c.
 *
 * Access: admin writes; admin, staff and auditors read.
 */
#include "../payments/providers.h"
#include "api_int.h"

#define FACILITY_FIELDS "name", "display_name", "timezone", "metadata"

static enum pay_err parse_facility(struct pay_request *req, struct pay_facility_params *p,
                                   json_t **md_out)
{
    const json_t *b = req->body;
    *md_out = NULL;
    PAY_TRY(pay_arg_str(req, b, "name", false, PAY_PROVIDER_NAME_LEN_MAX, &p->name, NULL));
    PAY_TRY(pay_arg_str(req, b, "display_name", false, PAY_DISPLAY_NAME_LEN_MAX, &p->display_name,
                        NULL));
    PAY_TRY(pay_arg_str(req, b, "timezone", false, 64, &p->timezone, NULL));
    const json_t *md = json_object_get(b, "metadata");
    if (json_is_string(md) && json_string_length(md) == 0) {
        p->metadata_clear = true;
    } else {
        PAY_TRY(pay_arg_metadata(req, b, "metadata", md_out));
        p->metadata = *md_out;
    }
    return PAY_OK;
}

static enum pay_err write_facility(struct pay_request *req, bool create)
{
    static const char *const allowed[] = {FACILITY_FIELDS, NULL};
    PAY_TRY(pay_args_allow(req, req->body, allowed));
    struct pay_facility_params p = {0};
    json_t *md = NULL;
    enum pay_err e = parse_facility(req, &p, &md);
    json_t *out = NULL;
    if (e == PAY_OK) {
        struct pay_op op = pay_api_op(req);
        e = create ? pay_facility_create(&op, &p, &out)
                   : pay_facility_update(&op, req->params[0], &p, &out);
    }
    json_decref(md);
    PAY_TRY(e);
    pay_resp_json(req, 200, out);
    return PAY_OK;
}

static enum pay_err facilities_create(struct pay_request *req)
{
    return write_facility(req, true);
}

static enum pay_err facilities_update(struct pay_request *req)
{
    return write_facility(req, false);
}

static enum pay_err facilities_get(struct pay_request *req)
{
    static const char *const allowed[] = {NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    struct pay_op op = pay_api_op(req);
    json_t *out = NULL;
    PAY_TRY(pay_facility_get(&op, req->params[0], &out));
    pay_resp_json(req, 200, out);
    return PAY_OK;
}

static enum pay_err facilities_delete(struct pay_request *req)
{
    static const char *const allowed[] = {NULL};
    PAY_TRY(pay_args_allow(req, req->body, allowed));
    struct pay_op op = pay_api_op(req);
    json_t *out = NULL;
    PAY_TRY(pay_facility_delete(&op, req->params[0], &out));
    pay_resp_json(req, 200, out);
    return PAY_OK;
}

static enum pay_err facilities_list(struct pay_request *req)
{
    static const char *const allowed[] = {"limit", "starting_after", "ending_before", "created",
                                          NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    struct pay_list_args args;
    PAY_TRY(pay_list_args_parse(req, &args));
    struct pay_op op = pay_api_op(req);
    json_t *data = NULL;
    bool has_more = false;
    PAY_TRY(pay_facility_list(&op, &args, &data, &has_more));
    pay_api_list(req, "/v1/facilities", data, has_more);
    return PAY_OK;
}

PAY_API_ROUTES_DEFINE(facilities) = {
    {"POST", "/v1/facilities", facilities_create, PAY_ROLE_ADMIN, PAY_ROUTE_WRITE,
     "Create a facility"},
    {"GET", "/v1/facilities", facilities_list, PAY_ROLES_READ_ALL, 0, "List facilities"},
    {"GET", "/v1/facilities/:id", facilities_get, PAY_ROLES_READ_ALL, 0, "Retrieve a facility"},
    {"POST", "/v1/facilities/:id", facilities_update, PAY_ROLE_ADMIN, PAY_ROUTE_WRITE,
     "Update a facility"},
    {"DELETE", "/v1/facilities/:id", facilities_delete, PAY_ROLE_ADMIN, PAY_ROUTE_WRITE,
     "Delete a facility"},
};
PAY_API_ROUTES_COUNT(facilities);
