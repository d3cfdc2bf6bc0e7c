'use strict';
/*
 * bench_fill.test.js - `payd bench fill`: the payments it adds are real
 * succeeded intents (visible over the API with their customers, in the
 * balance and the event log) and `payd audit verify` passes on the result;
 * bad usage exits 2. Runs against the database the test's payd serves, while
 * it serves (on SQLite that is a second process on the same file).
 */
const test = require('node:test');
const assert = require('node:assert');
const { startPayd } = require('./lib/payd');

let payd;

test.before(async () => {
  payd = await startPayd();
});

test.after(async () => {
  if (payd) await payd.stop();
});

test('bench fill adds succeeded payments spread over new customers; audit verify passes', async () => {
  const before = await payd.api('GET', '/v1/balance');
  assert.equal(before.status, 200, before.text);
  const usdBefore = (before.body.available || []).find((b) => b.currency === 'usd');

  const r = await payd.cli(['bench', 'fill', '--payments', '30', '--customers', '3', '--batch', '7']);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /filled 30 payments for 3 customers/);

  const list = await payd.api('GET', '/v1/payment_intents?limit=100');
  assert.equal(list.status, 200, list.text);
  const filled = list.body.data.filter((pi) => pi.customer);
  assert.equal(filled.length, 30, list.text);
  let total = 0;
  for (const pi of filled) {
    assert.equal(pi.status, 'succeeded');
    assert.equal(pi.amount_received, pi.amount);
    assert.match(pi.payment_method, /^pm_/);
    total += pi.amount;
  }
  /* Three customers, ten payments each, every customer paying with its own saved card. */
  const byCustomer = new Map();
  for (const pi of filled) byCustomer.set(pi.customer, (byCustomer.get(pi.customer) || 0) + 1);
  assert.deepEqual([...byCustomer.values()].sort(), [10, 10, 10]);
  const cus = [...byCustomer.keys()][0];
  const cards = await payd.api('GET', `/v1/customers/${cus}/payment_methods`);
  assert.equal(cards.status, 200, cards.text);
  assert.equal(cards.body.data.length, 1, cards.text);
  const own = await payd.api('GET', `/v1/payment_intents?customer=${cus}&limit=100`);
  assert.equal(own.body.data.length, 10, own.text);
  assert.ok(own.body.data.every((pi) => pi.payment_method === cards.body.data[0].id), own.text);
  /* Keyed as payd serve keys cards: a filled card (pm_card_visa) has the
   * fingerprint the serving payd gives the same card. */
  const served = await payd.api('POST', '/v1/payment_methods', { form: { type: 'card', card: { token: 'tok_visa' } } });
  assert.equal(served.status, 200, served.text);
  assert.equal(cards.body.data[0].card.fingerprint, served.body.card.fingerprint);

  /* The money is in the ledger: the balance grew by exactly what was received. */
  const after = await payd.api('GET', '/v1/balance');
  const usdAfter = after.body.available.find((b) => b.currency === 'usd');
  assert.equal(usdAfter.amount - (usdBefore ? usdBefore.amount : 0), total, after.text);
  const events = await payd.api('GET', '/v1/events?type=payment_intent.succeeded&limit=100');
  assert.equal(events.status, 200, events.text);
  assert.equal(events.body.data.length, 30, events.text);

  const audit = await payd.cli(['audit', 'verify']);
  assert.equal(audit.code, 0, `${audit.stdout}\n${audit.stderr}`);
});

test('bench fill refuses bad usage with exit 2', async () => {
  for (const args of [[], ['--payments', '0'], ['--payments', 'ten'], ['--payments', '5', '--batch', '0'],
    ['--payments', '5', 'extra']]) {
    const r = await payd.cli(['bench', 'fill', ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}\n${r.stderr}`);
  }
});

test('bench fill refuses a fingerprint key other than the database\'s, and fills nothing', async () => {
  const before = await payd.api('GET', '/v1/payment_intents?limit=100');
  const r = await payd.cli(['bench', 'fill', '--payments', '5', '--fingerprint-key', 'not-the-key-of-this-database']);
  assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, /payd bench fill: the fingerprint key \(--fingerprint-key\) is not the one this database was keyed with/);
  assert.doesNotMatch(r.stderr + r.stdout, /not-the-key-of-this-database/, 'the key is not printed');
  const after = await payd.api('GET', '/v1/payment_intents?limit=100');
  assert.equal(after.body.data.length, before.body.data.length, 'nothing was filled');
});
