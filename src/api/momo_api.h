/*
 * momo_api.h - the mobile money continuation the payment intent routes
 * hand a request-to-pay to (src/api/mobile_money.c). Private to src/api/.
 */
#ifndef PAY_MOMO_API_H
#define PAY_MOMO_API_H

#include "../payments/mobile_money.h"
#include "api_int.h"

/*
 * When @e is PAY_OK and the domain call recorded a request-to-pay
 * (@call->momo_reference), make sending it the request's continuation:
 * after the commit it is sent, its answer applied (the next provider tried
 * when the first is down) and the intent answered with @answer. Returns
 * @e, or PAY_ERR_NOMEM. Leaves @call's other fields alone.
 */
enum pay_err pay_api_momo_defer(struct pay_request *req, const struct pay_provider_call *call,
                                enum pay_err e, pay_api_answer_fn answer) PAY_WUR;

#endif
