/*
 * common.c - small pieces every resource file of src/api/ uses.
 */
#include <stdio.h>
#include <string.h>

#include "api_int.h"

void pay_api_list(struct pay_request *req, const char *url, json_t *data, bool has_more)
{
    json_t *list = json_object();
    json_object_set_new_nocheck(list, "object", json_string("list"));
    json_object_set_new_nocheck(list, "url", json_string(url));
    json_object_set_new_nocheck(list, "has_more", json_boolean(has_more));
    json_object_set_new_nocheck(list, "data", data);
    pay_resp_json(req, 200, list);
}

enum pay_err pay_api_list_text(struct pay_request *req, const char *url,
                               const struct pay_buf *items, bool has_more)
{
    /* Byte for byte what pay_api_list's dump gives: the same keys in the
     * same order, compact; @url is one of payd's own paths (no escaping).
     * Written straight into the response: one allocation, one copy. */
    char head[256];
    int hn = snprintf(head, sizeof(head),
                      "{\"object\":\"list\",\"url\":\"%s\",\"has_more\":%s,\"data\":[", url,
                      has_more ? "true" : "false");
    if (hn < 0 || (size_t)hn >= sizeof(head)) {
        return pay_error_set(&req->err, PAY_ERR_INTERNAL, NULL, NULL);
    }
    size_t len = (size_t)hn + items->len + 2;
    char *body = pay_resp_raw_alloc(req, 200, "application/json", len);
    if (body == NULL) {
        return PAY_ERR_NOMEM;
    }
    memcpy(body, head, (size_t)hn);
    if (items->len > 0) {
        memcpy(body + hn, items->data, items->len);
    }
    memcpy(body + hn + items->len, "]}", 2);
    return PAY_OK;
}
