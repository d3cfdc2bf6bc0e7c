'use strict';
/* Refunds, balance transactions and events through the official Stripe SDK. */
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Stripe, startCompat, rejects, stopPayd } = require('./lib/stripe');

let payd;
let stripe;
before(async () => { ({ payd, stripe } = await startCompat()); });
after(() => stopPayd(payd));

const pay = (amount, extra = {}) => stripe.paymentIntents.create({ amount, currency: 'usd', payment_method: 'pm_card_visa', confirm: true, ...extra });

test('refunds.create in full (no amount) and refunds.retrieve', async () => {
  const pi = await pay(2500);
  const re = await stripe.refunds.create({ payment_intent: pi.id, reason: 'requested_by_customer' });
  assert.match(re.id, /^re_/);
  assert.equal(re.object, 'refund');
  assert.equal(re.amount, 2500);
  assert.equal(re.currency, 'usd');
  assert.equal(re.status, 'succeeded');
  assert.equal(re.payment_intent, pi.id);
  assert.equal(re.reason, 'requested_by_customer');
  assert.match(re.balance_transaction, /^txn_/);
  const got = await stripe.refunds.retrieve(re.id);
  assert.equal(got.amount, 2500);
  const after1 = await stripe.paymentIntents.retrieve(pi.id);
  assert.equal(after1.amount_refunded, 2500);
  /* Nothing is left: one more refund is an invalid request. */
  const more = await rejects(() => stripe.refunds.create({ payment_intent: pi.id, amount: 1 }));
  assert.ok(more instanceof Stripe.errors.StripeInvalidRequestError, more.constructor.name);
});

test('partial refunds, then an over-refund: StripeInvalidRequestError naming amount', async () => {
  const pi = await pay(2500);
  const r1 = await stripe.refunds.create({ payment_intent: pi.id, amount: 1000, metadata: { why: 'partial' } });
  assert.equal(r1.amount, 1000);
  assert.deepEqual(r1.metadata, { why: 'partial' });
  const r2 = await stripe.refunds.create({ payment_intent: pi.id, amount: 500 });
  assert.equal(r2.amount, 500);
  const err = await rejects(() => stripe.refunds.create({ payment_intent: pi.id, amount: 1001 }));
  assert.ok(err instanceof Stripe.errors.StripeInvalidRequestError, err.constructor.name);
  assert.equal(err.statusCode, 400);
  assert.equal(err.param, 'amount');
  assert.equal(err.code, 'amount_too_large');
  const rest = await stripe.refunds.create({ payment_intent: pi.id, amount: 1000 });
  assert.equal(rest.amount, 1000);
  const list = await stripe.refunds.list({ payment_intent: pi.id });
  assert.equal(list.object, 'list');
  assert.deepEqual(list.data.map((r) => r.id), [rest.id, r2.id, r1.id]);
  const up = await stripe.refunds.update(r1.id, { metadata: { note: 'x' } });
  assert.deepEqual(up.metadata, { why: 'partial', note: 'x' });
  const piAfter = await stripe.paymentIntents.retrieve(pi.id);
  assert.equal(piAfter.amount_refunded, 2500);
});

test('refunding an uncaptured intent: StripeInvalidRequestError payment_intent_unexpected_state', async () => {
  const pi = await pay(800, { capture_method: 'manual' });
  const err = await rejects(() => stripe.refunds.create({ payment_intent: pi.id }));
  assert.ok(err instanceof Stripe.errors.StripeInvalidRequestError, err.constructor.name);
  assert.equal(err.code, 'payment_intent_unexpected_state');
});

test('balanceTransactions.list: a charge and its refund, filtered by type; balance.retrieve', async () => {
  const pi = await pay(4200);
  const re = await stripe.refunds.create({ payment_intent: pi.id, amount: 200 });
  const all = await stripe.balanceTransactions.list({ limit: 100 });
  assert.equal(all.object, 'list');
  const charge = all.data.find((t) => t.type === 'charge' && t.source === pi.id);
  assert.ok(charge, 'the capture is a charge balance transaction');
  assert.equal(charge.object, 'balance_transaction');
  assert.equal(charge.amount, 4200);
  const refund = all.data.find((t) => t.id === re.balance_transaction);
  assert.equal(refund.type, 'refund');
  assert.equal(refund.amount, -200);
  const refunds = await stripe.balanceTransactions.list({ type: 'refund' });
  assert.ok(refunds.data.length >= 1);
  for (const t of refunds.data) assert.equal(t.type, 'refund');
  const one = await stripe.balanceTransactions.retrieve(charge.id);
  assert.equal(one.id, charge.id);
  const bal = await stripe.balance.retrieve();
  assert.equal(bal.object, 'balance');
  assert.ok(Array.isArray(bal.available));
});

test('events.list and events.retrieve: payment_intent.succeeded carries the intent', async () => {
  const pi = await pay(1300);
  const list = await stripe.events.list({ type: 'payment_intent.succeeded', limit: 100 });
  assert.equal(list.object, 'list');
  const ev = list.data.find((e) => e.data.object.id === pi.id);
  assert.ok(ev, 'the intent has a payment_intent.succeeded event');
  assert.equal(ev.object, 'event');
  assert.match(ev.id, /^evt_/);
  assert.equal(ev.type, 'payment_intent.succeeded');
  assert.equal(ev.data.object.object, 'payment_intent');
  assert.equal(ev.data.object.status, 'succeeded');
  assert.equal(typeof ev.api_version, 'string');
  const got = await stripe.events.retrieve(ev.id);
  assert.equal(got.id, ev.id);
  const some = await stripe.events.list({ limit: 3 });
  assert.equal(some.data.length, 3);
  assert.equal(some.has_more, true);
});
