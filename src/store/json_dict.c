/*
 * json_dict.c - the zstd dictionary of payd's stored JSON, version 1 (see
 * pack.c). It is "raw content": typical stored objects (a customer, a
 * refund.created event, a card payment method, a charge's balance
 * transaction, a payment_intent.created and a payment_intent.succeeded
 * event) with their random parts (ids, secrets, fingerprints) cut off, the
 * most frequent last, where zstd reaches it most cheaply.
 *
 * FROZEN: every row written with version 1 needs these exact bytes to be
 * read again. To change it, add a version 2 beside it and keep this one.
 */
#include "store_int.h"

/* clang-format off */
const char pay_json_dict_v1[] =
    "{\"id\":\"cus_\",\"object\":\"customer\",\"address\":null,\"balance\":0,"
    "\"created\":17962,\"currency\":null,\"default_source\":null,\"delinquent"
    "\":false,\"description\":null,\"discount\":null,\"email\":\"a@b.c\",\"in"
    "voice_prefix\":\",\"invoice_settings\":{\"custom_fields\":null,\"default"
    "_payment_method\":null,\"footer\":null,\"rendering_options\":null},\"liv"
    "emode\":false,\"metadata\":{},\"name\":null,\"next_invoice_sequence\":1,"
    "\"phone\":null,\"preferred_locales\":[],\"shipping\":null,\"tax_exempt\""
    ":\"none\",\"test_clock\":null,\"external_id\":null,\"facility\":null}\n"
    "{\"id\":\"evt_\",\"object\":\"event\",\"api_version\":\"2024-06-20\",\"c"
    "reated\":17962,\"data\":{\"object\":{\"id\":\"re_\",\"object\":\"refund"
    "\",\"amount\":100,\"balance_transaction\":\"txn_\",\"charge\":null,\"crea"
    "ted\":17962,\"currency\":\"usd\",\"metadata\":{},\"payment_intent\":\"pi"
    "_\",\"reason\":null,\"receipt_number\":null,\"source_transfer_reversal\""
    ":null,\"status\":\"succeeded\",\"transfer_reversal\":null}},\"livemode\""
    ":false,\"pending_webhooks\":0,\"request\":{\"id\":\"req_\",\"idempotency"
    "_key\":null},\"type\":\"refund.created\"}\n"
    "{\"id\":\"pm_\",\"object\":\"payment_method\",\"allow_redisplay\":\"unsp"
    "ecified\",\"billing_details\":{\"address\":{\"city\":null,\"country\":nu"
    "ll,\"line1\":null,\"line2\":null,\"postal_code\":null,\"state\":null},\""
    "email\":null,\"name\":null,\"phone\":null},\"card\":{\"brand\":\"visa\","
    "\"checks\":{\"address_line1_check\":null,\"address_postal_code_check\":n"
    "ull,\"cvc_check\":\"unchecked\"},\"country\":\"US\",\"display_brand\":\""
    "visa\",\"exp_month\":12,\"exp_year\":2027,\"fingerprint\":\",\"funding\""
    ":\"credit\",\"generated_from\":null,\"last4\":\"4242\",\"networks\":{\"a"
    "vailable\":[\"visa\"],\"preferred\":null},\"regulated_status\":\"unregul"
    "ated\",\"three_d_secure_usage\":{\"supported\":true},\"wallet\":null},\""
    "created\":17962,\"customer\":null,\"livemode\":false,\"metadata\":{},\"t"
    "ype\":\"card\"}\n"
    "{\"id\":\"txn_\",\"object\":\"balance_transaction\",\"amount\":1000,\"av"
    "ailable_on\":17962,\"created\":17962,\"currency\":\"usd\",\"description"
    "\":\"Payment intent captured\",\"exchange_rate\":null,\"fee\":0,\"fee_det"
    "ails\":[],\"net\":1000,\"reporting_category\":\"charge\",\"source\":\"pi"
    "_\",\"status\":\"available\",\"type\":\"charge\"}\n"
    "{\"id\":\"evt_\",\"object\":\"event\",\"api_version\":\"2024-06-20\",\"c"
    "reated\":17962,\"data\":{\"object\":{\"id\":\"pi_\",\"object\":\"payment"
    "_intent\",\"amount\":1000,\"amount_capturable\":0,\"amount_details\":{\""
    "tip\":{}},\"amount_received\":0,\"amount_refunded\":0,\"application\":nu"
    "ll,\"application_fee_amount\":null,\"automatic_payment_methods\":null,\""
    "canceled_at\":null,\"cancellation_reason\":null,\"capture_method\":\"aut"
    "omatic\",\"client_secret\":\"pi__secret_\",\"confirmation_method\":\"aut"
    "omatic\",\"created\":17962,\"currency\":\"usd\",\"customer\":\"cus_\",\""
    "description\":null,\"facility\":null,\"fee_amount\":0,\"invoice\":null,"
    "\"last_payment_error\":null,\"latest_charge\":null,\"livemode\":false,\"m"
    "etadata\":{},\"next_action\":null,\"on_behalf_of\":null,\"payment_method"
    "\":\"pm_\",\"payment_method_configuration_details\":null,\"payment_metho"
    "d_options\":{},\"payment_method_types\":[\"card\"],\"processing\":null,"
    "\"provider\":null,\"receipt_email\":null,\"review\":null,\"setup_future_u"
    "sage\":null,\"shipping\":null,\"source\":null,\"statement_descriptor\":n"
    "ull,\"statement_descriptor_suffix\":null,\"status\":\"requires_confirmat"
    "ion\",\"transfer_data\":null,\"transfer_group\":null}},\"livemode\":fals"
    "e,\"pending_webhooks\":0,\"request\":{\"id\":\"req_\",\"idempotency_key"
    "\":null},\"type\":\"payment_intent.created\"}\n"
    "{\"id\":\"evt_\",\"object\":\"event\",\"api_version\":\"2024-06-20\",\"c"
    "reated\":17962,\"data\":{\"object\":{\"id\":\"pi_\",\"object\":\"payment"
    "_intent\",\"amount\":1000,\"amount_capturable\":0,\"amount_details\":{\""
    "tip\":{}},\"amount_received\":1000,\"amount_refunded\":0,\"application\""
    ":null,\"application_fee_amount\":null,\"automatic_payment_methods\":null"
    ",\"canceled_at\":null,\"cancellation_reason\":null,\"capture_method\":\""
    "automatic\",\"client_secret\":\"pi__secret_\",\"confirmation_method\":\""
    "automatic\",\"created\":17962,\"currency\":\"usd\",\"customer\":\"cus_\""
    ",\"description\":null,\"facility\":null,\"fee_amount\":0,\"invoice\":nul"
    "l,\"last_payment_error\":null,\"latest_charge\":null,\"livemode\":false,"
    "\"metadata\":{},\"next_action\":null,\"on_behalf_of\":null,\"payment_met"
    "hod\":\"pm_\",\"payment_method_configuration_details\":null,\"payment_me"
    "thod_options\":{},\"payment_method_types\":[\"card\"],\"processing\":nul"
    "l,\"provider\":null,\"receipt_email\":null,\"review\":null,\"setup_futur"
    "e_usage\":null,\"shipping\":null,\"source\":null,\"statement_descriptor"
    "\":null,\"statement_descriptor_suffix\":null,\"status\":\"succeeded\",\"t"
    "ransfer_data\":null,\"transfer_group\":null}},\"livemode\":false,\"pendi"
    "ng_webhooks\":0,\"request\":{\"id\":\"req_\",\"idempotency_key\":null},"
    "\"type\":\"payment_intent.succeeded\"}\n";
/* clang-format on */
const size_t pay_json_dict_v1_len = sizeof(pay_json_dict_v1) - 1;
