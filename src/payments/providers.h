/*
 * providers.h - payment providers and facilities (issue 6): the admin
 * configuration routing reads (provider_config.c), and how an attempt is
 * routed and charged a fee (providers.c, declared in payments_int.h).
 *
 * A provider is one way money arrives: a card network on a card connector
 * (Visa on sandbox), a wallet on the mobile_money connector (Zain Cash), a
 * manual tender (cash, cheque, bank transfer, bank draft) on the manual
 * connector. Its fee is fee_bps basis points of the amount, rounded half to
 * even, plus fee_fixed minor units (pay_fee_compute). Credentials are
 * sealed at rest (pay_seal, label PAY_PROVIDER_SEAL_LABEL, the provider id
 * as additional data) under the op's server key (op->fingerprint_key) and
 * never returned: objects show credentials_set.
 *
 * Facilities are the clinics and hospitals of the network (an IANA time
 * zone each); a provider may be limited to some of them.
 *
 * Ownership as payments.h: *out objects are new (caller owns); params are
 * borrowed. Threading: no state; everything runs in the op's transaction.
 */
#ifndef PAY_PROVIDERS_H
#define PAY_PROVIDERS_H

#include "payments.h"

#define PAY_PROVIDER_SEAL_LABEL "payd provider credentials v1"
/* A provider or facility name: [a-z0-9][a-z0-9_.-]*, what intents name. */
#define PAY_PROVIDER_NAME_LEN_MAX 63
#define PAY_DISPLAY_NAME_LEN_MAX 200
/* Currencies, facilities and card brands one provider lists. */
#define PAY_PROVIDER_CURRENCIES_MAX 32
#define PAY_PROVIDER_FACILITIES_MAX 100
/* connector_config and credentials: keys and the length of one value. */
#define PAY_PROVIDER_CONFIG_KEYS_MAX 20
#define PAY_PROVIDER_CONFIG_VALUE_LEN_MAX 2048
/* Provider rows of one tender type routing looks at. */
#define PAY_PROVIDERS_PER_TYPE_MAX 100
#define PAY_PRIORITY_MAX 1000000

/*
 * What a provider create or update asked for (borrowed; NULL / has_* false
 * = not sent). JSON values are checked here and errors name the field.
 */
struct pay_provider_params {
    const char *name;
    const char *display_name;
    const char *type;      /* card | mobile_wallet | cash | cheque | bank_transfer | bank_draft */
    const char *connector; /* sandbox | stripe (card), mobile_money (wallet), manual (the rest) */
    const json_t *currencies;  /* array of ISO 4217 codes (or one string) */
    const json_t *card_brands; /* card: array of brands (visa, mastercard, ...); [] = any */
    bool has_fee_bps;
    int64_t fee_bps; /* 0..PAY_FEE_BPS_MAX */
    bool has_fee_fixed;
    int64_t fee_fixed; /* minor units of the intent's currency */
    bool has_min_amount;
    int64_t min_amount; /* -1 = no minimum */
    bool has_max_amount;
    int64_t max_amount;               /* -1 = no maximum */
    int supports_refunds;             /* -1 = not sent, else 0/1 */
    int requires_manual_verification; /* -1 = not sent (default: connector manual) */
    int active;                       /* -1 = not sent (default 1) */
    bool has_priority;
    int64_t priority;               /* lower is tried first */
    const json_t *facilities;       /* array of fac_ ids; [] = every facility */
    const json_t *connector_config; /* object of scalars (base_url, wallet, ...) */
    const json_t *credentials;      /* object of strings, sealed; "" or {} clears */
    const json_t *metadata;
    bool metadata_clear;
};

enum pay_err pay_provider_create(struct pay_op *op, const struct pay_provider_params *p,
                                 json_t **out) PAY_WUR;
/* The provider @id (prov_...) or PAY_ERR_NOT_FOUND (param "id"); deleted ones are gone. */
enum pay_err pay_provider_get(struct pay_op *op, const char *id, json_t **out) PAY_WUR;
/* The live provider named @name, or PAY_ERR_NOT_FOUND naming @param. */
enum pay_err pay_provider_by_name(struct pay_op *op, const char *name, const char *param,
                                  json_t **out) PAY_WUR;
enum pay_err pay_provider_update(struct pay_op *op, const char *id,
                                 const struct pay_provider_params *p, json_t **out) PAY_WUR;
/* Delete: the row stays for the intents that name it, the name is free again. */
enum pay_err pay_provider_delete(struct pay_op *op, const char *id, json_t **out) PAY_WUR;
/* Newest first; @type and @active (-1 = any) filter. */
enum pay_err pay_provider_list(struct pay_op *op, const char *type, int active,
                               const struct pay_list_args *args, json_t **data_out,
                               bool *has_more) PAY_WUR;

struct pay_facility_params {
    const char *name;
    const char *display_name;
    const char *timezone; /* IANA name; default "UTC" */
    const json_t *metadata;
    bool metadata_clear;
};

enum pay_err pay_facility_create(struct pay_op *op, const struct pay_facility_params *p,
                                 json_t **out) PAY_WUR;
enum pay_err pay_facility_get(struct pay_op *op, const char *id, json_t **out) PAY_WUR;
enum pay_err pay_facility_by_name(struct pay_op *op, const char *name, json_t **out) PAY_WUR;
enum pay_err pay_facility_update(struct pay_op *op, const char *id,
                                 const struct pay_facility_params *p, json_t **out) PAY_WUR;
/* Refused (PAY_ERR_CONFLICT) while a live provider lists the facility. */
enum pay_err pay_facility_delete(struct pay_op *op, const char *id, json_t **out) PAY_WUR;
enum pay_err pay_facility_list(struct pay_op *op, const struct pay_list_args *args,
                               json_t **data_out, bool *has_more) PAY_WUR;

/* Whether @name is a provider or facility name ([a-z0-9][a-z0-9_.-]{0,62}). */
bool pay_provider_name_valid(const char *name);

#endif
