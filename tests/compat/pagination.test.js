'use strict';
/* Auto-pagination of the official Stripe SDK over more than 100 intents:
 * the list envelope (has_more, data, ids for starting_after / ending_before)
 * is what drives it. */
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startCompat, stopPayd } = require('./lib/stripe');

const COUNT = 125;
let payd;
let stripe;
let made; /* oldest first */
let customer;
before(async () => {
  ({ payd, stripe } = await startCompat());
  customer = await stripe.customers.create({ email: 'pages@example.com' });
  made = [];
  /* One at a time, so that the order of creation is known. Requests made at
   * the same time are listed in the order payd wrote them, and on
   * PostgreSQL that can be a second out of their `created` (the README's
   * API conventions). */
  for (let j = 0; j < COUNT; j++) {
    made.push(await stripe.paymentIntents.create({ amount: 100 + j, currency: 'usd', customer: customer.id, metadata: { n: String(j) } }));
  }
});
after(() => stopPayd(payd));

test('autoPagingEach visits every intent once, in list order, over pages of 10', async () => {
  const seen = [];
  let pages = 0;
  const onResponse = (e) => { if (e.path.startsWith('/v1/payment_intents')) pages++; };
  stripe.on('response', onResponse);
  try {
    await stripe.paymentIntents.list({ customer: customer.id }).autoPagingEach((pi) => { seen.push(pi.id); });
  } finally {
    stripe.off('response', onResponse);
  }
  assert.equal(seen.length, COUNT);
  assert.equal(new Set(seen).size, COUNT, 'no intent twice');
  assert.deepEqual(new Set(seen), new Set(made.map((p) => p.id)));
  assert.equal(pages, Math.ceil(COUNT / 10), 'one request per page of 10');
  const first = await stripe.paymentIntents.list({ customer: customer.id, limit: 100 });
  assert.deepEqual(seen.slice(0, 100), first.data.map((p) => p.id), 'the same order as one page');
});

test('autoPagingToArray({limit: 1000}) with pages of 100; stopping early with a limit', async () => {
  const all = await stripe.paymentIntents.list({ customer: customer.id, limit: 100 }).autoPagingToArray({ limit: 1000 });
  assert.equal(all.length, COUNT);
  for (let i = 1; i < all.length; i++) {
    assert.ok(all[i - 1].created >= all[i].created, 'newest first');
  }
  assert.deepEqual(all.map((p) => p.id), made.map((p) => p.id).reverse(), 'in the order they were made, newest first');
  const some = await stripe.paymentIntents.list({ limit: 7 }).autoPagingToArray({ limit: 20 });
  assert.equal(some.length, 20);
  assert.deepEqual(some.map((p) => p.id), all.slice(0, 20).map((p) => p.id));
});

test('for await over a list, with expand[]=data.customer on every page', async () => {
  let n = 0;
  for await (const pi of stripe.paymentIntents.list({ customer: customer.id, limit: 50, expand: ['data.customer'] })) {
    assert.equal(pi.customer.id, customer.id);
    n++;
  }
  assert.equal(n, COUNT);
});

test('ending_before pages backwards to the newest', async () => {
  const all = await stripe.paymentIntents.list({ customer: customer.id, limit: 100 }).autoPagingToArray({ limit: 1000 });
  const oldest = all[all.length - 1];
  const newer = await stripe.paymentIntents.list({ customer: customer.id, limit: 10, ending_before: oldest.id }).autoPagingToArray({ limit: 1000 });
  assert.equal(newer.length, COUNT - 1);
  assert.deepEqual(new Set(newer.map((p) => p.id)), new Set(all.slice(0, -1).map((p) => p.id)));
});
