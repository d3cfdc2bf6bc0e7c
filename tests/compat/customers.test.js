'use strict';
/* Customers through the official Stripe SDK: create, retrieve, update, list, del. */
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Stripe, startCompat, cardParams, rejects, stopPayd } = require('./lib/stripe');

let payd;
let stripe;
before(async () => { ({ payd, stripe } = await startCompat()); });
after(() => stopPayd(payd));

test('customers.create returns a Stripe customer object', async () => {
  const c = await stripe.customers.create({
    email: 'amna@example.com',
    name: 'Amna Osman',
    phone: '+249912345678',
    description: 'compat',
    metadata: { mrn: '88-1001', order: '42' },
    address: { line1: '1 Nile St', city: 'Khartoum', country: 'SD' },
  });
  assert.match(c.id, /^cus_[0-9A-Za-z]{24}$/);
  assert.equal(c.object, 'customer');
  assert.equal(c.email, 'amna@example.com');
  assert.equal(c.name, 'Amna Osman');
  assert.deepEqual(c.metadata, { mrn: '88-1001', order: '42' });
  assert.equal(c.address.city, 'Khartoum');
  assert.equal(c.livemode, false);
  assert.equal(typeof c.created, 'number');
  assert.match(c.lastResponse.requestId, /^req_/);
  assert.equal(c.lastResponse.statusCode, 200);
});

test('customers.retrieve and customers.update (metadata merged, a key removed with "")', async () => {
  const c = await stripe.customers.create({ email: 'u@example.com', metadata: { a: '1', b: '2' } });
  const got = await stripe.customers.retrieve(c.id);
  assert.equal(got.id, c.id);
  assert.equal(got.email, 'u@example.com');
  const up = await stripe.customers.update(c.id, { name: 'New Name', metadata: { b: '', c: '3' } });
  assert.equal(up.name, 'New Name');
  assert.deepEqual(up.metadata, { a: '1', c: '3' });
  const again = await stripe.customers.retrieve(c.id);
  assert.equal(again.name, 'New Name');
  assert.deepEqual(again.metadata, { a: '1', c: '3' });
});

test('customers.list pages with limit and starting_after, filters by email', async () => {
  const made = [];
  for (let i = 0; i < 5; i++) {
    made.push(await stripe.customers.create({ email: `list-${i}@example.com` }));
  }
  const page1 = await stripe.customers.list({ limit: 2 });
  assert.equal(page1.object, 'list');
  assert.equal(page1.url, '/v1/customers');
  assert.equal(page1.data.length, 2);
  assert.equal(page1.has_more, true);
  const page2 = await stripe.customers.list({ limit: 2, starting_after: page1.data[1].id });
  assert.equal(page2.data.length, 2);
  assert.notEqual(page2.data[0].id, page1.data[1].id);
  const byEmail = await stripe.customers.list({ email: 'list-3@example.com' });
  assert.deepEqual(byEmail.data.map((c) => c.id), [made[3].id]);
  /* auto-pagination over customers too (newest first, as Stripe). */
  const all = await stripe.customers.list({ limit: 2 }).autoPagingToArray({ limit: 1000 });
  const ids = all.map((c) => c.id);
  for (const c of made) assert.ok(ids.includes(c.id));
  assert.equal(new Set(ids).size, ids.length, 'no customer twice');
});

test('customers.del answers {deleted: true}; the customer is then a StripeInvalidRequestError 404', async () => {
  const c = await stripe.customers.create({ email: 'del@example.com' });
  const d = await stripe.customers.del(c.id);
  assert.deepEqual({ ...d }, { id: c.id, object: 'customer', deleted: true });
  const err = await rejects(() => stripe.customers.retrieve(c.id));
  assert.ok(err instanceof Stripe.errors.StripeInvalidRequestError, err.constructor.name);
  assert.equal(err.statusCode, 404);
  assert.equal(err.code, 'resource_missing');
  const list = await stripe.customers.list({ email: 'del@example.com' });
  assert.equal(list.data.length, 0);
});

test('customers.listPaymentMethods and invoice_settings.default_payment_method', async () => {
  const c = await stripe.customers.create({ email: 'pm@example.com' });
  const pm = await stripe.paymentMethods.create(cardParams('5555555555554444'));
  await stripe.paymentMethods.attach(pm.id, { customer: c.id });
  const list = await stripe.customers.listPaymentMethods(c.id, { type: 'card' });
  assert.deepEqual(list.data.map((p) => p.id), [pm.id]);
  assert.equal(list.data[0].card.brand, 'mastercard');
  assert.equal(list.data[0].customer, c.id);
  const expanded = await stripe.customers.listPaymentMethods(c.id, { expand: ['data.customer'] });
  assert.equal(expanded.data[0].customer.id, c.id);
  assert.equal(expanded.data[0].customer.email, 'pm@example.com');
  const up = await stripe.customers.update(c.id, { invoice_settings: { default_payment_method: pm.id } });
  assert.equal(up.invoice_settings.default_payment_method, pm.id);
});

test('customers.create with a bad email: StripeInvalidRequestError naming the param', async () => {
  const err = await rejects(() => stripe.customers.create({ email: 'not-an-email' }));
  assert.ok(err instanceof Stripe.errors.StripeInvalidRequestError, err.constructor.name);
  assert.equal(err.statusCode, 400);
  assert.equal(err.param, 'email');
  assert.equal(err.type, 'StripeInvalidRequestError');
  assert.equal(err.rawType, 'invalid_request_error');
});
