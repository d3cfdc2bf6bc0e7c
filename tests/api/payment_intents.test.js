'use strict';
/*
 * payment_intents.test.js - /v1/payment_intents over HTTP: Stripe's object,
 * every transition of PROTOCOLS.md's status machine, every sandbox test
 * card, 3-D Secure through the sandbox page (complete, fail, return_url),
 * manual and partial capture, cancel, update rules, bad input, lists and
 * idempotency, and finally `payd audit verify` over what the suite left.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const { startPayd } = require('./lib/payd');
const {
  expectError, ok, newCustomer, cardPm, createIntent, intent, getIntent, eventsFor, walk3ds,
  auditVerify, listAll,
} = require('./lib/intents');

let payd;

test.before(async () => {
  payd = await startPayd();
});

test.after(async () => {
  if (payd) await payd.stop();
});

test('create without a payment method: requires_payment_method, Stripe shape', async () => {
  const r = await createIntent(payd, { amount: 2599, currency: 'USD', description: 'Consultation', metadata: { visit: 'v1' }, facility: 'fac_main' });
  const pi = ok(r);
  assert.match(pi.id, /^pi_[0-9A-Za-z]{24}$/);
  assert.equal(pi.object, 'payment_intent');
  assert.equal(pi.amount, 2599);
  assert.equal(pi.currency, 'usd');
  assert.equal(pi.status, 'requires_payment_method');
  assert.equal(pi.amount_capturable, 0);
  assert.equal(pi.amount_received, 0);
  assert.equal(pi.amount_refunded, 0);
  assert.deepEqual(pi.amount_details, { tip: {} });
  assert.equal(pi.capture_method, 'automatic');
  assert.equal(pi.confirmation_method, 'automatic');
  assert.match(pi.client_secret, new RegExp(`^${pi.id}_secret_[0-9A-Za-z]{24}$`));
  assert.equal(pi.livemode, false);
  assert.equal(pi.latest_charge, null);
  assert.equal(pi.application, null);
  assert.equal(pi.next_action, null);
  assert.equal(pi.last_payment_error, null);
  assert.equal(pi.payment_method, null);
  assert.deepEqual(pi.payment_method_types, ['card']);
  assert.deepEqual(pi.payment_method_options, {});
  assert.deepEqual(pi.metadata, { visit: 'v1' });
  assert.equal(pi.description, 'Consultation');
  assert.equal(pi.facility, 'fac_main');
  assert.ok(Math.abs(pi.created - Date.now() / 1000) < 120);
  assert.deepEqual(ok(await getIntent(payd, pi.id)), pi);
  assert.equal((await eventsFor(payd, 'payment_intent.created', pi.id)).length, 1);
});

test('requires_payment_method -> requires_confirmation -> succeeded, with ledger and events', async () => {
  const balanceBefore = ok(await payd.api('GET', '/v1/balance'));
  const usdBefore = (balanceBefore.available.find((b) => b.currency === 'usd') || { amount: 0 }).amount;

  const pi = await intent(payd, { amount: 5000 });
  const upd = ok(await payd.api('POST', `/v1/payment_intents/${pi.id}`, { form: { payment_method: 'pm_card_visa' } }));
  assert.equal(upd.status, 'requires_confirmation');
  assert.match(upd.payment_method, /^pm_/);

  const done = ok(await payd.api('POST', `/v1/payment_intents/${pi.id}/confirm`, { form: {} }));
  assert.equal(done.status, 'succeeded');
  assert.equal(done.amount_received, 5000);
  assert.equal(done.amount_capturable, 0);
  assert.equal(done.last_payment_error, null);
  assert.equal(done.payment_method, upd.payment_method);

  const succeeded = await eventsFor(payd, 'payment_intent.succeeded', pi.id);
  assert.equal(succeeded.length, 1);
  assert.equal(succeeded[0].data.object.status, 'succeeded');

  const bts = ok(await payd.api('GET', `/v1/balance_transactions?source=${pi.id}`));
  assert.equal(bts.data.length, 1);
  assert.equal(bts.data[0].type, 'charge');
  assert.equal(bts.data[0].amount, 5000);
  assert.equal(bts.data[0].currency, 'usd');

  const balance = ok(await payd.api('GET', '/v1/balance'));
  assert.equal(balance.available.find((b) => b.currency === 'usd').amount, usdBefore + 5000);
});

test('create with confirm=true, as a JSON body too', async () => {
  const a = ok(await createIntent(payd, { payment_method: 'pm_card_mastercard', confirm: true }));
  assert.equal(a.status, 'succeeded');
  const r = await payd.api('POST', '/v1/payment_intents', {
    body: { amount: 750, currency: 'eur', payment_method: 'pm_card_visa', confirm: true, metadata: { k: 'v' } },
  });
  const b = ok(r);
  assert.equal(b.status, 'succeeded');
  assert.equal(b.amount_received, 750);
  assert.equal(b.currency, 'eur');
});

test('confirm with a payment method given at confirmation', async () => {
  const pi = await intent(payd, {});
  const done = ok(await payd.api('POST', `/v1/payment_intents/${pi.id}/confirm`, { form: { payment_method: 'pm_card_amex' } }));
  assert.equal(done.status, 'succeeded');
  const pm = ok(await payd.api('GET', `/v1/payment_methods/${done.payment_method}`));
  assert.equal(pm.card.brand, 'amex');
});

test('confirm without any payment method is 400 payment_intent_unexpected_state', async () => {
  const pi = await intent(payd, {});
  expectError(await payd.api('POST', `/v1/payment_intents/${pi.id}/confirm`, { form: {} }), 400,
    { code: 'payment_intent_unexpected_state', param: 'payment_method' });
  expectError(await createIntent(payd, { confirm: true }), 400, { code: 'payment_intent_unexpected_state' });
  assert.equal(ok(await getIntent(payd, pi.id)).status, 'requires_payment_method');
});

const successCards = ['pm_card_visa', 'pm_card_visa_debit', 'pm_card_mastercard', 'pm_card_amex',
  'pm_card_discover', 'pm_card_createDispute', 'tok_visa', 'tok_mastercard'];
for (const card of successCards) {
  test(`test card ${card} succeeds`, async () => {
    const pi = ok(await createIntent(payd, { amount: 1234, payment_method: card, confirm: true }));
    assert.equal(pi.status, 'succeeded');
    assert.equal(pi.amount_received, 1234);
  });
}

const declines = [
  ['pm_card_chargeDeclined', 'card_declined', 'generic_decline'],
  ['pm_card_chargeDeclinedInsufficientFunds', 'card_declined', 'insufficient_funds'],
  ['pm_card_chargeDeclinedLostCard', 'card_declined', 'lost_card'],
  ['pm_card_chargeDeclinedStolenCard', 'card_declined', 'stolen_card'],
  ['pm_card_chargeDeclinedExpiredCard', 'expired_card', 'expired_card'],
  ['pm_card_chargeDeclinedIncorrectCvc', 'incorrect_cvc', 'incorrect_cvc'],
  ['pm_card_chargeDeclinedProcessingError', 'processing_error', 'processing_error'],
  ['pm_card_chargeDeclinedFraudulent', 'card_declined', 'fraudulent'],
  ['pm_card_chargeCustomerFail', 'card_declined', 'generic_decline'],
];
for (const [card, code, declineCode] of declines) {
  test(`test card ${card} declines: 402 ${code}/${declineCode}, back to requires_payment_method`, async () => {
    const pi = await intent(payd, { amount: 3100 });
    const r = await payd.api('POST', `/v1/payment_intents/${pi.id}/confirm`, { form: { payment_method: card } });
    const err = expectError(r, 402, { type: 'card_error', code, decline_code: declineCode, param: 'payment_method' });
    assert.ok(err.message.length > 0);
    assert.equal(err.payment_intent.id, pi.id);
    assert.equal(err.payment_intent.status, 'requires_payment_method');
    assert.match(err.payment_method.id, /^pm_/);

    const after = ok(await getIntent(payd, pi.id));
    assert.equal(after.status, 'requires_payment_method');
    assert.equal(after.payment_method, null);
    assert.equal(after.amount_received, 0);
    assert.equal(after.last_payment_error.type, 'card_error');
    assert.equal(after.last_payment_error.code, code);
    assert.equal(after.last_payment_error.decline_code, declineCode);
    assert.equal(after.last_payment_error.payment_method.id, err.payment_method.id);
    assert.deepEqual(after, err.payment_intent);
    assert.equal((await eventsFor(payd, 'payment_intent.payment_failed', pi.id)).length, 1);
    assert.equal(ok(await payd.api('GET', `/v1/balance_transactions?source=${pi.id}`)).data.length, 0);

    /* A new card after a decline: the intent can still succeed. */
    const retry = ok(await payd.api('POST', `/v1/payment_intents/${pi.id}/confirm`, { form: { payment_method: 'pm_card_visa' } }));
    assert.equal(retry.status, 'succeeded');
    assert.equal(retry.last_payment_error, null);
    assert.equal(retry.amount_received, 3100);
  });
}

test('a decline on create with confirm=true keeps the intent, and replays with its key', async () => {
  const key = `decline-${Date.now()}`;
  const r = await createIntent(payd, { payment_method: 'pm_card_chargeDeclined', confirm: true }, { idempotencyKey: key });
  const err = expectError(r, 402, { code: 'card_declined', decline_code: 'generic_decline' });
  const stored = ok(await getIntent(payd, err.payment_intent.id));
  assert.equal(stored.status, 'requires_payment_method');
  assert.equal(stored.last_payment_error.decline_code, 'generic_decline');
  const again = await createIntent(payd, { payment_method: 'pm_card_chargeDeclined', confirm: true }, { idempotencyKey: key });
  assert.equal(again.status, 402);
  assert.equal(again.headers.get('idempotent-replayed'), 'true');
  assert.equal(again.text, r.text);
});

test('3-D Secure: requires_action, complete on the sandbox page, redirect to return_url', async () => {
  const pi = await intent(payd, { amount: 4200, payment_method: 'pm_card_threeDSecure2Required' });
  const returnUrl = 'https://shop.example/return?order=7';
  const ra = ok(await payd.api('POST', `/v1/payment_intents/${pi.id}/confirm`, { form: { return_url: returnUrl } }));
  assert.equal(ra.status, 'requires_action');
  assert.equal(ra.next_action.type, 'redirect_to_url');
  assert.equal(ra.next_action.redirect_to_url.return_url, returnUrl);
  const url = new URL(ra.next_action.redirect_to_url.url);
  assert.equal(url.pathname, `/sandbox/3ds/${pi.id}`);
  assert.equal(url.searchParams.get('client_secret'), pi.client_secret);
  assert.equal((await eventsFor(payd, 'payment_intent.requires_action', pi.id)).length, 1);

  const { html, res } = await walk3ds(payd, ra, 'complete');
  assert.match(html, /42\.00 USD/);
  assert.match(html, /Complete authentication/);
  assert.match(html, /Fail authentication/);
  assert.equal(res.status, 303);
  const loc = new URL(res.headers.get('location'));
  assert.equal(loc.origin + loc.pathname, 'https://shop.example/return');
  assert.equal(loc.searchParams.get('order'), '7');
  assert.equal(loc.searchParams.get('payment_intent'), pi.id);
  assert.equal(loc.searchParams.get('payment_intent_client_secret'), pi.client_secret);
  assert.equal(loc.searchParams.get('redirect_status'), 'succeeded');

  const after = ok(await getIntent(payd, pi.id));
  assert.equal(after.status, 'succeeded');
  assert.equal(after.amount_received, 4200);
  assert.equal(after.next_action, null);
});

test('3-D Secure: failing the challenge returns the intent to requires_payment_method', async () => {
  const ra = ok(await createIntent(payd, {
    payment_method: 'pm_card_authenticationRequired', confirm: true, return_url: 'http://localhost:9/back',
  }));
  assert.equal(ra.status, 'requires_action');
  const { res } = await walk3ds(payd, ra, 'fail');
  assert.equal(res.status, 303);
  const loc = new URL(res.headers.get('location'));
  assert.equal(loc.searchParams.get('redirect_status'), 'failed');
  const after = ok(await getIntent(payd, ra.id));
  assert.equal(after.status, 'requires_payment_method');
  assert.equal(after.last_payment_error.code, 'payment_intent_authentication_failure');
  assert.equal(after.next_action, null);
  assert.equal(after.payment_method, null);
  assert.equal((await eventsFor(payd, 'payment_intent.payment_failed', ra.id)).length, 1);
});

test('3-D Secure without return_url shows a result page; manual capture ends requires_capture', async () => {
  const ra = ok(await createIntent(payd, { payment_method: 'pm_card_threeDSecureRequired', capture_method: 'manual', confirm: true }));
  assert.equal(ra.status, 'requires_action');
  assert.equal(ra.next_action.redirect_to_url.return_url, null);
  const { res, text } = await walk3ds(payd, ra, 'complete');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /text\/html/);
  assert.match(text, /data-status="succeeded"/);
  assert.match(text, /requires_capture/);
  const after = ok(await getIntent(payd, ra.id));
  assert.equal(after.status, 'requires_capture');
  assert.equal(after.amount_capturable, 1000);
});

for (const [number, declineCode] of [['4000008260003178', 'insufficient_funds'], ['4000008400001629', 'generic_decline']]) {
  test(`3-D Secure then decline (${number}): back to requires_payment_method with ${declineCode}`, async () => {
    const pm = await cardPm(payd, number);
    const ra = ok(await createIntent(payd, { payment_method: pm.id, confirm: true, return_url: 'https://example.com/r' }));
    assert.equal(ra.status, 'requires_action');
    const { res } = await walk3ds(payd, ra, 'complete');
    assert.equal(res.status, 303);
    assert.equal(new URL(res.headers.get('location')).searchParams.get('redirect_status'), 'failed');
    const after = ok(await getIntent(payd, ra.id));
    assert.equal(after.status, 'requires_payment_method');
    assert.equal(after.last_payment_error.decline_code, declineCode);
    assert.equal(after.amount_received, 0);
  });
}

test('3-D Secure page: wrong secret is 404, a finished challenge cannot be replayed', async () => {
  const ra = ok(await createIntent(payd, { payment_method: 'pm_card_threeDSecure2Required', confirm: true }));
  const wrong = await fetch(`${payd.url}/sandbox/3ds/${ra.id}?client_secret=${ra.id}_secret_AAAAAAAAAAAAAAAAAAAAAAAA`);
  assert.equal(wrong.status, 404);
  const post = await fetch(`${payd.url}/sandbox/3ds/${ra.id}/complete`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'client_secret=nope',
  });
  assert.equal(post.status, 404);
  const other = await fetch(`${payd.url}/sandbox/3ds/pi_000000000000000000000000?client_secret=${encodeURIComponent(ra.client_secret)}`);
  assert.equal(other.status, 404);
  assert.equal(ok(await getIntent(payd, ra.id)).status, 'requires_action');

  await walk3ds(payd, ra, 'complete');
  const again = await fetch(`${payd.url}/sandbox/3ds/${ra.id}/complete`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `client_secret=${encodeURIComponent(ra.client_secret)}`,
  });
  assert.equal(again.status, 400);
  assert.equal((await again.json()).error.code, 'payment_intent_unexpected_state');
  const shown = await fetch(`${payd.url}/sandbox/3ds/${ra.id}?client_secret=${encodeURIComponent(ra.client_secret)}`);
  const html = await shown.text();
  assert.equal(shown.status, 200);
  assert.doesNotMatch(html, /<form/);
  assert.match(html, /succeeded/);
});

test('3-D Secure page escapes what it shows', async () => {
  const ra = ok(await createIntent(payd, {
    payment_method: 'pm_card_threeDSecure2Required', confirm: true, description: '<script>alert(1)</script>',
  }));
  const res = await fetch(`${payd.url}/sandbox/3ds/${ra.id}?client_secret=${encodeURIComponent(ra.client_secret)}`);
  const html = await res.text();
  assert.doesNotMatch(html, /<script>/);
  assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
});

test('off_session with a card that needs authentication fails with authentication_required', async () => {
  const customer = await newCustomer(payd);
  const r = await createIntent(payd, { customer: customer.id, payment_method: 'pm_card_authenticationRequired', confirm: true, off_session: true });
  expectError(r, 402, { code: 'authentication_required', decline_code: 'authentication_required' });
  /* ...while the card Stripe sets up for off-session use succeeds off session. */
  const ok2 = ok(await createIntent(payd, { customer: customer.id, payment_method: 'pm_card_authenticationRequiredOnSetup', confirm: true, off_session: true }));
  assert.equal(ok2.status, 'succeeded');
});

test('return_url: only with confirm, only http(s)', async () => {
  expectError(await createIntent(payd, { return_url: 'https://example.com' }), 400, { param: 'return_url' });
  const pi = await intent(payd, { payment_method: 'pm_card_visa' });
  expectError(await payd.api('POST', `/v1/payment_intents/${pi.id}/confirm`, { form: { return_url: 'javascript:alert(1)' } }),
    400, { param: 'return_url' });
  assert.equal(ok(await getIntent(payd, pi.id)).status, 'requires_confirmation');
});

test('manual capture: requires_capture, then full capture', async () => {
  const pi = ok(await createIntent(payd, { amount: 8000, capture_method: 'manual', payment_method: 'pm_card_visa', confirm: true }));
  assert.equal(pi.status, 'requires_capture');
  assert.equal(pi.amount_capturable, 8000);
  assert.equal(pi.amount_received, 0);
  assert.equal((await eventsFor(payd, 'payment_intent.amount_capturable_updated', pi.id)).length, 1);
  assert.equal(ok(await payd.api('GET', `/v1/balance_transactions?source=${pi.id}`)).data.length, 0);

  const cap = ok(await payd.api('POST', `/v1/payment_intents/${pi.id}/capture`, { form: {} }));
  assert.equal(cap.status, 'succeeded');
  assert.equal(cap.amount_received, 8000);
  assert.equal(cap.amount_capturable, 0);
  assert.equal(ok(await payd.api('GET', `/v1/balance_transactions?source=${pi.id}`)).data[0].amount, 8000);
  expectError(await payd.api('POST', `/v1/payment_intents/${pi.id}/capture`, { form: {} }), 400,
    { code: 'payment_intent_unexpected_state', message: /succeeded/ });
});

test('partial capture releases the rest; capturing more than authorized is 400', async () => {
  const pi = ok(await createIntent(payd, { amount: 10000, capture_method: 'manual', payment_method: 'pm_card_visa', confirm: true }));
  expectError(await payd.api('POST', `/v1/payment_intents/${pi.id}/capture`, { form: { amount_to_capture: 10001 } }),
    400, { param: 'amount_to_capture' });
  expectError(await payd.api('POST', `/v1/payment_intents/${pi.id}/capture`, { form: { amount_to_capture: 0 } }),
    400, { param: 'amount_to_capture' });
  expectError(await payd.api('POST', `/v1/payment_intents/${pi.id}/capture`, { form: { amount_to_capture: '12.5' } }),
    400, { param: 'amount_to_capture' });
  assert.equal(ok(await getIntent(payd, pi.id)).status, 'requires_capture');

  const cap = ok(await payd.api('POST', `/v1/payment_intents/${pi.id}/capture`, { form: { amount_to_capture: 6000, metadata: { captured_by: 'desk' } } }));
  assert.equal(cap.status, 'succeeded');
  assert.equal(cap.amount, 10000);
  assert.equal(cap.amount_received, 6000);
  assert.equal(cap.amount_capturable, 0);
  assert.equal(cap.metadata.captured_by, 'desk');
  const bt = ok(await payd.api('GET', `/v1/balance_transactions?source=${pi.id}`)).data;
  assert.equal(bt.length, 1);
  assert.equal(bt[0].amount, 6000);
});

test('capture in the wrong state is 400 naming the state', async () => {
  const pi = await intent(payd, { payment_method: 'pm_card_visa' });
  expectError(await payd.api('POST', `/v1/payment_intents/${pi.id}/capture`, { form: {} }), 400,
    { code: 'payment_intent_unexpected_state', message: /requires_confirmation/ });
  const auto = ok(await createIntent(payd, { payment_method: 'pm_card_visa', confirm: true }));
  expectError(await payd.api('POST', `/v1/payment_intents/${auto.id}/capture`, { form: {} }), 400,
    { code: 'payment_intent_unexpected_state', message: /succeeded/ });
});

async function inState(state) {
  switch (state) {
    case 'requires_payment_method': return intent(payd, {});
    case 'requires_confirmation': return intent(payd, { payment_method: 'pm_card_visa' });
    case 'requires_action': return intent(payd, { payment_method: 'pm_card_threeDSecure2Required', confirm: true });
    case 'requires_capture': return intent(payd, { payment_method: 'pm_card_visa', capture_method: 'manual', confirm: true });
    case 'succeeded': return intent(payd, { payment_method: 'pm_card_visa', confirm: true });
    case 'canceled': {
      const pi = await intent(payd, {});
      return ok(await payd.api('POST', `/v1/payment_intents/${pi.id}/cancel`, { form: {} }));
    }
    default: throw new Error(state);
  }
}

for (const state of ['requires_payment_method', 'requires_confirmation', 'requires_action', 'requires_capture']) {
  test(`cancel from ${state}`, async () => {
    const pi = await inState(state);
    assert.equal(pi.status, state);
    const c = ok(await payd.api('POST', `/v1/payment_intents/${pi.id}/cancel`, { form: { cancellation_reason: 'requested_by_customer' } }));
    assert.equal(c.status, 'canceled');
    assert.equal(c.cancellation_reason, 'requested_by_customer');
    assert.ok(Math.abs(c.canceled_at - Date.now() / 1000) < 120);
    assert.equal(c.amount_capturable, 0);
    assert.equal(c.amount_received, 0);
    assert.equal(c.next_action, null);
    assert.equal((await eventsFor(payd, 'payment_intent.canceled', pi.id)).length, 1);
    /* canceled is terminal */
    expectError(await payd.api('POST', `/v1/payment_intents/${pi.id}/confirm`, { form: { payment_method: 'pm_card_visa' } }),
      400, { code: 'payment_intent_unexpected_state', message: /canceled/ });
  });
}

for (const state of ['succeeded', 'canceled']) {
  test(`cancel from terminal ${state} is 400`, async () => {
    const pi = await inState(state);
    expectError(await payd.api('POST', `/v1/payment_intents/${pi.id}/cancel`, { form: {} }), 400,
      { code: 'payment_intent_unexpected_state', message: new RegExp(state) });
    assert.equal(ok(await getIntent(payd, pi.id)).status, state);
  });
}

test('confirm of a succeeded intent is 400', async () => {
  const pi = await inState('succeeded');
  expectError(await payd.api('POST', `/v1/payment_intents/${pi.id}/confirm`, { form: {} }), 400,
    { code: 'payment_intent_unexpected_state', message: /succeeded/ });
});

test('bad cancellation_reason is 400 naming it', async () => {
  const pi = await intent(payd, {});
  expectError(await payd.api('POST', `/v1/payment_intents/${pi.id}/cancel`, { form: { cancellation_reason: 'bored' } }),
    400, { param: 'cancellation_reason' });
});

test('update: amount, currency, metadata and description before authorization', async () => {
  const pi = await intent(payd, { metadata: { a: '1', b: '2' } });
  const u = ok(await payd.api('POST', `/v1/payment_intents/${pi.id}`, {
    form: { amount: 4321, currency: 'gbp', description: 'Lab work', metadata: { a: '', c: '3' }, receipt_email: 'p@example.com' },
  }));
  assert.equal(u.amount, 4321);
  assert.equal(u.currency, 'gbp');
  assert.equal(u.description, 'Lab work');
  assert.equal(u.receipt_email, 'p@example.com');
  assert.deepEqual(u.metadata, { b: '2', c: '3' });
  assert.equal(u.status, 'requires_payment_method');
  const c = ok(await payd.api('POST', `/v1/payment_intents/${pi.id}/confirm`, { form: { payment_method: 'pm_card_visa' } }));
  assert.equal(c.amount_received, 4321);
  assert.equal(c.currency, 'gbp');
});

test('update: after success only description, metadata and receipt_email change', async () => {
  const pi = await inState('succeeded');
  for (const form of [{ amount: 5 }, { currency: 'eur' }, { payment_method: 'pm_card_visa' }, { capture_method: 'manual' }]) {
    expectError(await payd.api('POST', `/v1/payment_intents/${pi.id}`, { form }), 400,
      { code: 'payment_intent_unexpected_state', message: /succeeded/ });
  }
  const u = ok(await payd.api('POST', `/v1/payment_intents/${pi.id}`, { form: { description: 'after', metadata: { x: 'y' } } }));
  assert.equal(u.description, 'after');
  assert.equal(u.metadata.x, 'y');
  assert.equal(u.amount_received, pi.amount_received);
  const cleared = ok(await payd.api('POST', `/v1/payment_intents/${pi.id}`, { form: 'metadata=' }));
  assert.deepEqual(cleared.metadata, {});
  const cap = await inState('requires_capture');
  expectError(await payd.api('POST', `/v1/payment_intents/${cap.id}`, { form: { amount: 5 } }), 400,
    { code: 'payment_intent_unexpected_state', message: /requires_capture/ });
});

test('update in requires_action with a new amount drops the challenge', async () => {
  const ra = await inState('requires_action');
  const u = ok(await payd.api('POST', `/v1/payment_intents/${ra.id}`, { form: { amount: 999 } }));
  assert.equal(u.status, 'requires_confirmation');
  assert.equal(u.next_action, null);
  const done = ok(await payd.api('POST', `/v1/payment_intents/${ra.id}/confirm`, { form: { payment_method: 'pm_card_visa' } }));
  assert.equal(done.status, 'succeeded');
  assert.equal(done.amount_received, 999);
});

test('read-only and unknown fields are 400 parameter_unknown naming them', async () => {
  for (const field of ['status', 'amount_received', 'amount_capturable', 'amount_refunded', 'client_secret', 'id', 'object', 'livemode', 'created', 'next_action', 'last_payment_error', 'canceled_at', 'bogus']) {
    expectError(await createIntent(payd, { [field]: 'x' }), 400, { code: 'parameter_unknown', param: field });
  }
  const pi = await intent(payd, {});
  for (const field of ['status', 'amount_received', 'client_secret', 'confirm']) {
    expectError(await payd.api('POST', `/v1/payment_intents/${pi.id}`, { form: { [field]: 'x' } }), 400,
      { code: 'parameter_unknown', param: field });
  }
  expectError(await payd.api('POST', `/v1/payment_intents/${pi.id}/confirm`, { form: { amount: 5 } }), 400,
    { code: 'parameter_unknown', param: 'amount' });
  expectError(await payd.api('POST', `/v1/payment_intents/${pi.id}/capture`, { form: { status: 'succeeded' } }), 400,
    { code: 'parameter_unknown', param: 'status' });
  assert.deepEqual(ok(await getIntent(payd, pi.id)), pi);
});

test('bad amounts and currencies are 400 naming the parameter, and write nothing', async () => {
  const before = (await listAll(payd, '/v1/payment_intents')).length;
  for (const amount of [-1, 0, '1.5', 'abc', '', '1e3', 1000000000000, '99999999999999999999']) {
    expectError(await createIntent(payd, { amount }), 400, { param: 'amount' });
  }
  expectError(await payd.api('POST', '/v1/payment_intents', { body: { amount: 10.5, currency: 'usd' } }), 400, { param: 'amount' });
  expectError(await payd.api('POST', '/v1/payment_intents', { form: { currency: 'usd' } }), 400, { param: 'amount' });
  expectError(await payd.api('POST', '/v1/payment_intents', { form: { amount: 100 } }), 400, { param: 'currency' });
  for (const currency of ['xyz', 'us', 'dollars', '']) {
    expectError(await createIntent(payd, { currency }), 400, { param: 'currency' });
  }
  expectError(await createIntent(payd, { capture_method: 'later' }), 400, { param: 'capture_method' });
  expectError(await createIntent(payd, { setup_future_usage: 'always' }), 400, { param: 'setup_future_usage' });
  expectError(await createIntent(payd, { confirm: 'maybe' }), 400, { param: 'confirm' });
  expectError(await createIntent(payd, { payment_method_types: ['sepa_debit'] }), 400, { param: 'payment_method_types' });
  expectError(await createIntent(payd, { receipt_email: 'not-an-email' }), 400, { param: 'receipt_email' });
  expectError(await createIntent(payd, { metadata: 'x' }), 400, { param: 'metadata' });
  expectError(await createIntent(payd, { customer: 'cus_000000000000000000000000' }), 404, { param: 'customer' });
  expectError(await createIntent(payd, { payment_method: 'pm_000000000000000000000000' }), 404, { param: 'payment_method' });
  expectError(await createIntent(payd, { payment_method: 'pm_card_nonsense' }), 404, { param: 'payment_method' });
  assert.equal((await listAll(payd, '/v1/payment_intents')).length, before);

  /* The limit is 12 digits of minor units, in every currency. */
  const big = ok(await createIntent(payd, { amount: 999999999999, currency: 'sdg' }));
  assert.equal(big.amount, 999999999999);
  const jpy = ok(await createIntent(payd, { amount: 500, currency: 'JPY', payment_method: 'pm_card_visa', confirm: true }));
  assert.equal(jpy.currency, 'jpy');
  assert.equal(jpy.amount_received, 500);
});

test('unknown ids are 404 on every intent route', async () => {
  const id = 'pi_000000000000000000000000';
  expectError(await getIntent(payd, id), 404, { code: 'resource_missing' });
  expectError(await getIntent(payd, 'garbage'), 404, { code: 'resource_missing' });
  expectError(await payd.api('POST', `/v1/payment_intents/${id}`, { form: { description: 'x' } }), 404, { code: 'resource_missing' });
  for (const action of ['confirm', 'capture', 'cancel']) {
    expectError(await payd.api('POST', `/v1/payment_intents/${id}/${action}`, { form: {} }), 404, { code: 'resource_missing' });
  }
});

test('setup_future_usage attaches the card to the customer once the payment succeeds', async () => {
  const customer = await newCustomer(payd);
  const pi = ok(await createIntent(payd, { customer: customer.id, payment_method: 'pm_card_visa', setup_future_usage: 'off_session', confirm: true }));
  assert.equal(pi.status, 'succeeded');
  assert.equal(pi.setup_future_usage, 'off_session');
  const pm = ok(await payd.api('GET', `/v1/payment_methods/${pi.payment_method}`));
  assert.equal(pm.customer, customer.id);

  /* ...and a declined one is not attached. */
  const d = await createIntent(payd, { customer: customer.id, payment_method: 'pm_card_chargeDeclined', setup_future_usage: 'off_session', confirm: true });
  const err = expectError(d, 402, { code: 'card_declined' });
  assert.equal(ok(await payd.api('GET', `/v1/payment_methods/${err.payment_method.id}`)).customer, null);

  /* A card saved to this customer pays its intents, not another customer's. */
  const other = await newCustomer(payd);
  expectError(await createIntent(payd, { customer: other.id, payment_method: pi.payment_method }), 400, { param: 'payment_method' });
  expectError(await createIntent(payd, { payment_method: pi.payment_method }), 400, { param: 'payment_method' });
  const again = ok(await createIntent(payd, { customer: customer.id, payment_method: pi.payment_method, confirm: true, off_session: true }));
  assert.equal(again.status, 'succeeded');
});

test('expand[] replaces customer and payment_method with their objects', async () => {
  const customer = await newCustomer(payd, { name: 'Amina' });
  const pi = ok(await createIntent(payd, { customer: customer.id, payment_method: 'pm_card_visa', confirm: true }));
  const r = ok(await payd.api('GET', `/v1/payment_intents/${pi.id}?expand[]=customer&expand[]=payment_method`));
  assert.equal(r.customer.id, customer.id);
  assert.equal(r.customer.object, 'customer');
  assert.equal(r.payment_method.object, 'payment_method');
  assert.equal(r.payment_method.card.last4, '4242');
});

test('list: filters by customer, status and created', async () => {
  const customer = await newCustomer(payd);
  const a = await intent(payd, { customer: customer.id });
  const b = await intent(payd, { customer: customer.id, payment_method: 'pm_card_visa', confirm: true });
  const c = await intent(payd, { customer: customer.id, payment_method: 'pm_card_visa' });
  const l = ok(await payd.api('GET', `/v1/payment_intents?customer=${customer.id}`));
  assert.equal(l.object, 'list');
  assert.equal(l.url, '/v1/payment_intents');
  assert.deepEqual(l.data.map((p) => p.id), [c.id, b.id, a.id]);
  const s = ok(await payd.api('GET', `/v1/payment_intents?customer=${customer.id}&status=succeeded`));
  assert.deepEqual(s.data.map((p) => p.id), [b.id]);
  expectError(await payd.api('GET', '/v1/payment_intents?status=done'), 400, { param: 'status' });
  expectError(await payd.api('GET', '/v1/payment_intents?colour=red'), 400, { param: 'colour' });
  expectError(await payd.api('GET', '/v1/payment_intents?limit=101'), 400, { param: 'limit' });

  const created = a.created;
  const gte = ok(await payd.api('GET', `/v1/payment_intents?customer=${customer.id}&created[gte]=${created}`));
  assert.equal(gte.data.length, 3);
  const gt = ok(await payd.api('GET', `/v1/payment_intents?customer=${customer.id}&created[gt]=${c.created}`));
  assert.equal(gt.data.length, 0);
  const lt = ok(await payd.api('GET', `/v1/payment_intents?customer=${customer.id}&created[lt]=${created}`));
  assert.equal(lt.data.length, 0);
  const lte = ok(await payd.api('GET', `/v1/payment_intents?customer=${customer.id}&created[lte]=${c.created}`));
  assert.equal(lte.data.length, 3);
});

test('pagination over more than 100 intents, both directions', async () => {
  const customer = await newCustomer(payd);
  const ids = [];
  for (let i = 0; i < 105; i += 1) {
    ids.push((await intent(payd, { customer: customer.id, amount: 100 + i })).id);
  }
  const newestFirst = ids.slice().reverse();
  const base = `/v1/payment_intents?customer=${customer.id}`;

  const forward = [];
  let after = null;
  let pages = 0;
  for (;;) {
    const page = ok(await payd.api('GET', `${base}&limit=40${after ? `&starting_after=${after}` : ''}`));
    forward.push(...page.data.map((p) => p.id));
    pages += 1;
    if (!page.has_more) break;
    after = page.data[page.data.length - 1].id;
  }
  assert.equal(pages, 3);
  assert.deepEqual(forward, newestFirst);

  const backward = [];
  let before = ids[0];
  for (;;) {
    const page = ok(await payd.api('GET', `${base}&limit=40&ending_before=${before}`));
    backward.unshift(...page.data.map((p) => p.id));
    if (!page.has_more) break;
    before = page.data[0].id;
  }
  assert.deepEqual(backward, newestFirst.slice(0, 104));

  const full = ok(await payd.api('GET', `${base}&limit=100`));
  assert.equal(full.data.length, 100);
  assert.equal(full.has_more, true);
  expectError(await payd.api('GET', `${base}&starting_after=pi_000000000000000000000000`), 400, { param: 'starting_after' });
});

test('50 concurrent creates with one Idempotency-Key make exactly one intent', async () => {
  const customer = await newCustomer(payd);
  const key = `idem-${Date.now()}-${Math.random()}`;
  const params = { customer: customer.id, amount: 777, payment_method: 'pm_card_visa', confirm: true };
  const answers = await Promise.all(Array.from({ length: 50 }, () => createIntent(payd, params, { idempotencyKey: key })));
  const done = answers.filter((r) => r.status === 200);
  const busy = answers.filter((r) => r.status === 409);
  assert.equal(done.length + busy.length, 50, answers.map((r) => `${r.status} ${r.text}`).join('\n'));
  assert.ok(done.length >= 1);
  for (const r of busy) expectError(r, 409, { type: 'idempotency_error' });
  for (const r of done) assert.equal(r.text, done[0].text);
  const list = ok(await payd.api('GET', `/v1/payment_intents?customer=${customer.id}`));
  assert.equal(list.data.length, 1);
  assert.equal(list.data[0].id, done[0].body.id);
  assert.equal(list.data[0].amount_received, 777);
  assert.equal(ok(await payd.api('GET', `/v1/balance_transactions?source=${list.data[0].id}`)).data.length, 1);

  /* A retry after the storm replays the same answer. */
  const replay = await createIntent(payd, params, { idempotencyKey: key });
  assert.equal(replay.status, 200);
  assert.equal(replay.headers.get('idempotent-replayed'), 'true');
  assert.equal(replay.text, done[0].text);

  /* The same key with other parameters is refused. */
  expectError(await createIntent(payd, { ...params, amount: 778 }, { idempotencyKey: key }), 400, { type: 'idempotency_error' });
  assert.equal(ok(await payd.api('GET', `/v1/payment_intents?customer=${customer.id}`)).data.length, 1);
});

test('payd audit verify passes over everything this suite did', async () => {
  const r = await auditVerify(payd);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /amount_received/);
  assert.doesNotMatch(r.stdout, /FAIL/);
});

test('payd query prints stored objects as text on both databases, and writes nothing', async () => {
  const cus = (await newCustomer(payd)).id;
  const pi = ok(await createIntent(payd, { amount: 4321, currency: 'usd', customer: cus, payment_method: 'pm_card_visa', confirm: 'true', description: 'café "quoted"' }));
  assert.equal(pi.status, 'succeeded');
  const r = await payd.cli(['query', `SELECT id, amount, customer, data, return_url FROM payment_intents WHERE id = '${pi.id}'`]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n').filter(Boolean);
  assert.equal(lines.length, 1);
  const row = JSON.parse(lines[0]);
  assert.deepEqual(Object.keys(row), ['id', 'amount', 'customer', 'data', 'return_url']);
  assert.equal(row.id, pi.id);
  assert.equal(row.amount, '4321', 'every value as its text');
  assert.equal(row.customer, cus);
  assert.equal(row.return_url, null);
  /* The stored object (compressed on SQLite) is the one the API answers with. */
  assert.deepEqual(JSON.parse(row.data), ok(await getIntent(payd, pi.id)));
  const events = await payd.cli(['query', `SELECT type, data FROM events WHERE data IS NOT NULL AND customer = '${cus}' ORDER BY seq`]);
  assert.equal(events.code, 0, events.stderr);
  const types = events.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.ok(types.some((e) => e.type === 'payment_intent.succeeded' && JSON.parse(e.data).data.object.id === pi.id));

  const del = await payd.cli(['query', `DELETE FROM payment_intents WHERE id = '${pi.id}'`]);
  assert.equal(del.code, 1);
  assert.match(del.stderr, /the query failed/);
  assert.equal(ok(await getIntent(payd, pi.id)).id, pi.id, 'nothing was deleted');
  const two = await payd.cli(['query', `SELECT id FROM payment_intents WHERE id = '${pi.id}'; DELETE FROM payment_intents WHERE id = '${pi.id}'`]);
  assert.equal(two.code, 1, 'a second statement is refused, not dropped');
  assert.equal(two.stdout, '');
  assert.equal(ok(await getIntent(payd, pi.id)).id, pi.id);
  const comment = await payd.cli(['query', `SELECT id FROM payment_intents WHERE id = '${pi.id}'; -- the one`]);
  assert.equal(comment.code, 0, comment.stderr);
  assert.equal(JSON.parse(comment.stdout).id, pi.id);
  if (payd.kind === 'sqlite') {
    const missing = await payd.cli(['query', '--db', `sqlite:${payd.dir}/no/such.db`, 'SELECT 1']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no database at/);
    assert.ok(!require('node:fs').existsSync(`${payd.dir}/no`), 'nothing was made');
  }
  const bad = await payd.cli(['query', 'SELECT no_such_column FROM payment_intents']);
  assert.equal(bad.code, 1);
  const none = await payd.cli(['query']);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /give one SQL statement/);
});
