'use strict';
/*
 * risk.test.js - fraud scoring and limits (issue 6, items 4 and 5) over
 * HTTP: a decision for each rule (amount, velocity per customer, card and
 * client address, time of day in the facility's time zone, recent
 * declines, disputes, blocklists of card fingerprints, e-mails and
 * addresses), the card-testing burst (per customer and per address), the
 * per-customer limits (maximum single amount, daily count, daily amount),
 * the configuration file's errors, and access (patients never see risk
 * data; auditors read attempts but cannot change the blocklist).
 *
 * Each test starts payd with a tight --risk-config that turns on only the
 * rule it is about (the others get 0 points), so every decision has one
 * cause the test can name.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startPayd, runPayd, freshDatabase } = require('./lib/payd');
const { expectError, ok, newCustomer, createIntent, getIntent, walk3ds, cardPm } = require('./lib/intents');

/* Every scoring rule off; a test turns on what it checks. */
const QUIET = {
  review_score: 30,
  decline_score: 60,
  timezone: 'UTC',
  rules: {
    amount: { points: 0 },
    velocity_customer: { points: 0 },
    velocity_card: { points: 0 },
    velocity_address: { points: 0 },
    time_of_day: { points: 0 },
    recent_declines: { points: 0 },
    disputes: { points: 0 },
    blocklist: { points: 0 },
    card_testing: { max_cards_per_customer: 0, max_cards_per_address: 0 },
  },
};

function merge(base, over) {
  const out = { ...base };
  for (const [k, v] of Object.entries(over || {})) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && base[k] && typeof base[k] === 'object'
      ? merge(base[k], v) : v;
  }
  return out;
}

function configFile(config) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'payd-risk-'));
  const file = path.join(dir, 'risk.json');
  fs.writeFileSync(file, JSON.stringify(config));
  return file;
}

/* payd with QUIET plus @over as its risk configuration. */
function startRisk(over, opts = {}) {
  return startPayd({ ...opts, args: ['--risk-config', configFile(merge(QUIET, over)), ...(opts.args || [])] });
}

/* Create and confirm an intent; resolves the raw response. */
function pay(payd, params, o) {
  return createIntent(payd, { payment_method: 'pm_card_visa', confirm: 'true', ...params }, o);
}

/* Create and confirm an intent as a patient paying from its own device (the
 * client address counts only then); a new customer unless one is given. */
async function patientPay(payd, params = {}) {
  const customer = params.customer || (await newCustomer(payd)).id;
  const token = await payd.mintToken({ sub: `patient_${customer}`, role: 'patient', customer });
  return pay(payd, { ...params, customer }, { token });
}

async function attemptsOf(payd, query) {
  const r = await payd.api('GET', `/v1/payment_attempts?${new URLSearchParams(query)}`);
  return ok(r, 'list attempts').data;
}

/* The one attempt of intent @id. */
async function attemptOf(payd, id) {
  const data = await attemptsOf(payd, { payment_intent: id });
  assert.equal(data.length, 1, `one attempt of ${id}: ${JSON.stringify(data)}`);
  return data[0];
}

function rules(attempt) {
  return attempt.reasons.map((r) => r.rule);
}

/* A 402 from the risk check: the intent records it as a card decline. */
async function expectFraudDecline(payd, r, decline = 'fraudulent') {
  expectError(r, 402, { type: 'card_error', code: 'card_declined', decline_code: decline });
  const id = r.body.error.payment_intent ? r.body.error.payment_intent.id : null;
  assert.ok(id, `the error carries the intent: ${r.text}`);
  const pi = ok(await getIntent(payd, id));
  assert.equal(pi.status, 'requires_payment_method');
  assert.equal(pi.last_payment_error.code, 'card_declined');
  assert.equal(pi.last_payment_error.decline_code, decline);
  const a = await attemptOf(payd, id);
  assert.equal(a.decision, 'decline');
  assert.equal(a.outcome, 'declined');
  return a;
}

const RISK_KEYS = ['score', 'reasons', 'decision', 'risk', 'risk_score', 'outcome'];

/* PAYD_CLOCK_OFFSET that puts payd's clock at 12:00 UTC today: outside the
 * default night window (00:00-05:00), whenever the suite runs. */
function middayOffset() {
  const now = new Date();
  const noon = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), 12, 0, 0);
  return String(Math.round((noon - now.getTime()) / 1000));
}

test('a quiet payment: approved, score 0, no reasons; the attempt records who, what and from where', async () => {
  /* The default rules, at midday: nothing about this payment is unusual. */
  const payd = await startPayd({ env: { PAYD_CLOCK_OFFSET: middayOffset() } });
  try {
    const c = await newCustomer(payd, { email: 'Quiet.Patient@Example.com' });
    const pi = ok(await pay(payd, { customer: c.id }));
    assert.equal(pi.status, 'succeeded');
    for (const k of RISK_KEYS) assert.equal(k in pi, false, `intent has no ${k}`);
    const a = await attemptOf(payd, pi.id);
    assert.match(a.id, /^pa_/);
    assert.equal(a.object, 'payment_attempt');
    assert.equal(a.customer, c.id);
    assert.equal(a.tender, 'card');
    assert.equal(a.amount, 1000);
    assert.equal(a.currency, 'usd');
    assert.equal(a.email, 'quiet.patient@example.com');
    assert.equal(a.client_address, null, 'an API key is the clinic, not the payer: no payer address');
    const pm = ok(await payd.api('GET', `/v1/payment_methods/${pi.payment_method}`));
    assert.equal(a.card_fingerprint, pm.card.fingerprint);
    assert.equal(a.score, 0);
    assert.deepEqual(a.reasons, []);
    assert.equal(a.decision, 'approve');
    assert.equal(a.outcome, 'succeeded');
    assert.equal(a.timezone, 'UTC');
    ok(await payd.api('GET', `/v1/payment_attempts/${a.id}`));
    assert.equal((await attemptsOf(payd, { customer: c.id })).length, 1);
    assert.equal((await attemptsOf(payd, { customer: 'cus_nobody' })).length, 0);
    const mine = await attemptOf(payd, ok(await patientPay(payd, { customer: c.id })).id);
    assert.equal(mine.client_address, '127.0.0.1', "a patient's own request: the payer's address");
  } finally {
    await payd.stop();
  }
});

test('3-D Secure: the attempt waits in requires_action, then records how the challenge ended', async () => {
  const payd = await startPayd();
  try {
    for (const [action, outcome, status] of [['complete', 'succeeded', 'succeeded'], ['fail', 'declined', 'requires_payment_method']]) {
      const c = await newCustomer(payd);
      const pi = ok(await pay(payd, { customer: c.id, payment_method: 'pm_card_threeDSecure2Required', return_url: 'https://example.com/back' }));
      assert.equal(pi.status, 'requires_action');
      assert.equal((await attemptOf(payd, pi.id)).outcome, 'requires_action');
      await walk3ds(payd, pi, action);
      assert.equal(ok(await getIntent(payd, pi.id)).status, status);
      const a = await attemptOf(payd, pi.id);
      assert.equal(a.outcome, outcome, `after ${action}`);
    }
  } finally {
    await payd.stop();
  }
});

test('amount: below the threshold approved, at it held for review in requires_verification', async () => {
  const payd = await startRisk({ rules: { amount: { points: 40, from: { usd: 5000 } } } });
  try {
    const c = await newCustomer(payd);
    const low = ok(await pay(payd, { customer: c.id, amount: 4999 }));
    assert.equal(low.status, 'succeeded');
    const high = ok(await pay(payd, { customer: c.id, amount: 5000 }));
    assert.equal(high.status, 'requires_verification');
    assert.equal(high.amount_received, 0);
    const a = await attemptOf(payd, high.id);
    assert.equal(a.decision, 'review');
    assert.equal(a.score, 40);
    assert.deepEqual(a.reasons, [{ rule: 'amount', points: 40, detail: 'amount 5000 usd is at or above 5000' }]);
    const other = ok(await pay(payd, { customer: c.id, amount: 5000, currency: 'eur' }));
    assert.equal(other.status, 'succeeded', 'no threshold in eur');
    /* A second person approves the review: the card is charged now and the
     * attempt records how it ended. */
    const ver = ok(await payd.api('GET', `/v1/verifications?payment_intent=${high.id}`)).data[0];
    assert.equal(ver.kind, 'fraud_review');
    const bob = await payd.mintToken({ sub: 'staff_bob', role: 'staff' });
    ok(await payd.api('POST', `/v1/verifications/${ver.id}/approve`, { token: bob }));
    assert.equal(ok(await getIntent(payd, high.id)).status, 'succeeded');
    assert.equal((await attemptOf(payd, high.id)).outcome, 'succeeded');
  } finally {
    await payd.stop();
  }
});

test('a review of an off-session payment: approval charges it off session, as the confirm asked', async () => {
  const payd = await startRisk({ rules: { amount: { points: 40, from: { usd: 5000 } } } });
  try {
    const c = await newCustomer(payd);
    const bob = await payd.mintToken({ sub: 'staff_bob', role: 'staff' });
    const held = async (pm, offSession) => {
      const pi = ok(await pay(payd, { customer: c.id, amount: 5000, payment_method: pm,
        ...(offSession ? { off_session: 'true' } : { return_url: 'https://example.com/back' }) }));
      assert.equal(pi.status, 'requires_verification');
      const ver = ok(await payd.api('GET', `/v1/verifications?payment_intent=${pi.id}`)).data[0];
      assert.equal(ver.kind, 'fraud_review');
      assert.equal(ver.off_session, offSession);
      ok(await payd.api('POST', `/v1/verifications/${ver.id}/approve`, { token: bob }));
      return ok(await getIntent(payd, pi.id));
    };
    /* The customer is not there: a card that needs authentication is
     * declined authentication_required, as without the review. */
    const off = await held('pm_card_authenticationRequired', true);
    assert.equal(off.status, 'requires_payment_method');
    assert.equal(off.last_payment_error.code, 'authentication_required');
    assert.equal(off.amount_received, 0);
    /* On session the same card asks the customer to authenticate. */
    const on = await held('pm_card_authenticationRequired', false);
    assert.equal(on.status, 'requires_action');
    /* A card that was set up for off-session use is charged. */
    const setUp = await held('pm_card_authenticationRequiredOnSetup', true);
    assert.equal(setUp.status, 'succeeded');
    assert.equal(setUp.amount_received, 5000);
  } finally {
    await payd.stop();
  }
});

test('velocity per customer: the attempt past the maximum is declined as fraudulent', async () => {
  const payd = await startRisk({ rules: { velocity_customer: { points: 60, max: 2, window_s: 600 } } });
  try {
    const c = await newCustomer(payd);
    const other = await newCustomer(payd);
    ok(await pay(payd, { customer: c.id }));
    ok(await pay(payd, { customer: c.id }));
    ok(await pay(payd, { customer: other.id }), 'another customer is not slowed down');
    const a = await expectFraudDecline(payd, await pay(payd, { customer: c.id }));
    assert.deepEqual(rules(a), ['velocity_customer']);
    assert.equal(a.score, 60);
    assert.match(a.reasons[0].detail, /^at least 2 earlier attempts by this customer within 600 s \(max 2\)$/);
  } finally {
    await payd.stop();
  }
});

/* Past its maximum a subject is known to stay there until its window has
 * moved past its attempts (on SQLite payd keeps that point instead of
 * counting the attempts again each time): once it has, the subject is
 * scored afresh, and counts up to the maximum again. */
test('velocity: a subject past its maximum is scored afresh once the window has passed', async () => {
  const payd = await startRisk({ rules: { velocity_customer: { points: 60, max: 2, window_s: 2 } } });
  try {
    const c = await newCustomer(payd);
    ok(await pay(payd, { customer: c.id }));
    ok(await pay(payd, { customer: c.id }));
    for (let i = 0; i < 3; i++) {
      const a = await expectFraudDecline(payd, await pay(payd, { customer: c.id }));
      assert.deepEqual(rules(a), ['velocity_customer']);
    }
    /* Every attempt above is now more than the window old. */
    await new Promise((resolve) => setTimeout(resolve, 3200));
    assert.equal(ok(await pay(payd, { customer: c.id })).status, 'succeeded', 'the window moved on');
    assert.equal(ok(await pay(payd, { customer: c.id })).status, 'succeeded', 'one earlier attempt');
    const a = await expectFraudDecline(payd, await pay(payd, { customer: c.id }));
    assert.match(a.reasons[0].detail, /^at least 2 earlier attempts by this customer within 2 s/);
  } finally {
    await payd.stop();
  }
});

test('velocity per card fingerprint: the same card across customers', async () => {
  const payd = await startRisk({ rules: { velocity_card: { points: 60, max: 2 } } });
  try {
    for (let i = 0; i < 2; i++) {
      ok(await pay(payd, { customer: (await newCustomer(payd)).id }));
    }
    ok(await pay(payd, { customer: (await newCustomer(payd)).id, payment_method: 'pm_card_mastercard' }),
      'another card');
    const a = await expectFraudDecline(payd, await pay(payd, { customer: (await newCustomer(payd)).id }));
    assert.deepEqual(rules(a), ['velocity_card']);
  } finally {
    await payd.stop();
  }
});

test('velocity per client address: review past the maximum', async () => {
  const payd = await startRisk({ rules: { velocity_address: { points: 35, max: 3 } } });
  try {
    const cards = ['pm_card_visa', 'pm_card_mastercard', 'pm_card_amex'];
    for (const pm of cards) {
      assert.equal(ok(await patientPay(payd, { payment_method: pm })).status, 'succeeded');
    }
    for (let i = 0; i < 4; i++) {
      assert.equal(ok(await pay(payd, { customer: (await newCustomer(payd)).id })).status, 'succeeded',
        "the clinic's own requests from the same address do not count");
    }
    const held = ok(await patientPay(payd, { payment_method: 'pm_card_discover' }));
    assert.equal(held.status, 'requires_verification');
    const a = await attemptOf(payd, held.id);
    assert.deepEqual(rules(a), ['velocity_address']);
    assert.equal(a.decision, 'review');
    assert.match(a.reasons[0].detail, /^at least 3 earlier attempts from this client address/);
  } finally {
    await payd.stop();
  }
});

test('time of day is read in the facility\'s time zone', async () => {
  /* payd's clock at 2026-07-01 23:30 UTC = 05:15 in Kathmandu (UTC+05:45). */
  const target = Date.UTC(2026, 6, 1, 23, 30, 0) / 1000;
  const offset = Math.round(target - Date.now() / 1000);
  const payd = await startRisk({ rules: { time_of_day: { points: 40, from_hour: 5, to_hour: 6 } } },
    { env: { PAYD_CLOCK_OFFSET: String(offset) } });
  try {
    const fac = ok(await payd.api('POST', '/v1/facilities', {
      form: { name: `ktm-${crypto.randomBytes(3).toString('hex')}`, timezone: 'Asia/Kathmandu' },
    }));
    const c = await newCustomer(payd);
    const night = ok(await pay(payd, { customer: c.id, facility: fac.id }));
    assert.equal(night.status, 'requires_verification');
    const a = await attemptOf(payd, night.id);
    assert.deepEqual(rules(a), ['time_of_day']);
    assert.equal(a.timezone, 'Asia/Kathmandu');
    assert.match(a.reasons[0].detail, /^local time 05:\d\d in Asia\/Kathmandu is within 05:00-06:00$/);
    const utc = ok(await pay(payd, { customer: c.id }));
    assert.equal(utc.status, 'succeeded', '23:30 UTC is outside 05:00-06:00');
    assert.equal((await attemptOf(payd, utc.id)).timezone, 'UTC');
    /* An intent without a facility takes its customer's. */
    const local = await newCustomer(payd, { facility: fac.id });
    const inherited = ok(await pay(payd, { customer: local.id }));
    assert.equal(inherited.status, 'requires_verification');
    const b = await attemptOf(payd, inherited.id);
    assert.equal(b.facility, fac.id);
    assert.equal(b.timezone, 'Asia/Kathmandu');
  } finally {
    await payd.stop();
  }
});

test('recent declines of the customer: after two declines the next attempt is declined', async () => {
  const payd = await startRisk({ rules: { recent_declines: { points: 60, max: 2 } } });
  try {
    const c = await newCustomer(payd);
    for (let i = 0; i < 2; i++) {
      const r = await pay(payd, { customer: c.id, payment_method: 'pm_card_chargeDeclined' });
      expectError(r, 402, { decline_code: 'generic_decline' });
      const a = await attemptOf(payd, r.body.error.payment_intent.id);
      assert.equal(a.decision, 'approve', 'the risk check let it through; the card declined');
      assert.equal(a.outcome, 'declined');
    }
    ok(await pay(payd, { customer: (await newCustomer(payd)).id }), 'another customer pays');
    const a = await expectFraudDecline(payd, await pay(payd, { customer: c.id }));
    assert.deepEqual(rules(a), ['recent_declines']);
    assert.match(a.reasons[0].detail, /^2 declined attempts by this customer/);
  } finally {
    await payd.stop();
  }
});

test('recent declines: a manual tender rejected at verification counts as a decline', async () => {
  const payd = await startRisk({ rules: { recent_declines: { points: 60, max: 1 } } });
  try {
    const c = await newCustomer(payd);
    const checker = await payd.mintToken({ sub: 'checker_1', role: 'staff' });
    const r = await createIntent(payd, { customer: c.id, amount: 5000, currency: 'sdg', payment_method_types: ['cash'], confirm: 'true' });
    const pi = ok(r, 'cash recorded');
    assert.equal(pi.status, 'requires_verification');
    const ver = pi.next_action.manual_verification.verification;
    ok(await payd.api('POST', `/v1/verifications/${ver}/reject`, { form: { reason: 'counted short' }, token: checker }), 'reject');
    const a = await attemptOf(payd, pi.id);
    assert.equal(a.outcome, 'declined', 'the rejected attempt is recorded as declined');
    const next = await expectFraudDecline(payd, await pay(payd, { customer: c.id }));
    assert.deepEqual(rules(next), ['recent_declines']);
  } finally {
    await payd.stop();
  }
});

test('disputes: a customer with a disputed payment is held for review', async () => {
  const secret = 'whsec_payd_risk_test_0123456789';
  const payd = await startRisk({ rules: { disputes: { points: 40 } } },
    { args: ['--stripe-webhook-secret', secret] });
  try {
    const c = await newCustomer(payd);
    const first = ok(await pay(payd, { customer: c.id, amount: 2000 }));
    assert.equal(first.status, 'succeeded');
    const t = Math.floor(Date.now() / 1000);
    const body = JSON.stringify({
      id: `evt_${crypto.randomBytes(8).toString('hex')}`, object: 'event', type: 'charge.dispute.created',
      created: t, livemode: false, data: { object: {
        id: `dp_${crypto.randomBytes(8).toString('hex')}`, object: 'dispute', amount: 2000, currency: 'usd',
        charge: 'ch_x', reason: 'fraudulent', status: 'needs_response', created: t,
        metadata: { payd_intent: first.id },
      } },
    });
    const sig = crypto.createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
    const r = await payd.api('POST', '/v1/webhooks/stripe', {
      raw: body, key: null, headers: { 'content-type': 'application/json', 'stripe-signature': `t=${t},v1=${sig}` },
    });
    assert.equal(ok(r).status, 'applied');
    assert.equal(ok(await getIntent(payd, first.id)).disputed, true);
    const held = ok(await pay(payd, { customer: c.id }));
    assert.equal(held.status, 'requires_verification');
    const a = await attemptOf(payd, held.id);
    assert.deepEqual(rules(a), ['disputes']);
    assert.match(a.reasons[0].detail, /^1 disputed payments of this customer/);
    assert.equal(ok(await pay(payd, { customer: (await newCustomer(payd)).id })).status, 'succeeded');
  } finally {
    await payd.stop();
  }
});

test('blocklists of card fingerprints, e-mails and client addresses; removing an entry lifts it', async () => {
  const payd = await startRisk({ rules: { blocklist: { points: 100 } } });
  try {
    const c = await newCustomer(payd, { email: 'blocked.person@example.com' });
    const clean = ok(await pay(payd, { customer: c.id }));
    const fp = ok(await payd.api('GET', `/v1/payment_methods/${clean.payment_method}`)).card.fingerprint;

    const byCard = ok(await payd.api('POST', '/v1/blocklist_entries', { form: { type: 'card_fingerprint', value: fp, description: 'chargebacks' } }));
    assert.match(byCard.id, /^ble_/);
    assert.equal(byCard.value, fp);
    let a = await expectFraudDecline(payd, await pay(payd, { customer: (await newCustomer(payd)).id }), 'merchant_blacklist');
    assert.deepEqual(a.reasons, [{ rule: 'blocklist', points: 100, detail: 'the card fingerprint is on the blocklist' }]);
    assert.equal(ok(await pay(payd, { customer: (await newCustomer(payd)).id, payment_method: 'pm_card_mastercard' })).status,
      'succeeded', 'another card passes');
    ok(await payd.api('DELETE', `/v1/blocklist_entries/${byCard.id}`));
    expectError(await payd.api('GET', `/v1/blocklist_entries/${byCard.id}`), 404, { param: 'id' });
    assert.equal(ok(await pay(payd, { customer: (await newCustomer(payd)).id })).status, 'succeeded');

    const byEmail = ok(await payd.api('POST', '/v1/blocklist_entries', { form: { type: 'email', value: 'Blocked.Person@EXAMPLE.com' } }));
    assert.equal(byEmail.value, 'blocked.person@example.com', 'e-mails are kept in lower case');
    a = await expectFraudDecline(payd, await pay(payd, { customer: c.id, payment_method: 'pm_card_amex' }), 'merchant_blacklist');
    assert.match(a.reasons[0].detail, /e-mail/);
    await expectFraudDecline(payd, await pay(payd, { receipt_email: 'blocked.person@example.com' }), 'merchant_blacklist');
    ok(await payd.api('DELETE', `/v1/blocklist_entries/${byEmail.id}`));

    const byAddr = ok(await payd.api('POST', '/v1/blocklist_entries', { form: { type: 'client_address', value: '127.0.0.1' } }));
    a = await expectFraudDecline(payd, await patientPay(payd), 'merchant_blacklist');
    assert.match(a.reasons[0].detail, /client address/);
    assert.equal(ok(await pay(payd, { customer: (await newCustomer(payd)).id })).status, 'succeeded',
      "the address of the clinic's own request is not the payer's");
    ok(await payd.api('DELETE', `/v1/blocklist_entries/${byAddr.id}`));

    const list = ok(await payd.api('GET', '/v1/blocklist_entries'));
    assert.equal(list.object, 'list');
    assert.equal(list.data.length, 0);
  } finally {
    await payd.stop();
  }
});

test('blocklist entries: validation, duplicates, filters, admin only', async () => {
  const payd = await startPayd();
  try {
    const post = (form, o) => payd.api('POST', '/v1/blocklist_entries', { form, ...o });
    expectError(await post({ type: 'phone', value: 'x' }), 400, { param: 'type' });
    expectError(await post({ type: 'email' }), 400, { param: 'value' });
    expectError(await post({ type: 'email', value: 'not-an-email' }), 400, { param: 'value' });
    expectError(await post({ type: 'client_address', value: '300.1.1.1' }), 400, { param: 'value' });
    expectError(await post({ type: 'card_fingerprint', value: 'has spaces' }), 400, { param: 'value' });
    expectError(await post({ type: 'email', value: 'a@b.c', score: 5 }), 400, { param: 'score' });
    const v6 = ok(await post({ type: 'client_address', value: '2001:DB8:0:0::1' }));
    assert.equal(v6.value, '2001:db8::1', 'addresses are kept canonical');
    expectError(await post({ type: 'client_address', value: '2001:db8::1' }), 400, { param: 'value' });
    ok(await post({ type: 'email', value: 'x@example.com' }));
    const emails = ok(await payd.api('GET', '/v1/blocklist_entries?type=email'));
    assert.deepEqual(emails.data.map((e) => e.value), ['x@example.com']);
    assert.equal(ok(await payd.api('GET', '/v1/blocklist_entries')).data.length, 2);
    expectError(await payd.api('DELETE', '/v1/blocklist_entries/ble_doesnotexist'), 404, { param: 'id' });
    for (const role of ['staff', 'auditor']) {
      const key = await payd.createKey(role);
      expectError(await post({ type: 'email', value: `${role}@example.com` }, { key }), 403);
      expectError(await payd.api('GET', '/v1/blocklist_entries', { key }), 403);
      expectError(await payd.api('DELETE', `/v1/blocklist_entries/${v6.id}`, { key }), 403);
    }
  } finally {
    await payd.stop();
  }
});

test('card testing: many different cards from one customer are declined after the threshold', async () => {
  const payd = await startRisk({ rules: { card_testing: { max_cards_per_customer: 3, window_s: 3600 } } });
  try {
    const c = await newCustomer(payd);
    for (const pm of ['pm_card_visa', 'pm_card_mastercard', 'pm_card_amex']) {
      assert.equal(ok(await pay(payd, { customer: c.id, amount: 100, payment_method: pm })).status, 'succeeded');
    }
    ok(await pay(payd, { customer: c.id, amount: 100, payment_method: 'pm_card_visa' }),
      'a card already seen is not a new card');
    let a = await expectFraudDecline(payd, await pay(payd, { customer: c.id, amount: 100, payment_method: 'pm_card_discover' }));
    assert.deepEqual(rules(a), ['card_testing']);
    assert.equal(a.score, 100);
    assert.match(a.reasons[0].detail, /^4 different cards from this customer within 3600 s \(max 3\)$/);
    a = await expectFraudDecline(payd, await pay(payd, { customer: c.id, amount: 100, payment_method: 'pm_card_visa_debit' }));
    assert.match(a.reasons[0].detail, /^5 different cards/, 'the burst stays blocked');
    ok(await pay(payd, { customer: (await newCustomer(payd)).id, payment_method: 'pm_card_discover' }),
      'the customer is blocked, not the card');
  } finally {
    await payd.stop();
  }
});

/* A card used again moves its last use on, so it stays among the
 * customer's cards in the window: payd skips writing a use that would
 * change nothing (a second use within the same second), and must not skip
 * one that moves the time on. Seconds are payd's clock's, so the uses are
 * placed just after a second begins. */
test('card testing: a card used again stays in the window from its latest use', async () => {
  const payd = await startRisk({ rules: { card_testing: { max_cards_per_customer: 2, window_s: 3 } } });
  const early = async () => {
    while (Date.now() % 1000 > 150) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  try {
    const c = await newCustomer(payd);
    const visa = { customer: c.id, amount: 100, payment_method: 'pm_card_visa' };
    await early();
    const t0 = Math.floor(Date.now() / 1000);
    ok(await pay(payd, visa));
    ok(await pay(payd, visa), 'the same second: nothing to move on');
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await early();
    ok(await pay(payd, visa), 'two seconds later: the visa was last used now');
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await early();
    assert.ok(Math.floor(Date.now() / 1000) >= t0 + 4, 'the first use is out of the 3 s window');
    ok(await pay(payd, { ...visa, payment_method: 'pm_card_mastercard' }), 'a second card');
    const a = await expectFraudDecline(payd, await pay(payd, { ...visa, payment_method: 'pm_card_amex' }));
    assert.deepEqual(rules(a), ['card_testing']);
    assert.match(a.reasons[0].detail, /^3 different cards from this customer within 3 s \(max 2\)$/);
  } finally {
    await payd.stop();
  }
});

test('card testing: a parallel burst of cards from one customer lets exactly the threshold through', async () => {
  const payd = await startRisk({ rules: { card_testing: { max_cards_per_customer: 2 } } });
  try {
    const c = await newCustomer(payd);
    const cards = ['pm_card_visa', 'pm_card_mastercard', 'pm_card_amex', 'pm_card_discover', 'pm_card_visa_debit'];
    const rs = await Promise.all(cards.map((pm) => pay(payd, { customer: c.id, amount: 100, payment_method: pm })));
    assert.equal(rs.filter((r) => r.status === 200).length, 2, rs.map((r) => r.status).join(','));
    for (const r of rs.filter((x) => x.status !== 200)) {
      expectError(r, 402, { decline_code: 'fraudulent' });
    }
    const attempts = await attemptsOf(payd, { customer: c.id });
    assert.equal(attempts.length, 5);
    assert.equal(attempts.filter((a) => a.decision === 'decline').length, 3);
  } finally {
    await payd.stop();
  }
});

test('velocity per card: a parallel burst of one card across customers lets exactly the maximum through', async () => {
  /* On PostgreSQL the attempts run on several connections at once; each
   * must count the others' rows before it decides (issue 7's review: the
   * per-card count was not serialised there). */
  const payd = await startRisk({ rules: { velocity_card: { points: 60, max: 3 } } });
  try {
    /* One card, saved by each customer as a payment method of its own:
     * the same fingerprint, nothing else shared. */
    const customers = [];
    const pms = [];
    for (let i = 0; i < 12; i++) {
      customers.push((await newCustomer(payd)).id);
      pms.push((await cardPm(payd, '4242424242424242')).id);
    }
    const rs = await Promise.all(customers.map((id, i) => pay(payd, { customer: id, amount: 100, payment_method: pms[i] })));
    assert.equal(rs.filter((r) => r.status === 200).length, 3, rs.map((r) => r.status).join(','));
    for (const r of rs.filter((x) => x.status !== 200)) {
      expectError(r, 402, { decline_code: 'fraudulent' });
    }
    let declined = 0;
    for (const id of customers) {
      const [a] = await attemptsOf(payd, { customer: id });
      if (a.decision === 'decline') {
        declined++;
        assert.deepEqual(rules(a), ['velocity_card']);
      }
    }
    assert.equal(declined, 9);
  } finally {
    await payd.stop();
  }
});

test('card testing: a parallel burst of cards from one client address lets exactly the threshold through', async () => {
  const payd = await startRisk({ rules: { card_testing: { max_cards_per_address: 3 } } });
  try {
    const cards = ['pm_card_visa', 'pm_card_mastercard', 'pm_card_amex', 'pm_card_discover', 'pm_card_visa_debit'];
    const rs = await Promise.all(cards.map((pm) => patientPay(payd, { amount: 50, payment_method: pm })));
    assert.equal(rs.filter((r) => r.status === 200).length, 3, rs.map((r) => r.status).join(','));
    for (const r of rs.filter((x) => x.status !== 200)) {
      expectError(r, 402, { decline_code: 'fraudulent' });
    }
  } finally {
    await payd.stop();
  }
});

test('card testing: many different cards from one client address, across customers', async () => {
  const payd = await startRisk({ rules: { card_testing: { max_cards_per_address: 2 } } });
  try {
    for (const pm of ['pm_card_visa', 'pm_card_mastercard']) {
      ok(await patientPay(payd, { amount: 50, payment_method: pm }));
    }
    /* The clinic's front desk or server, one address for every patient:
     * many different cards there are normal. */
    for (const pm of ['pm_card_amex', 'pm_card_discover', 'pm_card_visa_debit']) {
      ok(await pay(payd, { customer: (await newCustomer(payd)).id, amount: 50, payment_method: pm }), `desk ${pm}`);
    }
    const a = await expectFraudDecline(payd, await patientPay(payd, { amount: 50, payment_method: 'pm_card_amex' }));
    assert.match(a.reasons[0].detail, /^3 different cards from this client address/);
  } finally {
    await payd.stop();
  }
});

test('limits: maximum single amount, daily count and daily amount per customer', async () => {
  const payd = await startRisk({
    limits: { max_amount: { usd: 5000 }, daily_count: 3, daily_amount: { usd: 6000 } },
  });
  try {
    const c = await newCustomer(payd);
    const big = await pay(payd, { customer: c.id, amount: 5001 });
    expectError(big, 400, { code: 'amount_too_large', param: 'amount', message: /5000 usd/ });
    const pis = ok(await payd.api('GET', `/v1/payment_intents?customer=${c.id}`)).data;
    assert.equal(pis.length, 0, 'the refused create left nothing behind');
    expectError(await pay(payd, { amount: 5001 }), 400, { param: 'amount' }, 'no customer: still capped');

    ok(await pay(payd, { customer: c.id, amount: 4000 }));
    const declined = await pay(payd, { customer: c.id, amount: 100, payment_method: 'pm_card_chargeDeclined' });
    expectError(declined, 402);
    expectError(await pay(payd, { customer: c.id, amount: 2001 }), 400,
      { code: 'daily_limit_exceeded', param: 'amount', message: /6000 usd \(4000 usd paid today\)/ });
    ok(await pay(payd, { customer: c.id, amount: 2000 }), 'exactly the daily amount; the decline did not count');
    ok(await pay(payd, { customer: c.id, amount: 1, currency: 'eur' }), 'a third payment, in eur');
    expectError(await pay(payd, { customer: c.id, amount: 1, currency: 'eur' }), 400,
      { code: 'daily_limit_exceeded', param: 'customer', message: /daily limit of 3 payments/ });
    ok(await pay(payd, { customer: (await newCustomer(payd)).id, amount: 5000 }), 'another customer');

    /* A limit on confirm leaves the intent as it was. */
    const later = ok(await createIntent(payd, { customer: c.id, amount: 10, payment_method: 'pm_card_visa' }));
    expectError(await payd.api('POST', `/v1/payment_intents/${later.id}/confirm`), 400, { code: 'daily_limit_exceeded' });
    assert.equal(ok(await getIntent(payd, later.id)).status, 'requires_confirmation');
  } finally {
    await payd.stop();
  }
});

test('access: patients never see risk data; auditors and staff read attempts', async () => {
  const payd = await startPayd();
  try {
    const c = await newCustomer(payd);
    const patient = await payd.mintToken({ sub: 'patient_1', role: 'patient', customer: c.id });
    const mine = ok(await pay(payd, { customer: c.id }, { token: patient }));
    for (const k of RISK_KEYS) assert.equal(k in mine, false, `intent has no ${k}`);
    const again = ok(await getIntent(payd, mine.id, { token: patient }));
    for (const k of RISK_KEYS) assert.equal(k in again, false, `intent has no ${k}`);
    const a = await attemptOf(payd, mine.id);
    assert.equal(a.actor, 'patient_1');
    expectError(await payd.api('GET', '/v1/payment_attempts', { token: patient }), 403);
    expectError(await payd.api('GET', `/v1/payment_attempts?customer=${c.id}`, { token: patient }), 403);
    expectError(await payd.api('GET', `/v1/payment_attempts/${a.id}`, { token: patient }), 403);
    expectError(await payd.api('GET', '/v1/blocklist_entries', { token: patient }), 403);
    for (const role of ['staff', 'auditor']) {
      const key = await payd.createKey(role);
      const list = ok(await payd.api('GET', `/v1/payment_attempts?payment_intent=${mine.id}`, { key }));
      assert.equal(list.data.length, 1);
      assert.equal(list.data[0].decision, 'approve');
    }
    expectError(await payd.api('GET', '/v1/payment_attempts/pa_nothere'), 404, { param: 'id' });
  } finally {
    await payd.stop();
  }
});

test('--risk-config: a bad file stops payd serve with the key named', async () => {
  const db = await freshDatabase(process.env.PAYD_TEST_DB || 'sqlite');
  try {
    const cases = [
      [{ rules: { velocity_card: { window_s: 0 } } }, /rules\.velocity_card\.window_s/],
      [{ review_score: 95, decline_score: 90 }, /review_score/],
      [{ timezone: 'Mars/Olympus_Mons' }, /timezone/],
      [{ limits: { daily_amount: { zzz: 1 } } }, /limits\.daily_amount\.zzz/],
      /* Distinct cards are counted up to 1,000: a max there would never fire. */
      [{ rules: { card_testing: { max_cards_per_customer: 1000 } } }, /rules\.card_testing\.max_cards_per_customer/],
    ];
    for (const [config, re] of cases) {
      const r = await runPayd(['serve', '--db', db.url, '--listen', '127.0.0.1:0', '--risk-config', configFile(config)]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, re);
    }
    const missing = await runPayd(['serve', '--db', db.url, '--listen', '127.0.0.1:0', '--risk-config', '/nonexistent/risk.json']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read --risk-config/);
  } finally {
    await db.drop();
  }
});
