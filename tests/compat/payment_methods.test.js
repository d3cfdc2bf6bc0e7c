'use strict';
/* Payment methods through the official Stripe SDK: create (card numbers and
 * Stripe's test names), retrieve with expand, attach, detach, list. */
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Stripe, startCompat, cardParams, rejects, stopPayd } = require('./lib/stripe');

let payd;
let stripe;
before(async () => { ({ payd, stripe } = await startCompat()); });
after(() => stopPayd(payd));

test('paymentMethods.create from card numbers: brand, last4, no number in the answer', async () => {
  const cases = [
    ['4242424242424242', 'visa', '4242'],
    ['5555555555554444', 'mastercard', '4444'],
    ['378282246310005', 'amex', '0005'],
  ];
  for (const [number, brand, last4] of cases) {
    const pm = await stripe.paymentMethods.create(cardParams(number, { billing_details: { name: 'A B' }, metadata: { k: 'v' } }));
    assert.match(pm.id, /^pm_/);
    assert.equal(pm.object, 'payment_method');
    assert.equal(pm.type, 'card');
    assert.equal(pm.card.brand, brand);
    assert.equal(pm.card.last4, last4);
    assert.equal(pm.billing_details.name, 'A B');
    assert.deepEqual(pm.metadata, { k: 'v' });
    assert.equal(pm.customer, null);
    assert.ok(!JSON.stringify(pm).includes(number), 'the card number is never answered');
  }
});

test('paymentMethods.create from Stripe test tokens (card[token])', async () => {
  const pm = await stripe.paymentMethods.create({ type: 'card', card: { token: 'tok_mastercard' } });
  assert.equal(pm.card.brand, 'mastercard');
  const visa = await stripe.paymentMethods.create({ type: 'card', card: { token: 'tok_visa' } });
  assert.equal(visa.card.last4, '4242');
});

test('a number failing the Luhn check: StripeCardError incorrect_number on card[number]', async () => {
  const err = await rejects(() => stripe.paymentMethods.create(cardParams('4242424242424241')));
  assert.ok(err instanceof Stripe.errors.StripeCardError, err.constructor.name);
  assert.equal(err.statusCode, 402);
  assert.equal(err.code, 'incorrect_number');
  assert.equal(err.param, 'card[number]');
});

test('attach, list (with expand data.customer), retrieve with expand customer, detach', async () => {
  const c = await stripe.customers.create({ email: 'cards@example.com' });
  const a = await stripe.paymentMethods.create(cardParams('4242424242424242'));
  const b = await stripe.paymentMethods.create(cardParams('5555555555554444'));
  const att = await stripe.paymentMethods.attach(a.id, { customer: c.id });
  assert.equal(att.customer, c.id);
  await stripe.paymentMethods.attach(b.id, { customer: c.id });

  const list = await stripe.paymentMethods.list({ customer: c.id, type: 'card' });
  assert.equal(list.object, 'list');
  assert.deepEqual(list.data.map((p) => p.id).sort(), [a.id, b.id].sort());
  for (const p of list.data) assert.equal(p.customer, c.id);

  const expanded = await stripe.paymentMethods.list({ customer: c.id, expand: ['data.customer'] });
  assert.equal(expanded.data.length, 2);
  for (const p of expanded.data) {
    assert.equal(typeof p.customer, 'object');
    assert.equal(p.customer.id, c.id);
    assert.equal(p.customer.object, 'customer');
  }

  const one = await stripe.paymentMethods.retrieve(a.id, { expand: ['customer'] });
  assert.equal(one.customer.id, c.id);
  assert.equal(one.customer.email, 'cards@example.com');

  const det = await stripe.paymentMethods.detach(a.id);
  assert.equal(det.id, a.id);
  assert.equal(det.customer, null);
  const after1 = await stripe.paymentMethods.list({ customer: c.id });
  assert.deepEqual(after1.data.map((p) => p.id), [b.id]);
});

test('paymentMethods.update metadata and expiry of an attached card', async () => {
  const c = await stripe.customers.create({});
  const pm = await stripe.paymentMethods.create(cardParams('4242424242424242'));
  await stripe.paymentMethods.attach(pm.id, { customer: c.id });
  const year = new Date().getFullYear() + 5;
  const up = await stripe.paymentMethods.update(pm.id, { metadata: { nick: 'work' }, card: { exp_month: 3, exp_year: year } });
  assert.deepEqual(up.metadata, { nick: 'work' });
  assert.equal(up.card.exp_month, 3);
  assert.equal(up.card.exp_year, year);
});

test('attaching a card that declines every charge: StripeCardError with decline_code', async () => {
  const c = await stripe.customers.create({});
  const pm = await stripe.paymentMethods.create(cardParams('4000000000009995'));
  const err = await rejects(() => stripe.paymentMethods.attach(pm.id, { customer: c.id }));
  assert.ok(err instanceof Stripe.errors.StripeCardError, err.constructor.name);
  assert.equal(err.decline_code, 'insufficient_funds');
  const list = await stripe.paymentMethods.list({ customer: c.id });
  assert.equal(list.data.length, 0);
});

test('an unknown payment method: StripeInvalidRequestError resource_missing', async () => {
  const err = await rejects(() => stripe.paymentMethods.retrieve('pm_000000000000000000000000'));
  assert.ok(err instanceof Stripe.errors.StripeInvalidRequestError, err.constructor.name);
  assert.equal(err.statusCode, 404);
  assert.equal(err.code, 'resource_missing');
});
