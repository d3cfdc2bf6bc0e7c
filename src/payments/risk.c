/*
 * risk.c - limits and fraud scoring of payment attempts (issue 6, items 4
 * and 5; risk.h), the blocklist and the attempt log.
 *
 * pay_risk_assess runs inside the attempt's write transaction, before any
 * connector: it reads what the rules need (earlier attempts of the
 * customer, the card and the client address; declines; disputed intents;
 * the blocklist; the facility's time zone), checks the limits, scores the
 * attempt with the pure rules of risk_rules.c, and writes one
 * payment_attempts row. A decline is recorded by the caller with
 * pay_tx_commit_anyway, so the row survives the 402 and later attempts
 * count it.
 *
 * Invariants: the row is written in the same transaction as the intent's
 * change; its outcome starts "pending" and follows the intent's status
 * through pay_risk_outcome; card numbers never reach it (only the keyed
 * fingerprint); patients never read it.
 *
 * Threading: the configuration is read-only; the velocity marks and card
 * uses kept between transactions are the store's memos (store.h).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "risk_int.h"

#define FINGERPRINT_LEN_MAX 64
/* Outcomes that no longer hold money for the customer's day. */
#define OUTCOMES_RELEASED "('declined', 'canceled', 'requires_payment_method')"

/* An attempt's row until its outcome is known (pay_risk_outcome writes it):
 * text[] in the order of the INSERT's text columns. */
enum {
    PENDING_REASONS = 11, /* text[11]: the reasons, JSON */
    PENDING_TEXTS = 14,
};
struct pay_risk_pending {
    char *text[PENDING_TEXTS]; /* id, intent, customer, tender, provider, card, address,
                                  e-mail, facility, zone, currency, reasons, decision, actor */
    int64_t created, amount;
    int score;
};

static void lower_in_place(char *s)
{
    for (; *s; s++) {
        *s = (char)tolower((unsigned char)*s);
    }
}

/* The IANA zone of facility @facility (its id or name), or "" when none. */
static enum pay_err facility_zone(struct pay_op *op, const char *facility, char *out, size_t n)
{
    out[0] = '\0';
    if (facility == NULL || facility[0] == '\0') {
        return PAY_OK;
    }
    const struct pay_param p[] = {PAY_PTEXT(facility)};
    char *tz = NULL;
    enum pay_err e = pay_tx_query_text(op->tx,
                                       "SELECT timezone FROM facilities WHERE id = $1 OR name = $1 "
                                       "ORDER BY deleted, seq DESC LIMIT 1",
                                       p, 1, &tz);
    if (e == PAY_OK && tz != NULL) {
        pay_copy_str(out, n, tz);
    }
    free(tz);
    return pay_op_fail(op, e);
}

/* The card fingerprint of payment method @pm ("" when it has none). */
static enum pay_err card_fingerprint(struct pay_op *op, const struct pay_pm_charge *pm, char *out,
                                     size_t n)
{
    out[0] = '\0';
    if (pm == NULL || pm->id[0] == '\0') {
        return PAY_OK;
    }
    if (pm->loaded) {
        pay_copy_str(out, n, pm->fingerprint);
        return PAY_OK;
    }
    json_t *obj = NULL;
    enum pay_err e = pay_payment_method_get(op, pm->id, &obj);
    if (e == PAY_OK) {
        pay_copy_str(out, n, pay_json_str(json_object_get(obj, "card"), "fingerprint"));
    }
    json_decref(obj);
    return e;
}

/*
 * The e-mail an attempt is known by (receipt_email, else the customer's)
 * and the customer's facility (@facility, "" when none), for an intent that
 * names none. The customer's row is locked (SELECT ... FOR UPDATE) for the rest of the
 * transaction, so on PostgreSQL two attempts of one customer are assessed
 * one after the other and the per-customer counts (velocity, card testing,
 * daily limits) cannot both miss the other (SQLite serialises writes anyway;
 * serialize_counts does the same for the counts per card and address).
 * Where writes are serial, what apply_params read in this job is used.
 */
static enum pay_err customer_facts(struct pay_op *op, const struct pay_intent_row *row, char *out,
                                   size_t n, char *facility, size_t facility_n)
{
    out[0] = '\0';
    facility[0] = '\0';
    const json_t *intent = row->obj;
    const char *customer = pay_json_str(intent, "customer");
    char email[PAY_CUSTOMER_EMAIL_LEN_MAX + 1] = "";
    if (customer != NULL && row->customer_read.id[0] != '\0' &&
        pay_str_eq(customer, row->customer_read.id) && pay_tx_writes_serial(op->tx)) {
        /* Read by apply_params in this job; nothing came between. */
        pay_copy_str(email, sizeof(email), row->customer_read.email);
        pay_copy_str(facility, facility_n, row->customer_read.facility);
    } else if (customer != NULL) {
        enum pay_err e = pay_customer_facts(op, customer, true, "customer", email, sizeof(email),
                                            facility, facility_n);
        if (e == PAY_ERR_NOT_FOUND) {
            /* Deleted since the intent named it: no e-mail, nothing to lock. */
            pay_error_clear(op->err);
        } else if (e != PAY_OK) {
            return e;
        }
    }
    const char *receipt = pay_json_str(intent, "receipt_email");
    pay_copy_str(out, n, receipt != NULL && receipt[0] != '\0' ? receipt : email);
    lower_in_place(out);
    return PAY_OK;
}

/* What the customer's local day already holds: attempts and amount in @currency. */
static enum pay_err day_totals(struct pay_op *op, const char *customer, int64_t since,
                               const char *currency, int64_t *count, int64_t *amount)
{
    *count = 0;
    *amount = 0;
    const struct pay_param p[] = {PAY_PTEXT(customer), PAY_PINT(since), PAY_PTEXT(currency)};
    struct pay_rows *r = NULL;
    enum pay_err e = pay_tx_query(
        op->tx,
        "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN currency = $3 THEN amount ELSE 0 END), 0) "
        "AS BIGINT) FROM payment_attempts WHERE customer = $1 AND created >= $2 AND outcome NOT "
        "IN " OUTCOMES_RELEASED,
        p, PAY_NPARAMS(p), &r);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    if (pay_rows_next(r)) {
        *count = pay_rows_int(r, 0);
        *amount = pay_rows_int(r, 1);
    }
    return pay_op_fail(op, pay_rows_close(r));
}

/*
 * The counts the rules read, asked in one statement ("SELECT (sub), (sub),
 * ..."): one round trip on PostgreSQL however many rules are on. Each
 * sub-query is written with its own $1..$n; count_add renumbers them.
 */
#define COUNTS_MAX 12
#define COUNTS_PARAMS_MAX 40
struct counts {
    char sql[4096];
    size_t len;
    struct pay_param p[COUNTS_PARAMS_MAX];
    size_t n_p;
    int64_t *out[COUNTS_MAX];
    size_t n;
};

static void count_add(struct counts *c, const char *sub, const struct pay_param *p, size_t n,
                      int64_t *out)
{
    PAY_ASSERT(c->n < COUNTS_MAX && c->n_p + n <= COUNTS_PARAMS_MAX);
    size_t cap = sizeof(c->sql);
    const char *head = c->n == 0 ? "SELECT (" : ", (";
    size_t hn = strlen(head);
    PAY_ASSERT(hn < cap - c->len);
    memcpy(c->sql + c->len, head, hn);
    c->len += hn;
    for (const char *s = sub; *s != '\0';) {
        size_t run = strcspn(s, "$");
        PAY_ASSERT(run < cap - c->len);
        memcpy(c->sql + c->len, s, run);
        c->len += run;
        s += run;
        if (*s == '$') {
            char *end = NULL;
            long v = strtol(s + 1, &end, 10);
            PAY_ASSERT(1 + PAY_INT_DIGITS_MAX < cap - c->len);
            c->sql[c->len++] = '$';
            c->len += pay_int_digits((int64_t)v + (int64_t)c->n_p, c->sql + c->len);
            s = end;
        }
    }
    PAY_ASSERT(c->len + 1 < cap);
    c->sql[c->len++] = ')';
    c->sql[c->len] = '\0';
    memcpy(c->p + c->n_p, p, n * sizeof(*p));
    c->n_p += n;
    c->out[c->n++] = out;
    *out = 0;
}

static enum pay_err counts_read(struct pay_op *op, struct counts *c)
{
    if (c->n == 0) {
        return PAY_OK;
    }
    struct pay_rows *r = NULL;
    enum pay_err e = pay_tx_query(op->tx, c->sql, c->p, c->n_p, &r);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    if (pay_rows_next(r)) {
        for (size_t i = 0; i < c->n; i++) {
            *c->out[i] = pay_rows_int(r, (int)i);
        }
    }
    return pay_op_fail(op, pay_rows_close(r));
}

/* A card's attempts since $2, counted up to $3 (serialize_counts). */
#define ATTEMPTS_BY_CARD_SQL                                                                       \
    "SELECT COUNT(*) FROM (SELECT 1 FROM payment_attempts WHERE card_fingerprint = $1 AND "        \
    "created >= $2 LIMIT $3) AS a"

/*
 * Velocity marks. A velocity rule fires once a subject (a customer, a
 * card, a client address) has at least max earlier attempts in the window,
 * and counting them costs a row each: a busy front desk's every payment
 * read its last hundred, or thousand, attempts. Attempts are only ever
 * added, so once the max-th most recent of a subject is known (its
 * "mark": created of that attempt), the subject has at least max attempts
 * since any time up to the mark, and the rule fires without a count until
 * the window has moved past the mark. Later attempts can only move the
 * true mark later, so a kept mark errs only towards counting again. Marks
 * are the store's memos (store.h): kept only where nothing counted can be
 * taken back unknown to this process (SQLite), and dropped by any undo.
 */
enum velocity_rule { VELOCITY_CUSTOMER, VELOCITY_CARD, VELOCITY_ADDRESS };
static const char *const velocity_names[] = {
    [VELOCITY_CUSTOMER] = "customer",
    [VELOCITY_CARD] = "card",
    [VELOCITY_ADDRESS] = "address",
};

/* A mark's memo: a mark holds for one rule, subject and max. */
#define VELOCITY_MEMO(name, rule, max_digits, subject)                                             \
    const char *name[] = {"velocity", velocity_names[rule], max_digits, subject}

static void max_digits(int64_t max, char out[PAY_INT_DIGITS_MAX + 1])
{
    out[pay_int_digits(max, out)] = '\0';
}

/* One velocity rule's count, asked in the counts' statement unless a mark
 * answers it (velocity_read then reads it). */
struct velocity_ask {
    enum velocity_rule rule;
    const char *subject;
    int64_t max;
    int64_t *out;  /* the fact: earlier attempts, counted up to max */
    int64_t found; /* the statement's answer, see attempts_by */
    bool asked;
};

/*
 * Earlier attempts of @a's subject since @since, counted up to the rule's
 * max: the rule fires at max, and reading further would make every attempt
 * of a busy customer or card cost more than the one before. The newest
 * come first, so that at max the oldest of them is the subject's mark: the
 * answer is that mark (created, never negative) when max were found, else
 * -1 - the number found.
 */
static void attempts_by(struct counts *c, struct pay_tx *tx, struct velocity_ask *a, int64_t since)
{
#define VELOCITY_SQL(col)                                                                          \
    "SELECT CASE WHEN COUNT(*) >= $3 THEN MIN(created) ELSE -1 - COUNT(*) END FROM (SELECT "       \
    "created FROM payment_attempts WHERE " col " = $1 AND created >= $2 ORDER BY created DESC "    \
    "LIMIT $3) AS a"
    static const char *const sqls[] = {
        [VELOCITY_CUSTOMER] = VELOCITY_SQL("customer"),
        [VELOCITY_CARD] = VELOCITY_SQL("card_fingerprint"),
        [VELOCITY_ADDRESS] = VELOCITY_SQL("client_addr"),
    };
#undef VELOCITY_SQL
    char digits[PAY_INT_DIGITS_MAX + 1];
    max_digits(a->max, digits);
    VELOCITY_MEMO(memo, a->rule, digits, a->subject);
    int64_t mark = 0;
    if (pay_tx_memo_get(tx, memo, PAY_NPARAMS(memo), &mark) && mark >= since) {
        *a->out = a->max;
        return;
    }
    const struct pay_param p[] = {PAY_PTEXT(a->subject), PAY_PINT(since), PAY_PINT(a->max)};
    count_add(c, sqls[a->rule], p, PAY_NPARAMS(p), &a->found);
    a->found = -1; /* none, until the statement answers */
    a->asked = true;
}

/* The fact from the statement's answer; a subject at its max leaves its mark. */
static void velocity_read(struct pay_tx *tx, struct velocity_ask *a)
{
    if (!a->asked) {
        return;
    }
    if (a->found >= 0) {
        *a->out = a->max;
        char digits[PAY_INT_DIGITS_MAX + 1];
        max_digits(a->max, digits);
        VELOCITY_MEMO(memo, a->rule, digits, a->subject);
        pay_tx_memo_put(tx, memo, PAY_NPARAMS(memo), a->found);
    } else {
        *a->out = -1 - a->found;
    }
}

/* Distinct cards of subject @kind = @value used since @since, other than
 * @card (the caller counts @card once more); read from risk_cards (one row
 * per subject and card), so the cost is the cards in the window, not the
 * attempts, and at most PAY_RISK_CARDS_COUNTED of them. */
static void cards_by(struct counts *c, const char *kind, const char *value, const char *card,
                     int64_t since, int64_t *out)
{
    const struct pay_param p[] = {PAY_PTEXT(kind), PAY_PTEXT(value), PAY_PINT(since),
                                  PAY_PTEXT(card), PAY_PINT(PAY_RISK_CARDS_COUNTED - 1)};
    count_add(c,
              "SELECT COUNT(*) FROM (SELECT 1 FROM risk_cards WHERE subject_kind = $1 AND "
              "subject = $2 AND last_seen >= $3 AND card_fingerprint <> $4 LIMIT $5) AS c",
              p, PAY_NPARAMS(p), out);
}

/* Record that subject @kind = @value used @card at @now (for cards_by). */
static enum pay_err card_used(struct pay_op *op, const char *kind, const char *value,
                              const char *card, int64_t now)
{
    if (value == NULL || card == NULL) {
        return PAY_OK;
    }
    /* The row's last_seen only ever rises: once this process has written
     * @now for it and nothing was undone since (store.h, memos), a use at a
     * time up to that would leave the row as it is, and is not written (a
     * patient paying several times within a second writes it once). */
    const char *memo[] = {"card_use", kind, value, card};
    int64_t seen = 0;
    if (pay_tx_memo_get(op->tx, memo, PAY_NPARAMS(memo), &seen) && seen >= now) {
        return PAY_OK;
    }
    const struct pay_param p[] = {PAY_PTEXT(kind), PAY_PTEXT(value), PAY_PTEXT(card),
                                  PAY_PINT(now)};
    enum pay_err e =
        pay_tx_exec_later(op->tx,
                          "INSERT INTO risk_cards (subject_kind, subject, card_fingerprint, "
                          "last_seen) VALUES ($1, $2, $3, $4) ON CONFLICT (subject_kind, "
                          "subject, card_fingerprint) DO UPDATE SET last_seen = CASE WHEN "
                          "excluded.last_seen > risk_cards.last_seen THEN excluded.last_seen "
                          "ELSE risk_cards.last_seen END",
                          p, PAY_NPARAMS(p));
    if (e == PAY_OK) {
        pay_tx_memo_put(op->tx, memo, PAY_NPARAMS(memo), now);
    }
    return pay_op_fail(op, e);
}

/* Entries of the blocklist for @type = @value (none asked for an empty value). */
static void blocked(struct counts *c, const char *type, const char *value, int64_t *out)
{
    *out = 0;
    if (value == NULL || value[0] == '\0') {
        return;
    }
    const struct pay_param p[] = {PAY_PTEXT(type), PAY_PTEXT(value)};
    count_add(c, "SELECT COUNT(*) FROM blocklist_entries WHERE type = $1 AND value = $2", p, 2,
              out);
}

/* The rules' facts for one attempt (the cheap ones are already in @f). */
/*
 * The customer's row lock (customer_facts) makes two attempts of one
 * customer count one after the other on PostgreSQL; these keys do the
 * same for the counts per card and per client address, so a parallel
 * burst on one card or from one address cannot pass a limit with every
 * attempt missing the others. Card before address, always.
 */
static enum pay_err serialize_counts(struct pay_op *op, const struct pay_risk_config *c,
                                     int64_t now, const char *card, const char *addr,
                                     const struct pay_risk_facts *f, bool cards_address)
{
    char key[PAY_RISK_VALUE_LEN_MAX + 32];
    enum pay_err e = PAY_OK;
    if (f->has_card && c->velocity_card.points > 0 && c->velocity_card.max > 0) {
        /* Only while the card is below its limit: past it the rule fires
         * whatever the others do (they can only add attempts), and one card
         * used by many at once (a clinic's own test card) is not made to wait. */
        snprintf(key, sizeof(key), "risk:card:%s", card);
        const struct pay_param p[] = {PAY_PTEXT(card), PAY_PINT(now - c->velocity_card.window_s),
                                      PAY_PINT(c->velocity_card.max)};
        e = pay_tx_serialize_on_while(op->tx, key, ATTEMPTS_BY_CARD_SQL, p, PAY_NPARAMS(p),
                                      c->velocity_card.max);
    }
    if (e == PAY_OK && f->has_address &&
        ((c->velocity_address.points > 0 && c->velocity_address.max > 0) || cards_address)) {
        snprintf(key, sizeof(key), "risk:client_addr:%s", addr);
        e = pay_tx_serialize_on(op->tx, key);
    }
    return pay_op_fail(op, e);
}

static enum pay_err gather(struct pay_op *op, const struct pay_risk_config *c, int64_t now,
                           const char *customer, const char *card, const char *addr,
                           const char *email, struct pay_risk_facts *f)
{
    struct counts q;
    q.len = q.n = q.n_p = 0;
    q.sql[0] = '\0';
    struct velocity_ask v[] = {
        {VELOCITY_CUSTOMER, customer, c->velocity_customer.max, &f->customer_attempts, 0, false},
        {VELOCITY_CARD, card, c->velocity_card.max, &f->card_attempts, 0, false},
        {VELOCITY_ADDRESS, addr, c->velocity_address.max, &f->address_attempts, 0, false},
    };
    if (f->has_customer && c->velocity_customer.points > 0 && c->velocity_customer.max > 0) {
        attempts_by(&q, op->tx, &v[VELOCITY_CUSTOMER], now - c->velocity_customer.window_s);
    }
    if (f->has_card && c->velocity_card.points > 0 && c->velocity_card.max > 0) {
        attempts_by(&q, op->tx, &v[VELOCITY_CARD], now - c->velocity_card.window_s);
    }
    if (f->has_address && c->velocity_address.points > 0 && c->velocity_address.max > 0) {
        attempts_by(&q, op->tx, &v[VELOCITY_ADDRESS], now - c->velocity_address.window_s);
    }
    if (f->has_customer && c->recent_declines.points > 0 && c->recent_declines.max > 0) {
        const struct pay_param p[] = {PAY_PTEXT(customer),
                                      PAY_PINT(now - c->recent_declines.window_s)};
        count_add(&q,
                  "SELECT COUNT(*) FROM payment_attempts WHERE customer = $1 AND created >= $2 "
                  "AND outcome = 'declined'",
                  p, 2, &f->customer_declines);
    }
    if (f->has_customer && c->disputes.points > 0) {
        /* provider_events.c marks a disputed intent "disputed": true in its
         * object, and the intent's save copies the mark to its column. */
        const struct pay_param p[] = {PAY_PTEXT(customer), PAY_PINT(now - c->disputes.window_s)};
        count_add(&q,
                  "SELECT COUNT(*) FROM payment_intents WHERE customer = $1 AND created >= $2 "
                  "AND disputed = 1",
                  p, 2, &f->customer_disputes);
    }
    int64_t blocks[3] = {0, 0, 0};
    if (c->blocklist.points > 0) {
        blocked(&q, "card_fingerprint", card, &blocks[0]);
        blocked(&q, "email", email, &blocks[1]);
        blocked(&q, "client_address", addr, &blocks[2]);
    }
    bool cards_customer =
        f->has_card && f->has_customer && c->card_testing.max_cards_per_customer > 0;
    bool cards_address = f->has_card && f->has_address && c->card_testing.max_cards_per_address > 0;
    if (cards_customer) {
        cards_by(&q, "customer", customer, card, now - c->card_testing.window_s,
                 &f->cards_of_customer);
    }
    if (cards_address) {
        cards_by(&q, "client_addr", addr, card, now - c->card_testing.window_s,
                 &f->cards_of_address);
    }
    enum pay_err e = serialize_counts(op, c, now, card, addr, f, cards_address);
    if (e == PAY_OK) {
        e = counts_read(op, &q);
    }
    for (size_t i = 0; e == PAY_OK && i < sizeof(v) / sizeof(v[0]); i++) {
        velocity_read(op->tx, &v[i]);
    }
    f->blocked_card = blocks[0] > 0;
    f->blocked_email = blocks[1] > 0;
    f->blocked_address = blocks[2] > 0;
    /* The card of this attempt is one of them. */
    f->cards_of_customer += cards_customer;
    f->cards_of_address += cards_address;
    return e;
}

static const char *or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

enum pay_err pay_risk_assess(struct pay_op *op, struct pay_intent_row *row,
                             const struct pay_pm_charge *pm, const struct pay_route_choice *route,
                             struct pay_risk_verdict *out)
{
    memset(out, 0, sizeof(*out));
    out->decision = PAY_RISK_APPROVE;
    const struct pay_risk_config *c = pay_risk_config();
    const json_t *o = row->obj;
    const char *intent = pay_json_str(o, "id");
    const char *customer = or_null(pay_json_str(o, "customer"));
    const char *currency = pay_json_str(o, "currency");
    int64_t amount = pay_json_int(o, "amount", 0);
    int64_t now = pay_now();

    char email[PAY_CUSTOMER_EMAIL_LEN_MAX + 1];
    char customer_facility[PAY_FACILITY_LEN_MAX + 1];
    enum pay_err e =
        customer_facts(op, row, email, sizeof(email), customer_facility, sizeof(customer_facility));
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    /* The intent's facility, else its customer's. */
    const char *facility = or_null(pay_json_str(o, "facility"));
    if (facility == NULL) {
        facility = or_null(customer_facility);
    }

    /* The facility's time zone, else the configured one; a zone payd cannot
     * read falls back to UTC rather than failing the payment. */
    char zone[PAY_TZ_NAME_LEN_MAX + 1];
    e = facility_zone(op, facility, zone, sizeof(zone));
    if (e != PAY_OK) {
        return e;
    }
    int32_t offset = 0;
    if (zone[0] == '\0' || pay_tz_offset(c->zoneinfo_dir, zone, now, &offset) != PAY_OK) {
        pay_copy_str(zone, sizeof(zone), c->timezone);
        if (pay_tz_offset(c->zoneinfo_dir, zone, now, &offset) != PAY_OK) {
            pay_copy_str(zone, sizeof(zone), "UTC");
            offset = 0;
        }
    }
    struct pay_tz_local local;
    pay_tz_local(now, offset, &local);

    /* Limits first: an attempt past them is refused, not scored. */
    if (customer != NULL && (c->limits.daily_count > 0 || c->limits.daily_amount.n > 0)) {
        int64_t day_count = 0, day_amount = 0;
        e = day_totals(op, customer, local.day_start, currency, &day_count, &day_amount);
        if (e == PAY_OK) {
            e = pay_risk_limits_check(c, amount, currency, true, day_count, day_amount, op->err);
        }
    } else {
        e = pay_risk_limits_check(c, amount, currency, customer != NULL, 0, 0, op->err);
    }
    if (e != PAY_OK) {
        return e;
    }

    char card[FINGERPRINT_LEN_MAX + 1];
    /* The payer's address: only a patient's own request comes from the
     * payer's device. Requests by API keys, staff and admins come from the
     * clinic's servers and desks, whose one address says nothing about who
     * pays (counting it would take a busy clinic for a card tester). */
    const char *addr = pay_str_eq(op->actor_role, "patient") ? or_null(op->client_addr) : NULL;
    e = card_fingerprint(op, pm, card, sizeof(card));
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    struct pay_risk_facts f = {
        .amount_minor = amount,
        .currency = currency,
        .has_customer = customer != NULL,
        .has_card = card[0] != '\0',
        .has_address = addr != NULL,
        .timezone = zone,
        .local_hour = local.hour,
        .local_minute = local.minute,
    };
    if (c->enabled) {
        e = gather(op, c, now, customer, card, addr, email, &f);
        if (e != PAY_OK) {
            return e;
        }
    }
    struct pay_risk_result r;
    e = pay_risk_score(c, &f, &r);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    char *reasons = pay_json_dump(r.reasons);
    json_decref(r.reasons);
    if (reasons == NULL) {
        return pay_op_fail(op, PAY_ERR_NOMEM);
    }
    pay_id_new("pa", out->attempt_id);
    const char *tender = route != NULL && route->tender[0] ? route->tender : PAY_TENDER_CARD;
    const char *provider = route != NULL ? (route->provider[0]    ? route->provider
                                            : route->connector[0] ? route->connector
                                                                  : NULL)
                                         : NULL;
    const char *decision = pay_risk_decision_name(r.decision);
    /* The row is written once its outcome is known (pay_risk_outcome): one
     * INSERT instead of an INSERT and an UPDATE of the outcome, which sits
     * in two of the table's indexes. */
    struct pay_risk_pending *pend = pay_mem_zalloc(sizeof(*pend));
    if (pend == NULL) {
        free(reasons);
        return pay_op_fail(op, PAY_ERR_NOMEM);
    }
    const char *texts[PENDING_TEXTS] = {
        out->attempt_id, intent,   customer, tender,   provider, or_null(card), addr,
        or_null(email),  facility, zone,     currency, NULL,     decision,      or_null(op->actor)};
    for (size_t i = 0; i < PENDING_TEXTS; i++) {
        if (i != PENDING_REASONS && texts[i] != NULL &&
            (pend->text[i] = strdup(texts[i])) == NULL) {
            e = PAY_ERR_NOMEM;
        }
    }
    pend->text[PENDING_REASONS] = reasons;
    pend->created = now;
    pend->amount = amount;
    pend->score = r.score;
    out->pending = pend;
    if (e == PAY_OK) {
        e = card_used(op, "customer", customer, or_null(card), now);
    }
    if (e == PAY_OK) {
        e = card_used(op, "client_addr", addr, or_null(card), now);
    }
    if (e != PAY_OK) {
        pay_risk_verdict_release(out);
        out->attempt_id[0] = '\0';
        return pay_op_fail(op, e);
    }
    out->decision = r.decision;
    out->score = r.score;
    if (r.decision == PAY_RISK_DECLINE) {
        pay_copy_str(out->code, sizeof(out->code), "card_declined");
        pay_copy_str(out->decline_code, sizeof(out->decline_code), r.decline_code);
        pay_copy_str(out->message, sizeof(out->message), r.message);
    }
    if (r.decision != PAY_RISK_APPROVE) {
        json_t *fields =
            json_pack("{s:s, s:s, s:i, s:s}", "attempt", out->attempt_id, "payment_intent",
                      intent ? intent : "", "score", r.score, "decision", decision);
        pay_log(PAY_LOG_INFO, op->request_id, "risk decision", fields);
        json_decref(fields);
    }
    return PAY_OK;
}

void pay_risk_verdict_release(struct pay_risk_verdict *v)
{
    if (v->pending != NULL) {
        for (size_t i = 0; i < PENDING_TEXTS; i++) {
            free(v->pending->text[i]);
        }
        pay_mem_free(v->pending);
        v->pending = NULL;
    }
}

enum pay_err pay_risk_outcome(struct pay_op *op, struct pay_risk_verdict *v, const char *outcome)
{
    const struct pay_risk_pending *a = v->pending;
    if (a == NULL || outcome == NULL || outcome[0] == '\0') {
        pay_risk_verdict_release(v);
        return PAY_OK;
    }
    char *const *t = a->text;
    const struct pay_param p[] = {
        PAY_PTEXT(t[0]),    PAY_PINT(a->created), PAY_PTEXT(t[1]),  PAY_PTEXT(t[2]),
        PAY_PTEXT(t[3]),    PAY_PTEXT(t[4]),      PAY_PTEXT(t[5]),  PAY_PTEXT(t[6]),
        PAY_PTEXT(t[7]),    PAY_PTEXT(t[8]),      PAY_PTEXT(t[9]),  PAY_PINT(a->amount),
        PAY_PTEXT(t[10]),   PAY_PINT(a->score),   PAY_PTEXT(t[11]), PAY_PTEXT(t[12]),
        PAY_PTEXT(outcome), PAY_PTEXT(t[13]),
    };
    enum pay_err e = pay_tx_exec_later(
        op->tx,
        "INSERT INTO payment_attempts (id, created, payment_intent, customer, tender, "
        "provider, card_fingerprint, client_addr, email, facility, timezone, amount, "
        "currency, score, reasons, decision, outcome, actor) VALUES ($1, $2, $3, $4, "
        "$5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
        p, PAY_NPARAMS(p));
    pay_risk_verdict_release(v);
    return pay_op_fail(op, e);
}

enum pay_err pay_risk_challenge_outcome(struct pay_op *op, const char *intent_id,
                                        const char *outcome)
{
    if (intent_id == NULL || outcome == NULL || outcome[0] == '\0') {
        return PAY_OK;
    }
    const struct pay_param p[] = {PAY_PTEXT(intent_id), PAY_PTEXT(outcome)};
    return pay_op_fail(op,
                       pay_tx_exec(op->tx,
                                   "UPDATE payment_attempts SET outcome = $2 WHERE id = (SELECT id "
                                   "FROM payment_attempts WHERE payment_intent = $1 ORDER BY seq "
                                   "DESC LIMIT 1) AND outcome IN ('pending', 'requires_action', "
                                   "'processing', 'requires_verification')",
                                   p, 2, NULL));
}

/* ---- Blocklist ------------------------------------------------------------------ */

static const char *const blocklist_types[] = {"card_fingerprint", "email", "client_address", NULL};

static bool type_valid(const char *t)
{
    for (size_t i = 0; t != NULL && blocklist_types[i] != NULL; i++) {
        if (strcmp(blocklist_types[i], t) == 0) {
            return true;
        }
    }
    return false;
}

/* The canonical form of @value for @type into @out, or false when invalid. */
static bool normalise(const char *type, const char *value, char *out, size_t n)
{
    size_t len = strlen(value);
    if (len == 0 || len > PAY_RISK_VALUE_LEN_MAX || len >= n) {
        return false;
    }
    if (strcmp(type, "client_address") == 0) {
        unsigned char buf[sizeof(struct in6_addr)];
        if (inet_pton(AF_INET, value, buf) == 1) {
            return inet_ntop(AF_INET, buf, out, (socklen_t)n) != NULL;
        }
        if (inet_pton(AF_INET6, value, buf) == 1) {
            return inet_ntop(AF_INET6, buf, out, (socklen_t)n) != NULL;
        }
        return false;
    }
    memcpy(out, value, len + 1);
    if (strcmp(type, "email") == 0) {
        lower_in_place(out);
        const char *at = strchr(out, '@');
        return at != NULL && at != out && at[1] != '\0' && strpbrk(out, " \t\r\n") == NULL &&
               len <= PAY_CUSTOMER_EMAIL_LEN_MAX;
    }
    /* A card fingerprint as payment methods show it. */
    if (len > FINGERPRINT_LEN_MAX) {
        return false;
    }
    for (const char *s = out; *s; s++) {
        if (!isalnum((unsigned char)*s)) {
            return false;
        }
    }
    return true;
}

static enum pay_err entry_load(struct pay_op *op, const char *id, json_t **out)
{
    *out = NULL;
    if (id == NULL || !pay_id_valid(id, "ble")) {
        return pay_error_set(op->err, PAY_ERR_NOT_FOUND, "id", "No such blocklist entry: '%s'",
                             id ? id : "");
    }
    const struct pay_param p[] = {PAY_PTEXT(id)};
    char *data = NULL;
    enum pay_err e =
        pay_tx_query_text(op->tx, "SELECT data FROM blocklist_entries WHERE id = $1", p, 1, &data);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    if (data == NULL) {
        return pay_error_set(op->err, PAY_ERR_NOT_FOUND, "id", "No such blocklist entry: '%s'", id);
    }
    *out = json_loads(data, 0, NULL);
    free(data);
    return *out != NULL ? PAY_OK : pay_op_fail(op, PAY_ERR_INTERNAL);
}

enum pay_err pay_blocklist_create(struct pay_op *op, const char *type, const char *value,
                                  const char *description, json_t **out)
{
    *out = NULL;
    if (op->customer_scope != NULL) {
        return pay_error_set(op->err, PAY_ERR_FORBIDDEN, NULL, NULL);
    }
    if (!type_valid(type)) {
        return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "type",
                             "Invalid type: must be one of card_fingerprint, email, "
                             "client_address.");
    }
    char norm[PAY_RISK_VALUE_LEN_MAX + 1];
    if (value == NULL || !normalise(type, value, norm, sizeof(norm))) {
        return pay_error_set(
            op->err, PAY_ERR_PARAM_INVALID, "value", "Invalid value for a %s entry: %s.", type,
            strcmp(type, "client_address") == 0 ? "an IPv4 or IPv6 address"
            : strcmp(type, "email") == 0        ? "an e-mail address"
                                                : "a card fingerprint (letters and digits)");
    }
    char id[PAY_ID_LEN_MAX + 1];
    pay_id_new("ble", id);
    int64_t now = pay_now();
    json_t *o = json_pack(
        "{s:s, s:s, s:I, s:b, s:s, s:s, s:s?, s:s?}", "id", id, "object", "blocklist_entry",
        "created", (json_int_t)now, "livemode", 0, "type", type, "value", norm, "description",
        description && description[0] ? description : NULL, "created_by", or_null(op->actor));
    char *data = o ? pay_json_dump(o) : NULL;
    if (data == NULL) {
        json_decref(o);
        return pay_op_fail(op, PAY_ERR_NOMEM);
    }
    const struct pay_param p[] = {PAY_PTEXT(id), PAY_PINT(now), PAY_PTEXT(type), PAY_PTEXT(norm),
                                  PAY_PTEXT(data)};
    int64_t changed = 0;
    enum pay_err e = pay_tx_exec(op->tx,
                                 "INSERT INTO blocklist_entries (id, created, type, value, data) "
                                 "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (type, value) DO NOTHING",
                                 p, PAY_NPARAMS(p), &changed);
    free(data);
    if (e == PAY_OK && changed != 1) {
        e = pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "value",
                          "This %s is already on the blocklist.", type);
    }
    if (e != PAY_OK) {
        json_decref(o);
        return pay_op_fail(op, e);
    }
    *out = o;
    return PAY_OK;
}

enum pay_err pay_blocklist_get(struct pay_op *op, const char *id, json_t **out)
{
    *out = NULL;
    if (op->customer_scope != NULL) {
        return pay_error_set(op->err, PAY_ERR_FORBIDDEN, NULL, NULL);
    }
    return entry_load(op, id, out);
}

enum pay_err pay_blocklist_delete(struct pay_op *op, const char *id, json_t **out)
{
    *out = NULL;
    if (op->customer_scope != NULL) {
        return pay_error_set(op->err, PAY_ERR_FORBIDDEN, NULL, NULL);
    }
    json_t *o = NULL;
    enum pay_err e = entry_load(op, id, &o);
    if (e != PAY_OK) {
        return e;
    }
    json_decref(o);
    const struct pay_param p[] = {PAY_PTEXT(id)};
    e = pay_tx_exec(op->tx, "DELETE FROM blocklist_entries WHERE id = $1", p, 1, NULL);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    *out = json_pack("{s:s, s:s, s:b}", "id", id, "object", "blocklist_entry", "deleted", 1);
    return *out ? PAY_OK : pay_op_fail(op, PAY_ERR_NOMEM);
}

enum pay_err pay_blocklist_list(struct pay_op *op, const char *type,
                                const struct pay_list_args *args, json_t **data_out, bool *has_more)
{
    *data_out = NULL;
    *has_more = false;
    if (op->customer_scope != NULL) {
        return pay_error_set(op->err, PAY_ERR_FORBIDDEN, NULL, NULL);
    }
    const struct pay_param p[] = {PAY_PTEXT(type)};
    return pay_op_fail(op, pay_tx_list(op->tx, "blocklist_entries", type ? "type = $1" : NULL,
                                       type ? p : NULL, type ? 1 : 0, args, data_out, has_more,
                                       op->err));
}

/* ---- The attempt log --------------------------------------------------------------- */

enum pay_err pay_risk_attempt_list(struct pay_op *op, const char *payment_intent,
                                   const char *customer, const struct pay_list_args *args,
                                   json_t **data_out, bool *has_more)
{
    *data_out = NULL;
    *has_more = false;
    if (op->customer_scope != NULL) {
        return pay_error_set(op->err, PAY_ERR_FORBIDDEN, NULL, NULL);
    }
    struct pay_param p[2];
    size_t n = 0;
    const char *where = NULL;
    if (payment_intent != NULL && customer != NULL) {
        where = "payment_intent = $1 AND customer = $2";
        p[n++] = PAY_PTEXT(payment_intent);
        p[n++] = PAY_PTEXT(customer);
    } else if (payment_intent != NULL) {
        where = "payment_intent = $1";
        p[n++] = PAY_PTEXT(payment_intent);
    } else if (customer != NULL) {
        where = "customer = $1";
        p[n++] = PAY_PTEXT(customer);
    }
    return pay_op_fail(op, pay_tx_list(op->tx, "payment_attempt_objects", where, n ? p : NULL, n,
                                       args, data_out, has_more, op->err));
}

enum pay_err pay_risk_attempt_get(struct pay_op *op, const char *id, json_t **out)
{
    *out = NULL;
    if (op->customer_scope != NULL) {
        return pay_error_set(op->err, PAY_ERR_FORBIDDEN, NULL, NULL);
    }
    if (id == NULL || !pay_id_valid(id, "pa")) {
        return pay_error_set(op->err, PAY_ERR_NOT_FOUND, "id", "No such payment attempt: '%s'",
                             id ? id : "");
    }
    const struct pay_param p[] = {PAY_PTEXT(id)};
    char *data = NULL;
    enum pay_err e = pay_tx_query_text(
        op->tx, "SELECT data FROM payment_attempt_objects WHERE id = $1", p, 1, &data);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    if (data == NULL) {
        return pay_error_set(op->err, PAY_ERR_NOT_FOUND, "id", "No such payment attempt: '%s'", id);
    }
    *out = json_loads(data, 0, NULL);
    free(data);
    return *out != NULL ? PAY_OK : pay_op_fail(op, PAY_ERR_INTERNAL);
}
