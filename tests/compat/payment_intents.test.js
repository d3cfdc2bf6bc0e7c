'use strict';
/* Payment intents through the official Stripe SDK: confirm that succeeds,
 * declines (StripeCardError), 3-D Secure (requires_action, then the
 * challenge page), manual and partial capture, cancel, expand. */
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Stripe, startCompat, cardParams, rejects, stopPayd } = require('./lib/stripe');

let payd;
let stripe;
before(async () => { ({ payd, stripe } = await startCompat()); });
after(() => stopPayd(payd));

/* Answer payd's sandbox 3-D Secure page as a browser would: GET the page,
 * POST the form of the chosen button. Resolves the POST's response. */
async function answerChallenge(url, outcome) {
  const page = await fetch(url);
  assert.equal(page.status, 200);
  const html = await page.text();
  const forms = [...html.matchAll(/<form method="post" action="([^"]+)">(.*?)<\/form>/gs)];
  const form = forms.find(([, action]) => action.endsWith(`/${outcome}`));
  assert.ok(form, `the page has a "${outcome}" form:\n${html}`);
  const fields = new URLSearchParams();
  for (const [, name, value] of form[2].matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    fields.append(name, value);
  }
  return fetch(new URL(form[1], url), { method: 'POST', body: fields, redirect: 'manual' });
}

test('create + confirm in one call succeeds (card number, then a test name)', async () => {
  const c = await stripe.customers.create({ email: 'payer@example.com' });
  const pm = await stripe.paymentMethods.create(cardParams('4242424242424242'));
  const pi = await stripe.paymentIntents.create({
    amount: 2500, currency: 'usd', customer: c.id, payment_method: pm.id, confirm: true,
    description: 'visit', metadata: { visit: 'v1' },
  });
  assert.match(pi.id, /^pi_/);
  assert.equal(pi.object, 'payment_intent');
  assert.equal(pi.status, 'succeeded');
  assert.equal(pi.amount, 2500);
  assert.equal(pi.amount_received, 2500);
  assert.equal(pi.currency, 'usd');
  assert.equal(pi.customer, c.id);
  assert.equal(pi.payment_method, pm.id);
  assert.equal(pi.capture_method, 'automatic');
  assert.deepEqual(pi.metadata, { visit: 'v1' });
  assert.match(pi.client_secret, new RegExp(`^${pi.id}_secret_`));
  /* payd has no Charge objects: latest_charge is always null. */
  assert.equal(pi.latest_charge, null);

  const byName = await stripe.paymentIntents.create({ amount: 700, currency: 'eur', payment_method: 'pm_card_mastercard', confirm: true });
  assert.equal(byName.status, 'succeeded');
});

test('create, then update, then confirm as separate calls', async () => {
  const pi = await stripe.paymentIntents.create({ amount: 1000, currency: 'usd' });
  assert.equal(pi.status, 'requires_payment_method');
  const up = await stripe.paymentIntents.update(pi.id, { amount: 1200, payment_method: 'pm_card_visa' });
  assert.equal(up.status, 'requires_confirmation');
  assert.equal(up.amount, 1200);
  const done = await stripe.paymentIntents.confirm(pi.id);
  assert.equal(done.status, 'succeeded');
  assert.equal(done.amount_received, 1200);
  const got = await stripe.paymentIntents.retrieve(pi.id);
  assert.equal(got.status, 'succeeded');
});

test('declines are StripeCardError with decline_code, code and the intent', async () => {
  const cases = [
    ['4000000000000002', 'card_declined', 'generic_decline'],
    ['4000000000009995', 'card_declined', 'insufficient_funds'],
    ['4000000000009987', 'card_declined', 'lost_card'],
    ['4000000000000069', 'expired_card', 'expired_card'],
    ['4000000000000127', 'incorrect_cvc', 'incorrect_cvc'],
  ];
  for (const [number, code, declineCode] of cases) {
    const pm = await stripe.paymentMethods.create(cardParams(number));
    const err = await rejects(() => stripe.paymentIntents.create({ amount: 1500, currency: 'usd', payment_method: pm.id, confirm: true }));
    assert.ok(err instanceof Stripe.errors.StripeCardError, `${number}: ${err.constructor.name}`);
    assert.ok(err instanceof Stripe.errors.StripeError);
    assert.equal(err.type, 'StripeCardError');
    assert.equal(err.rawType, 'card_error');
    assert.equal(err.statusCode, 402);
    assert.equal(err.code, code, number);
    assert.equal(err.decline_code, declineCode, number);
    assert.equal(err.param, 'payment_method');
    assert.match(err.requestId, /^req_/);
    /* The intent rides along in the raw error, back in requires_payment_method. */
    const pi = err.raw.payment_intent;
    assert.equal(pi.object, 'payment_intent');
    assert.equal(pi.status, 'requires_payment_method');
    assert.equal(pi.last_payment_error.decline_code, declineCode);
    assert.equal(err.payment_intent.id, pi.id);
    /* Confirm again with a good card: the same intent succeeds. */
    const ok = await stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa' });
    assert.equal(ok.status, 'succeeded');
  }
  const named = await rejects(() => stripe.paymentIntents.create({ amount: 100, currency: 'usd', payment_method: 'pm_card_chargeDeclined', confirm: true }));
  assert.ok(named instanceof Stripe.errors.StripeCardError);
  assert.equal(named.decline_code, 'generic_decline');
});

test('3-D Secure: requires_action, the challenge completed, then succeeded', async () => {
  const pm = await stripe.paymentMethods.create(cardParams('4000002760003184'));
  const pi = await stripe.paymentIntents.create({
    amount: 3000, currency: 'usd', payment_method: pm.id, confirm: true, return_url: 'https://shop.example/paid',
  });
  assert.equal(pi.status, 'requires_action');
  assert.equal(pi.next_action.type, 'redirect_to_url');
  assert.equal(pi.next_action.redirect_to_url.return_url, 'https://shop.example/paid');
  const res = await answerChallenge(pi.next_action.redirect_to_url.url, 'complete');
  assert.equal(res.status, 303);
  const back = new URL(res.headers.get('location'));
  assert.equal(back.origin + back.pathname, 'https://shop.example/paid');
  assert.equal(back.searchParams.get('payment_intent'), pi.id);
  assert.equal(back.searchParams.get('redirect_status'), 'succeeded');
  const after3ds = await stripe.paymentIntents.retrieve(pi.id);
  assert.equal(after3ds.status, 'succeeded');
  assert.equal(after3ds.amount_received, 3000);
  assert.equal(after3ds.next_action, null);
});

test('3-D Secure with a test name and manual capture; a failed challenge', async () => {
  const pi = await stripe.paymentIntents.create({
    amount: 4000, currency: 'usd', payment_method: 'pm_card_threeDSecure2Required', confirm: true,
    capture_method: 'manual', return_url: 'https://shop.example/paid',
  });
  assert.equal(pi.status, 'requires_action');
  await answerChallenge(pi.next_action.redirect_to_url.url, 'complete');
  const auth = await stripe.paymentIntents.retrieve(pi.id);
  assert.equal(auth.status, 'requires_capture');
  assert.equal(auth.amount_capturable, 4000);

  const failing = await stripe.paymentIntents.create({
    amount: 500, currency: 'usd', payment_method: 'pm_card_threeDSecure2Required', confirm: true, return_url: 'https://shop.example/paid',
  });
  const res = await answerChallenge(failing.next_action.redirect_to_url.url, 'fail');
  assert.equal(new URL(res.headers.get('location')).searchParams.get('redirect_status'), 'failed');
  const failed = await stripe.paymentIntents.retrieve(failing.id);
  assert.equal(failed.status, 'requires_payment_method');
  assert.equal(failed.last_payment_error.code, 'payment_intent_authentication_failure');
});

test('manual capture: all, part (the rest released), and too much', async () => {
  const full = await stripe.paymentIntents.create({ amount: 5000, currency: 'usd', payment_method: 'pm_card_visa', capture_method: 'manual', confirm: true });
  assert.equal(full.status, 'requires_capture');
  assert.equal(full.amount_capturable, 5000);
  assert.equal(full.amount_received, 0);
  const cap = await stripe.paymentIntents.capture(full.id);
  assert.equal(cap.status, 'succeeded');
  assert.equal(cap.amount_received, 5000);

  const part = await stripe.paymentIntents.create({ amount: 5000, currency: 'usd', payment_method: 'pm_card_visa', capture_method: 'manual', confirm: true });
  const tooMuch = await rejects(() => stripe.paymentIntents.capture(part.id, { amount_to_capture: 5001 }));
  assert.ok(tooMuch instanceof Stripe.errors.StripeInvalidRequestError, tooMuch.constructor.name);
  assert.equal(tooMuch.param, 'amount_to_capture');
  const partial = await stripe.paymentIntents.capture(part.id, { amount_to_capture: 1800 });
  assert.equal(partial.status, 'succeeded');
  assert.equal(partial.amount_received, 1800);
  assert.equal(partial.amount_capturable, 0);

  const again = await rejects(() => stripe.paymentIntents.capture(part.id));
  assert.ok(again instanceof Stripe.errors.StripeInvalidRequestError);
  assert.equal(again.code, 'payment_intent_unexpected_state');
});

test('cancel: before confirmation and after an authorization; not after success', async () => {
  const open = await stripe.paymentIntents.create({ amount: 900, currency: 'usd' });
  const c1 = await stripe.paymentIntents.cancel(open.id, { cancellation_reason: 'requested_by_customer' });
  assert.equal(c1.status, 'canceled');
  assert.equal(c1.cancellation_reason, 'requested_by_customer');
  assert.equal(typeof c1.canceled_at, 'number');

  const auth = await stripe.paymentIntents.create({ amount: 900, currency: 'usd', payment_method: 'pm_card_visa', capture_method: 'manual', confirm: true });
  const c2 = await stripe.paymentIntents.cancel(auth.id);
  assert.equal(c2.status, 'canceled');
  assert.equal(c2.amount_received, 0);

  const paid = await stripe.paymentIntents.create({ amount: 900, currency: 'usd', payment_method: 'pm_card_visa', confirm: true });
  const err = await rejects(() => stripe.paymentIntents.cancel(paid.id));
  assert.ok(err instanceof Stripe.errors.StripeInvalidRequestError, err.constructor.name);
  assert.equal(err.code, 'payment_intent_unexpected_state');
});

test('expand: customer and payment_method on create, retrieve and confirm; latest_charge stays null', async () => {
  const c = await stripe.customers.create({ email: 'expand@example.com' });
  const pi = await stripe.paymentIntents.create({
    amount: 1100, currency: 'usd', customer: c.id, payment_method: 'pm_card_visa', confirm: true,
    expand: ['customer', 'payment_method', 'latest_charge'],
  });
  assert.equal(pi.customer.object, 'customer');
  assert.equal(pi.customer.email, 'expand@example.com');
  assert.equal(pi.payment_method.object, 'payment_method');
  assert.equal(pi.payment_method.card.last4, '4242');
  assert.equal(pi.latest_charge, null);

  const got = await stripe.paymentIntents.retrieve(pi.id, { expand: ['customer'] });
  assert.equal(got.customer.id, c.id);
  assert.equal(typeof got.payment_method, 'string');

  const open = await stripe.paymentIntents.create({ amount: 1100, currency: 'usd', customer: c.id });
  const conf = await stripe.paymentIntents.confirm(open.id, { payment_method: 'pm_card_visa', expand: ['payment_method'] });
  assert.equal(conf.payment_method.object, 'payment_method');
  assert.equal(conf.customer, c.id);
});

test('list with expand data.customer and data.payment_method, filtered by customer and status', async () => {
  const c = await stripe.customers.create({ email: 'listexpand@example.com' });
  const a = await stripe.paymentIntents.create({ amount: 100, currency: 'usd', customer: c.id, payment_method: 'pm_card_visa', confirm: true });
  const b = await stripe.paymentIntents.create({ amount: 200, currency: 'usd', customer: c.id });
  const list = await stripe.paymentIntents.list({ customer: c.id, expand: ['data.customer', 'data.payment_method'] });
  assert.equal(list.object, 'list');
  assert.equal(list.url, '/v1/payment_intents');
  assert.deepEqual(list.data.map((p) => p.id), [b.id, a.id]);
  for (const p of list.data) {
    assert.equal(p.customer.id, c.id);
    assert.equal(p.customer.object, 'customer');
  }
  assert.equal(list.data[1].payment_method.object, 'payment_method');
  assert.equal(list.data[0].payment_method, null);
  const plain = await stripe.paymentIntents.list({ customer: c.id });
  assert.equal(plain.data[0].customer, c.id, 'no expansion unless asked');
  const succeeded = await stripe.paymentIntents.list({ customer: c.id, status: 'succeeded' });
  assert.deepEqual(succeeded.data.map((p) => p.id), [a.id]);
});

test('bad input: StripeInvalidRequestError naming amount, currency, an unknown parameter', async () => {
  const amount = await rejects(() => stripe.paymentIntents.create({ amount: -5, currency: 'usd' }));
  assert.ok(amount instanceof Stripe.errors.StripeInvalidRequestError);
  assert.equal(amount.param, 'amount');
  const currency = await rejects(() => stripe.paymentIntents.create({ amount: 100, currency: 'zzz' }));
  assert.equal(currency.param, 'currency');
  const unknown = await rejects(() => stripe.paymentIntents.create({ amount: 100, currency: 'usd', colour: 'red' }));
  assert.equal(unknown.code, 'parameter_unknown');
  assert.equal(unknown.param, 'colour');
});
