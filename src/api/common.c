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

enum pay_err pay_api_list_text(struct pay_request *req, const char *url,
                               const struct pay_buf *items, bool has_more)
{
    /* Byte for byte what pay_api_list's dump gives: the same keys in the
     * same order, compact; @url is one of payd's own paths (no escaping). */
    struct pay_buf b;
    pay_buf_init(&b, PAY_LIST_TEXT_MAX + 256);
    enum pay_err e =
        pay_buf_addf(&b, "{\"object\":\"list\",\"url\":\"%s\",\"has_more\":%s,\"data\":[", url,
                     has_more ? "true" : "false");
    if (e == PAY_OK && items->len > 0) {
        e = pay_buf_add(&b, items->data, items->len);
    }
    if (e == PAY_OK) {
        e = pay_buf_add(&b, "]}", 2);
    }
    if (e == PAY_OK) {
        e = pay_resp_raw(req, 200, "application/json", b.data, b.len);
    }
    pay_buf_release(&b);
    return e;
}
