/*
 * common.c - small pieces every resource file of src/api/ uses.
 */
#include "api_int.h"

void pay_api_list(struct pay_request *req, const char *url, json_t *data, bool has_more)
{
    json_t *list = json_object();
    json_object_set_new(list, "object", json_string("list"));
    json_object_set_new(list, "url", json_string(url));
    json_object_set_new(list, "has_more", json_boolean(has_more));
    json_object_set_new(list, "data", data);
    pay_resp_json(req, 200, list);
}
