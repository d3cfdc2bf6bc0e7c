'use strict';
/*
 * provider_webhooks.test.js - POST /v1/webhooks/stripe over HTTP: the
 * Stripe-Signature check (valid, wrong secret, stale, future, missing,
 * malformed, rotation on both sides, headers from the official stripe
 * package), exactly-once application (replays, 20 concurrent deliveries),
 * each event type against a payd intent (succeeded, payment_failed,
 * canceled, charge.refunded with its delta rule, charge.dispute.created),
 * amount/currency mismatches flagged and never applied, unmatched events,
 * a webhook racing payd's own capture of the same payment, and
 * `payd audit verify` over what the suite left.
 *
 * The payd intents are sandbox intents; the events name them the way the
 * Stripe connector makes Stripe do: metadata.payd_intent = payd's id.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { startPayd, ROOT } = require('./lib/payd');
const {
  expectError, ok, newCustomer, intent, getIntent, eventsFor, auditVerify, listAll,
} = require('./lib/intents');

const SECRET_OLD = 'whsec_payd_test_old_0123456789';
const SECRET_NEW = 'whsec_payd_test_new_9876543210';

let payd;

test.before(async () => {
  payd = await startPayd({ args: ['--stripe-webhook-secret', `${SECRET_OLD}, ${SECRET_NEW}`] });
});

test.after(async () => {
  if (payd) await payd.stop();
});

const rand = () => crypto.randomBytes(9).toString('hex');
const now = () => Math.floor(Date.now() / 1000);

/* Stripe's scheme, computed independently of payd: t=..,v1=hex(HMAC(secret, "t.body")). */
function sign(body, secret = SECRET_NEW, t = now()) {
  const v1 = crypto.createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
  return `t=${t},v1=${v1}`;
}

function deliver(body, signature) {
  const headers = { 'content-type': 'application/json; charset=utf-8' };
  if (signature !== undefined) headers['stripe-signature'] = signature;
  return payd.api('POST', '/v1/webhooks/stripe', { raw: body, headers, key: null });
}

/* Sign and deliver @event (an object, or a raw string). */
function send(event, secret) {
  const body = typeof event === 'string' ? event : JSON.stringify(event);
  return deliver(body, sign(body, secret));
}

function event(type, object, id = `evt_${rand()}`) {
  return {
    id, object: 'event', api_version: '2024-06-20', created: now(), livemode: false,
    pending_webhooks: 1, request: { id: null, idempotency_key: null }, type, data: { object },
  };
}

/* A Stripe PaymentIntent object standing for payd intent @pi. */
function stripePi(pi, over = {}) {
  return {
    id: `pi_${rand()}`, object: 'payment_intent', amount: pi.amount, currency: pi.currency,
    amount_received: 0, status: 'requires_capture', latest_charge: `ch_${rand()}`,
    metadata: { payd_intent: pi.id }, ...over,
  };
}

function succeededEvent(pi, over = {}) {
  return event('payment_intent.succeeded',
    stripePi(pi, { status: 'succeeded', amount_received: pi.amount, ...over }));
}

function charge(pi, over = {}) {
  return {
    id: `ch_${rand()}`, object: 'charge', amount: pi.amount, amount_captured: pi.amount,
    amount_refunded: 0, currency: pi.currency, payment_intent: `pi_${rand()}`, refunded: false,
    metadata: { payd_intent: pi.id }, ...over,
  };
}

/* A sandbox intent authorised and waiting for capture. */
function authorised(amount = 1000) {
  return intent(payd, { amount, payment_method: 'pm_card_visa', confirm: true, capture_method: 'manual' });
}

function paid(amount = 1000) {
  return intent(payd, { amount, payment_method: 'pm_card_visa', confirm: true });
}

async function usdBalance() {
  const b = ok(await payd.api('GET', '/v1/balance'));
  const usd = b.available.find((x) => x.currency === 'usd');
  return usd ? usd.amount : 0;
}

async function allEvents(type) {
  return listAll(payd, `/v1/events?type=${encodeURIComponent(type)}`);
}

function expectBadSignature(r) {
  expectError(r, 400, { param: 'Stripe-Signature', code: 'signature_verification_failed', type: 'invalid_request_error' });
}

test('a signed payment_intent.succeeded applies once: status, balance, one event', async () => {
  const pi = await authorised(1500);
  assert.equal(pi.status, 'requires_capture');
  const before = await usdBalance();
  const ev = succeededEvent(pi);
  const r = ok(await send(ev));
  assert.deepEqual(
    { object: r.object, provider: r.provider, id: r.id, type: r.type, status: r.status, duplicate: r.duplicate, payment_intent: r.payment_intent },
    { object: 'provider_event', provider: 'stripe', id: ev.id, type: 'payment_intent.succeeded', status: 'applied', duplicate: false, payment_intent: pi.id },
  );
  const after = ok(await getIntent(payd, pi.id));
  assert.equal(after.status, 'succeeded');
  assert.equal(after.amount_received, 1500);
  assert.equal(after.amount_capturable, 0);
  assert.equal(after.latest_charge, ev.data.object.latest_charge);
  assert.equal(await usdBalance(), before + 1500);
  assert.equal((await eventsFor(payd, 'payment_intent.succeeded', pi.id)).length, 1);

  /* the same delivery again: 200, nothing changes */
  const again = ok(await send(ev));
  assert.equal(again.duplicate, true);
  assert.equal(again.status, 'applied');
  assert.equal(await usdBalance(), before + 1500);
  assert.equal((await eventsFor(payd, 'payment_intent.succeeded', pi.id)).length, 1);
  const bts = ok(await payd.api('GET', `/v1/balance_transactions?source=${pi.id}&limit=100`));
  assert.equal(bts.data.filter((b) => b.type === 'charge').length, 1);

  /* a different event saying the same thing is a no-op too */
  const other = ok(await send(succeededEvent(pi)));
  assert.equal(other.status, 'ignored');
  assert.equal(other.duplicate, false);
  assert.equal(await usdBalance(), before + 1500);
});

test('20 concurrent deliveries of one event: one effect', async () => {
  const pi = await authorised(2100);
  const before = await usdBalance();
  const body = JSON.stringify(succeededEvent(pi));
  const results = await Promise.all(Array.from({ length: 20 }, () => deliver(body, sign(body))));
  for (const r of results) assert.equal(r.status, 200, r.text);
  assert.equal(results.filter((r) => r.body.duplicate === false).length, 1);
  for (const r of results) assert.equal(r.body.status, 'applied');
  assert.equal(await usdBalance(), before + 2100);
  assert.equal((await eventsFor(payd, 'payment_intent.succeeded', pi.id)).length, 1);
  assert.equal(ok(await getIntent(payd, pi.id)).amount_received, 2100);
});

test('bad, stale, future, missing or malformed signatures: 400 and nothing changes', async () => {
  const pi = await authorised(1200);
  const before = await usdBalance();
  const ev = succeededEvent(pi);
  const body = JSON.stringify(ev);
  const t = now();
  const cases = [
    ['wrong secret', sign(body, 'whsec_not_ours')],
    ['stale', sign(body, SECRET_NEW, t - 301 - 5)],
    ['future', sign(body, SECRET_NEW, t + 301 + 5)],
    ['missing', undefined],
    ['empty', ''],
    ['no t', sign(body).replace(/^t=\d+,/, '')],
    ['no v1', `t=${t}`],
    ['v0 only', sign(body).replace('v1=', 'v0=')],
    ['two t', `${sign(body)},t=${t}`],
    ['upper-case hex', sign(body).replace(/v1=([0-9a-f]+)/, (_, h) => `v1=${h.toUpperCase()}`)],
    ['huge', `${sign(body)}${',x=1'.repeat(2000)}`],
  ];
  for (const [what, sig] of cases) {
    const r = await deliver(body, sig);
    assert.equal(r.status, 400, `${what}: ${r.text}`);
    expectBadSignature(r);
  }
  /* the body is verified as sent: a re-serialised or tampered body fails */
  const tampered = body.replace(`"amount":${pi.amount}`, `"amount":${pi.amount + 1}`);
  assert.notEqual(tampered, body);
  expectBadSignature(await deliver(tampered, sign(body)));
  expectBadSignature(await deliver(JSON.stringify(ev, null, 1), sign(body)));

  const still = ok(await getIntent(payd, pi.id));
  assert.equal(still.status, 'requires_capture');
  assert.equal(await usdBalance(), before);
  assert.equal((await eventsFor(payd, 'payment_intent.succeeded', pi.id)).length, 0);
  /* nothing was recorded under that event id: the genuine delivery applies */
  assert.equal(ok(await deliver(body, sign(body))).status, 'applied');
  assert.equal(await usdBalance(), before + 1200);
});

test('a signature is checked before the body is parsed: a signed non-event is a 400 about the body', async () => {
  for (const raw of ['[1,2,3]', 'not json', '{"id":"evt_1","id":"evt_2"}', '{"id":"evt_x","type":"payment_intent.succeeded"}']) {
    const unsigned = await deliver(raw, undefined);
    expectBadSignature(unsigned);
    const r = await deliver(raw, sign(raw));
    assert.equal(r.status, 400, r.text);
    assert.notEqual(r.body.error.param, 'Stripe-Signature', r.text);
  }
});

test('rotation: either configured secret, and a header with several v1', async () => {
  for (const secret of [SECRET_OLD, SECRET_NEW]) {
    const pi = await authorised(700);
    assert.equal(ok(await send(succeededEvent(pi), secret)).status, 'applied');
    assert.equal(ok(await getIntent(payd, pi.id)).status, 'succeeded');
  }
  /* Stripe rolling its secret: two v1, only the second is ours */
  const pi = await authorised(800);
  const body = JSON.stringify(succeededEvent(pi));
  const t = now();
  const foreign = sign(body, 'whsec_someone_else', t).split(',')[1];
  const ours = sign(body, SECRET_OLD, t).split(',')[1];
  assert.equal(ok(await deliver(body, `t=${t},v0=abc,${foreign},${ours},future=1`)).status, 'applied');
});

test('headers made by the official stripe package verify', async (t) => {
  const stripeDir = path.join(ROOT, 'node_modules', 'stripe');
  if (!fs.existsSync(stripeDir)) {
    t.skip('the stripe package is not installed');
    return;
  }
  const stripe = require(stripeDir)('sk_test_unused');
  const pi = await authorised(900);
  const body = JSON.stringify(succeededEvent(pi));
  const header = stripe.webhooks.generateTestHeaderString({ payload: body, secret: SECRET_NEW });
  /* our own signer agrees with the package's verifier */
  assert.equal(stripe.webhooks.constructEvent(body, sign(body), SECRET_NEW).id, JSON.parse(body).id);
  assert.equal(ok(await deliver(body, header)).status, 'applied');
  assert.equal(ok(await getIntent(payd, pi.id)).status, 'succeeded');
  const stale = stripe.webhooks.generateTestHeaderString({ payload: body, secret: SECRET_NEW, timestamp: now() - 3600 });
  expectBadSignature(await deliver(body, stale));
});

test('payment_intent.payment_failed: back to requires_payment_method, not from a terminal state', async () => {
  const pi = await authorised(1000);
  const ev = event('payment_intent.payment_failed', stripePi(pi, {
    status: 'requires_payment_method',
    last_payment_error: { type: 'card_error', code: 'card_declined', decline_code: 'insufficient_funds', message: 'Your card has insufficient funds.', charge: 'ch_x', payment_method: { id: 'pm_x', card: { last4: '9995' } } },
  }));
  assert.equal(ok(await send(ev)).status, 'applied');
  const after = ok(await getIntent(payd, pi.id));
  assert.equal(after.status, 'requires_payment_method');
  assert.equal(after.amount_capturable, 0);
  assert.equal(after.last_payment_error.code, 'card_declined');
  assert.equal(after.last_payment_error.decline_code, 'insufficient_funds');
  assert.equal(after.last_payment_error.message, 'Your card has insufficient funds.');
  assert.equal(after.last_payment_error.payment_method, null);
  assert.equal((await eventsFor(payd, 'payment_intent.payment_failed', pi.id)).length, 1);

  const done = await paid(1000);
  const r = ok(await send(event('payment_intent.payment_failed', stripePi(done, { status: 'requires_payment_method' }))));
  assert.equal(r.status, 'ignored');
  assert.equal(ok(await getIntent(payd, done.id)).status, 'succeeded');
});

test('payment_intent.canceled: canceled, and flagged when payd recorded success', async () => {
  const pi = await authorised(1000);
  const r = ok(await send(event('payment_intent.canceled', stripePi(pi, { status: 'canceled', cancellation_reason: 'abandoned', canceled_at: now() }))));
  assert.equal(r.status, 'applied');
  const after = ok(await getIntent(payd, pi.id));
  assert.equal(after.status, 'canceled');
  assert.equal(after.cancellation_reason, 'abandoned');
  assert.equal((await eventsFor(payd, 'payment_intent.canceled', pi.id)).length, 1);
  /* a later capture request finds it canceled */
  expectError(await payd.api('POST', `/v1/payment_intents/${pi.id}/capture`), 400, { code: 'payment_intent_unexpected_state' });

  const done = await paid(1000);
  const before = await usdBalance();
  const m = ok(await send(event('payment_intent.canceled', stripePi(done, { status: 'canceled' }))));
  assert.equal(m.status, 'mismatch');
  assert.equal(ok(await getIntent(payd, done.id)).status, 'succeeded');
  assert.equal(await usdBalance(), before);
});

test('charge.refunded: only the part payd has not recorded is refunded', async () => {
  const pi = await paid(3000);
  const before = await usdBalance();
  /* payd refunds 1000 itself, then hears about it from Stripe */
  ok(await payd.api('POST', '/v1/refunds', { form: { payment_intent: pi.id, amount: 1000 } }));
  const stripePiId = `pi_${rand()}`;
  const ch = charge(pi, { payment_intent: stripePiId, amount_refunded: 1000 });
  const r1 = ok(await send(event('charge.refunded', ch)));
  assert.equal(r1.status, 'ignored');
  assert.equal(ok(await getIntent(payd, pi.id)).amount_refunded, 1000);
  assert.equal(await usdBalance(), before - 1000);

  /* a refund made in Stripe's dashboard: the charge now shows 2500 refunded */
  const r2 = ok(await send(event('charge.refunded', { ...ch, amount_refunded: 2500 })));
  assert.equal(r2.status, 'applied');
  const after = ok(await getIntent(payd, pi.id));
  assert.equal(after.amount_refunded, 2500);
  assert.equal(await usdBalance(), before - 2500);
  const refunds = ok(await payd.api('GET', `/v1/refunds?payment_intent=${pi.id}`)).data;
  assert.deepEqual(refunds.map((x) => x.amount).sort((a, b) => a - b), [1000, 1500]);
  const fromStripe = refunds.find((x) => x.amount === 1500);
  assert.equal(fromStripe.status, 'succeeded');
  assert.equal(fromStripe.charge, ch.id);
  assert.match(fromStripe.balance_transaction, /^txn_/);
  assert.equal((await eventsFor(payd, 'refund.created', fromStripe.id)).length, 1);

  /* the same total again (another event id): nothing more */
  assert.equal(ok(await send(event('charge.refunded', { ...ch, amount_refunded: 2500 }))).status, 'ignored');
  assert.equal(await usdBalance(), before - 2500);
  /* more refunded than received: flagged */
  assert.equal(ok(await send(event('charge.refunded', { ...ch, amount_refunded: 3001 }))).status, 'mismatch');
  assert.equal(ok(await getIntent(payd, pi.id)).amount_refunded, 2500);
});

test('charge.refunded before payd saw the success: 409, nothing stored, applied on retry', async () => {
  const pi = await authorised(1000);
  const ev = event('charge.refunded', charge(pi, { amount_refunded: 400 }));
  const r = await send(ev);
  expectError(r, 409, { code: 'resource_conflict' });
  ok(await payd.api('POST', `/v1/payment_intents/${pi.id}/capture`));
  const again = ok(await send(ev));
  assert.equal(again.duplicate, false);
  assert.equal(again.status, 'applied');
  assert.equal(ok(await getIntent(payd, pi.id)).amount_refunded, 400);
  /* a refund of an intent payd canceled can never apply: flagged, not retried */
  const gone = await authorised(1000);
  ok(await payd.api('POST', `/v1/payment_intents/${gone.id}/cancel`));
  assert.equal(ok(await send(event('charge.refunded', charge(gone, { amount_refunded: 1000 })))).status, 'mismatch');
});

test('charge.dispute.created: intent marked disputed, payd.dispute_created, no money moves', async () => {
  const pi = await paid(2000);
  const before = await usdBalance();
  const dispute = {
    id: `dp_${rand()}`, object: 'dispute', amount: 2000, currency: 'usd', charge: `ch_${rand()}`,
    payment_intent: `pi_${rand()}`, reason: 'fraudulent', status: 'needs_response', created: now(),
    metadata: { payd_intent: pi.id },
  };
  const ev = event('charge.dispute.created', dispute);
  assert.equal(ok(await send(ev)).status, 'applied');
  assert.equal(ok(await getIntent(payd, pi.id)).disputed, true);
  assert.equal(await usdBalance(), before);
  const evs = (await allEvents('payd.dispute_created')).filter((e) => e.data.object.payment_intent === pi.id);
  assert.equal(evs.length, 1);
  assert.equal(evs[0].data.object.id, dispute.id);
  assert.equal(evs[0].data.object.amount, 2000);
  assert.equal(evs[0].data.object.reason, 'fraudulent');
  assert.equal(ok(await send(ev)).duplicate, true);
  assert.equal((await allEvents('payd.dispute_created')).filter((e) => e.data.object.payment_intent === pi.id).length, 1);
});

test('amount or currency unlike payd\'s record: stored as mismatch, flagged, never applied', async () => {
  for (const over of [{ amount: 999, amount_received: 999 }, { currency: 'eur' }]) {
    const pi = await authorised(1000);
    const before = await usdBalance();
    const ev = succeededEvent(pi, over);
    const r = ok(await send(ev));
    assert.equal(r.status, 'mismatch');
    assert.equal(r.payment_intent, pi.id);
    assert.ok(r.note, r.text);
    const still = ok(await getIntent(payd, pi.id));
    assert.equal(still.status, 'requires_capture');
    assert.equal(still.amount_received, 0);
    assert.equal(await usdBalance(), before);
    const flags = (await allEvents('payd.provider_mismatch')).filter((e) => e.data.object.event_id === ev.id);
    assert.equal(flags.length, 1);
    assert.equal(flags[0].data.object.payment_intent, pi.id);
    assert.equal(flags[0].data.object.provider, 'stripe');
    /* a replay stays flagged and is not flagged twice */
    const again = ok(await send(ev));
    assert.deepEqual([again.status, again.duplicate], ['mismatch', true]);
    assert.equal((await allEvents('payd.provider_mismatch')).filter((e) => e.data.object.event_id === ev.id).length, 1);
  }
  /* amount_received above the amount */
  const pi = await authorised(1000);
  assert.equal(ok(await send(succeededEvent(pi, { amount_received: 1001 }))).status, 'mismatch');
  assert.equal(ok(await getIntent(payd, pi.id)).status, 'requires_capture');
});

test('a patient sees its intent\'s events but not the operator events payd.*', async () => {
  const cus = await newCustomer(payd);
  const pi = await intent(payd, { amount: 1000, customer: cus.id, payment_method: 'pm_card_visa', confirm: true });
  const token = await payd.mintToken({ role: 'patient', customer: cus.id, sub: 'patient_wh' });
  const ev = succeededEvent(pi, { amount: 5 });
  assert.equal(ok(await send(ev)).status, 'mismatch');
  const dispute = event('charge.dispute.created', {
    id: `dp_${rand()}`, object: 'dispute', amount: 1000, currency: 'usd', payment_intent: `pi_${rand()}`,
    reason: 'general', status: 'needs_response', metadata: { payd_intent: pi.id },
  });
  assert.equal(ok(await send(dispute)).status, 'applied');
  const mine = await listAll(payd, '/v1/events', { token });
  assert.ok(mine.some((e) => e.type === 'payment_intent.succeeded' && e.data.object.id === pi.id));
  assert.equal(mine.filter((e) => e.type.startsWith('payd.')).length, 0);
  const all = await listAll(payd, '/v1/events?types[]=payd.provider_mismatch&types[]=payd.dispute_created');
  assert.ok(all.some((e) => e.data.object.event_id === ev.id));
  assert.ok(all.some((e) => e.data.object.id === dispute.data.object.id));
});

test('an event for no payd intent is stored as unmatched; other types are ignored', async () => {
  const ev = event('payment_intent.succeeded', {
    id: `pi_${rand()}`, object: 'payment_intent', amount: 100, currency: 'usd', amount_received: 100,
    metadata: { payd_intent: 'pi_000000000000000000000000' },
  });
  const r = ok(await send(ev));
  assert.deepEqual([r.status, r.payment_intent, r.duplicate], ['unmatched', null, false]);
  const again = ok(await send(ev));
  assert.deepEqual([again.status, again.duplicate], ['unmatched', true]);
  const other = ok(await send(event('customer.created', { id: `cus_${rand()}`, object: 'customer' })));
  assert.equal(other.status, 'ignored');
});

test('a webhook before, racing and after payd\'s own capture: one capture in the ledger', async (t) => {
  const before = await usdBalance();
  const outcomes = { captureWon: 0, webhookWon: 0 };
  let total = 0;
  const modes = ['webhook-first', 'capture-first'];
  for (let i = 0; i < 10; i++) modes.push('concurrent');
  for (const [i, mode] of modes.entries()) {
    const pi = await authorised(1000 + i);
    total += pi.amount;
    const body = JSON.stringify(succeededEvent(pi));
    const capture = () => payd.api('POST', `/v1/payment_intents/${pi.id}/capture`);
    const hook = () => deliver(body, sign(body));
    let cap;
    let wh;
    if (mode === 'webhook-first') {
      wh = await hook();
      cap = await capture();
    } else if (mode === 'capture-first') {
      cap = await capture();
      wh = await hook();
    } else {
      [cap, wh] = await Promise.all([capture(), hook()]);
    }
    assert.equal(wh.status, 200, wh.text);
    if (cap.status === 200) {
      assert.equal(wh.body.status, 'ignored', `${mode}: ${wh.text}`);
      assert.equal(cap.body.status, 'succeeded');
      outcomes.captureWon++;
    } else {
      expectError(cap, 400, { code: 'payment_intent_unexpected_state' });
      assert.equal(wh.body.status, 'applied', `${mode}: ${wh.text}`);
      outcomes.webhookWon++;
    }
    if (mode === 'webhook-first') assert.equal(wh.body.status, 'applied');
    if (mode === 'capture-first') assert.equal(cap.status, 200, cap.text);
    const after = ok(await getIntent(payd, pi.id));
    assert.equal(after.status, 'succeeded');
    assert.equal(after.amount_received, 1000 + i);
    assert.equal((await eventsFor(payd, 'payment_intent.succeeded', pi.id)).length, 1);
    const bts = ok(await payd.api('GET', `/v1/balance_transactions?source=${pi.id}&limit=100`));
    assert.equal(bts.data.filter((b) => b.type === 'charge').length, 1);
  }
  assert.equal(await usdBalance(), before + total);
  t.diagnostic(`capture first ${outcomes.captureWon}, webhook first ${outcomes.webhookWon}`);
  const audit = await auditVerify(payd);
  assert.equal(audit.code, 0, `${audit.stdout}\n${audit.stderr}`);
});

test('payd audit verify passes over everything the webhooks did', async () => {
  const r = await auditVerify(payd);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.doesNotMatch(r.stdout, /FAIL/);
});

test('without a configured secret every delivery is refused', async () => {
  const bare = await startPayd({ adminKey: false });
  try {
    const body = JSON.stringify(event('payment_intent.succeeded', { id: 'pi_x', object: 'payment_intent' }));
    const r = await fetch(`${bare.url}/v1/webhooks/stripe`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': sign(body) }, body,
    });
    const j = await r.json();
    assert.equal(r.status, 400);
    assert.equal(j.error.param, 'Stripe-Signature');
    assert.match(j.error.message, /no webhook secret/);
  } finally {
    await bare.stop();
  }
});

test('--stripe-webhook-tolerance widens the window', async () => {
  const wide = await startPayd({ adminKey: false, env: { PAYD_STRIPE_WEBHOOK_SECRET: SECRET_NEW, PAYD_STRIPE_WEBHOOK_TOLERANCE: '3600' } });
  try {
    const body = JSON.stringify(event('customer.created', { id: 'cus_x', object: 'customer' }));
    const post = (sig) => fetch(`${wide.url}/v1/webhooks/stripe`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': sig }, body,
    });
    assert.equal((await post(sign(body, SECRET_NEW, now() - 1800))).status, 200);
    assert.equal((await post(sign(body, SECRET_NEW, now() - 4000))).status, 400);
  } finally {
    await wide.stop();
  }
});
