'use strict';
/*
 * refunds.test.js - /v1/refunds over HTTP: full and partial refunds, the
 * intent's amount_refunded, the ledger's balance transactions and the
 * balance, over-refunds refused (also by 50 concurrent requests), refunds
 * of intents in the wrong state, metadata updates, cancel, lists, bad
 * input, and `payd audit verify` at the end: passing on the database the
 * suite left, failing on a deliberately corrupted copy of it.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const { startPayd } = require('./lib/payd');
const {
  expectError, ok, newCustomer, intent, getIntent, eventsFor, auditVerify, listAll,
} = require('./lib/intents');

let payd;

test.before(async () => {
  payd = await startPayd();
});

test.after(async () => {
  if (payd) await payd.stop();
});

function paid(amount, params = {}) {
  return intent(payd, { amount, payment_method: 'pm_card_visa', confirm: true, ...params });
}

function refund(params, o = {}) {
  return payd.api('POST', '/v1/refunds', { form: params, ...o });
}

/* The merchant's usd balance. */
async function usdBalance() {
  const b = ok(await payd.api('GET', '/v1/balance'));
  const usd = b.available.find((x) => x.currency === 'usd');
  return usd ? usd.amount : 0;
}

test('a full refund by default: Stripe shape, amount_refunded, ledger, event', async () => {
  const pi = await paid(2500);
  const before = await usdBalance();
  const re = ok(await refund({ payment_intent: pi.id, reason: 'requested_by_customer', metadata: { ticket: 'T-1' } }));
  assert.match(re.id, /^re_[0-9A-Za-z]{24}$/);
  assert.equal(re.object, 'refund');
  assert.equal(re.amount, 2500);
  assert.equal(re.currency, 'usd');
  assert.equal(re.payment_intent, pi.id);
  assert.equal(re.status, 'succeeded');
  assert.equal(re.reason, 'requested_by_customer');
  assert.deepEqual(re.metadata, { ticket: 'T-1' });
  assert.equal(re.charge, null);
  assert.ok(Math.abs(re.created - Date.now() / 1000) < 120);
  assert.match(re.balance_transaction, /^txn_/);

  const bt = ok(await payd.api('GET', `/v1/balance_transactions/${re.balance_transaction}`));
  assert.equal(bt.type, 'refund');
  assert.equal(bt.amount, -2500);
  assert.equal(bt.source, re.id);
  assert.equal(await usdBalance(), before - 2500);

  const after = ok(await getIntent(payd, pi.id));
  assert.equal(after.amount_refunded, 2500);
  assert.equal(after.amount_received, 2500);
  assert.equal(after.status, 'succeeded');
  assert.deepEqual(ok(await payd.api('GET', `/v1/refunds/${re.id}`)), re);
  const events = await eventsFor(payd, 'refund.created', re.id);
  assert.equal(events.length, 1);
  assert.equal(events[0].data.object.amount, 2500);

  expectError(await refund({ payment_intent: pi.id }), 400, { code: 'amount_too_large' });
  expectError(await refund({ payment_intent: pi.id, amount: 1 }), 400, { code: 'amount_too_large', param: 'amount' });
});

test('several partial refunds, then an over-refund is refused', async () => {
  const pi = await paid(10000);
  const parts = [1000, 2500, 4000];
  for (const amount of parts) {
    const re = ok(await refund({ payment_intent: pi.id, amount }));
    assert.equal(re.amount, amount);
  }
  assert.equal(ok(await getIntent(payd, pi.id)).amount_refunded, 7500);
  const err = expectError(await refund({ payment_intent: pi.id, amount: 2501 }), 400, { code: 'amount_too_large', param: 'amount' });
  assert.match(err.message, /\$25\.01.*\$25\.00/);
  assert.equal(ok(await getIntent(payd, pi.id)).amount_refunded, 7500);
  const rest = ok(await refund({ payment_intent: pi.id }));
  assert.equal(rest.amount, 2500);
  const list = ok(await payd.api('GET', `/v1/refunds?payment_intent=${pi.id}`));
  assert.equal(list.object, 'list');
  assert.equal(list.url, '/v1/refunds');
  assert.deepEqual(list.data.map((r) => r.amount), [2500, 4000, 2500, 1000]);
  assert.equal(ok(await getIntent(payd, pi.id)).amount_refunded, 10000);
});

test('a partially captured intent refunds at most what was received', async () => {
  const pi = await intent(payd, { amount: 9000, capture_method: 'manual', payment_method: 'pm_card_visa', confirm: true });
  expectError(await refund({ payment_intent: pi.id }), 400, { code: 'payment_intent_unexpected_state', message: /requires_capture/ });
  ok(await payd.api('POST', `/v1/payment_intents/${pi.id}/capture`, { form: { amount_to_capture: 3000 } }));
  expectError(await refund({ payment_intent: pi.id, amount: 3001 }), 400, { code: 'amount_too_large', param: 'amount' });
  const re = ok(await refund({ payment_intent: pi.id }));
  assert.equal(re.amount, 3000);
});

test('intents that are not succeeded cannot be refunded', async () => {
  const open = await intent(payd, {});
  expectError(await refund({ payment_intent: open.id }), 400, { code: 'payment_intent_unexpected_state', message: /requires_payment_method/ });
  const canceled = ok(await payd.api('POST', `/v1/payment_intents/${open.id}/cancel`, { form: {} }));
  expectError(await refund({ payment_intent: canceled.id }), 400, { code: 'payment_intent_unexpected_state', message: /canceled/ });
  const declined = await payd.api('POST', '/v1/payment_intents', { form: { amount: 500, currency: 'usd', payment_method: 'pm_card_chargeDeclined', confirm: true } });
  expectError(declined, 402, { code: 'card_declined' });
  expectError(await refund({ payment_intent: declined.body.error.payment_intent.id }), 400, { code: 'payment_intent_unexpected_state' });
});

test('bad input is 400 naming the parameter; unknown ids 404', async () => {
  const pi = await paid(1000);
  expectError(await refund({}), 400, { param: 'payment_intent' });
  expectError(await refund({ payment_intent: 'pi_000000000000000000000000' }), 404, { param: 'payment_intent' });
  for (const amount of [0, -5, '2.5', 'ten', 1000000000000]) {
    expectError(await refund({ payment_intent: pi.id, amount }), 400, { param: 'amount' });
  }
  expectError(await refund({ payment_intent: pi.id, reason: 'changed_mind' }), 400, { param: 'reason' });
  for (const field of ['status', 'currency', 'charge', 'balance_transaction', 'id']) {
    expectError(await refund({ payment_intent: pi.id, [field]: 'x' }), 400, { code: 'parameter_unknown', param: field });
  }
  assert.equal(ok(await getIntent(payd, pi.id)).amount_refunded, 0);
  assert.equal(ok(await payd.api('GET', `/v1/refunds?payment_intent=${pi.id}`)).data.length, 0);
  expectError(await payd.api('GET', '/v1/refunds/re_000000000000000000000000'), 404, { code: 'resource_missing' });
  expectError(await payd.api('POST', '/v1/refunds/re_000000000000000000000000', { form: { metadata: { a: 'b' } } }), 404, { code: 'resource_missing' });
  expectError(await payd.api('POST', '/v1/refunds/re_000000000000000000000000/cancel', { form: {} }), 404, { code: 'resource_missing' });
  expectError(await payd.api('GET', '/v1/refunds?colour=red'), 400, { param: 'colour' });
});

test('update changes metadata only; cancel of a succeeded refund is 400', async () => {
  const pi = await paid(1500);
  const re = ok(await refund({ payment_intent: pi.id, amount: 500, metadata: { a: '1', b: '2' } }));
  const u = ok(await payd.api('POST', `/v1/refunds/${re.id}`, { form: { metadata: { a: '', c: '3' } } }));
  assert.deepEqual(u.metadata, { b: '2', c: '3' });
  assert.equal(u.amount, 500);
  assert.equal((await eventsFor(payd, 'refund.updated', re.id)).length, 1);
  assert.deepEqual(ok(await payd.api('POST', `/v1/refunds/${re.id}`, { form: 'metadata=' })).metadata, {});
  for (const field of ['amount', 'reason', 'status']) {
    expectError(await payd.api('POST', `/v1/refunds/${re.id}`, { form: { [field]: 'x' } }), 400, { code: 'parameter_unknown', param: field });
  }
  expectError(await payd.api('POST', `/v1/refunds/${re.id}/cancel`, { form: {} }), 400,
    { code: 'payment_intent_unexpected_state', message: /succeeded/ });
  assert.equal(ok(await payd.api('GET', `/v1/refunds/${re.id}`)).status, 'succeeded');
  assert.equal(ok(await getIntent(payd, pi.id)).amount_refunded, 500);
});

test('list: newest first, paged both ways', async () => {
  const pi = await paid(100000);
  const ids = [];
  for (let i = 0; i < 25; i += 1) ids.push(ok(await refund({ payment_intent: pi.id, amount: 100 + i })).id);
  const newestFirst = ids.slice().reverse();
  const p1 = ok(await payd.api('GET', `/v1/refunds?payment_intent=${pi.id}&limit=10`));
  assert.equal(p1.has_more, true);
  const p2 = ok(await payd.api('GET', `/v1/refunds?payment_intent=${pi.id}&limit=10&starting_after=${p1.data[9].id}`));
  const p3 = ok(await payd.api('GET', `/v1/refunds?payment_intent=${pi.id}&limit=10&starting_after=${p2.data[9].id}`));
  assert.equal(p3.has_more, false);
  assert.deepEqual([...p1.data, ...p2.data, ...p3.data].map((r) => r.id), newestFirst);
  const back = ok(await payd.api('GET', `/v1/refunds?payment_intent=${pi.id}&limit=10&ending_before=${p3.data[0].id}`));
  assert.deepEqual(back.data.map((r) => r.id), newestFirst.slice(10, 20));
  const all = await listAll(payd, '/v1/refunds');
  assert.ok(all.length >= 25);
});

test('50 concurrent refunds never exceed what was captured', async () => {
  const pi = await paid(1000);
  const before = await usdBalance();
  const answers = await Promise.all(Array.from({ length: 50 }, () => refund({ payment_intent: pi.id, amount: 30 })));
  const done = answers.filter((r) => r.status === 200);
  const refused = answers.filter((r) => r.status !== 200);
  for (const r of refused) expectError(r, 400, { code: 'amount_too_large', param: 'amount' });
  assert.equal(done.length, 33, `33 refunds of 30 fit in 1000, got ${done.length}`);
  const after = ok(await getIntent(payd, pi.id));
  assert.equal(after.amount_refunded, 990);
  const list = await listAll(payd, `/v1/refunds?payment_intent=${pi.id}`);
  assert.equal(list.length, 33);
  assert.equal(list.reduce((s, r) => s + r.amount, 0), 990);
  assert.equal(await usdBalance(), before - 990);

  /* Ten concurrent "refund the rest": exactly one gets the remaining 10. */
  const rest = await Promise.all(Array.from({ length: 10 }, () => refund({ payment_intent: pi.id })));
  const restDone = rest.filter((r) => r.status === 200);
  assert.equal(restDone.length, 1);
  assert.equal(restDone[0].body.amount, 10);
  assert.equal(ok(await getIntent(payd, pi.id)).amount_refunded, 1000);
  assert.equal(await usdBalance(), before - 1000);
});

test('the balance equals what intents received minus what they refunded', async () => {
  const intents = await listAll(payd, '/v1/payment_intents');
  const net = {};
  for (const pi of intents) {
    net[pi.currency] = (net[pi.currency] || 0) + pi.amount_received - pi.amount_refunded;
  }
  const b = ok(await payd.api('GET', '/v1/balance'));
  for (const [currency, amount] of Object.entries(net)) {
    if (amount === 0 && !b.available.find((x) => x.currency === currency)) continue;
    assert.equal(b.available.find((x) => x.currency === currency).amount, amount, currency);
  }
  const refunds = await listAll(payd, '/v1/refunds');
  const refundedByIntent = {};
  for (const re of refunds) refundedByIntent[re.payment_intent] = (refundedByIntent[re.payment_intent] || 0) + re.amount;
  for (const pi of intents) assert.equal(pi.amount_refunded, refundedByIntent[pi.id] || 0, pi.id);
});

test('payd audit verify passes after the refunds', async () => {
  const r = await auditVerify(payd);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /refunds/);
  assert.doesNotMatch(r.stdout, /FAIL/);
});

test('payd audit verify fails on a corrupted copy of the database', async () => {
  const pi = await paid(4000);
  const re = ok(await refund({ payment_intent: pi.id, amount: 1000 }));
  /* A refund that claims more than the ledger moved, as a buggy or tampered write would. */
  const corrupt = `UPDATE refunds SET amount = amount + 1 WHERE id = '${re.id}'`;
  let db = payd.dbUrl;
  if (payd.kind === 'sqlite') {
    const copy = path.join(payd.dir, 'corrupt.db');
    execFileSync('sqlite3', ['-cmd', '.timeout 10000', payd.dbUrl.replace(/^sqlite:/, ''), `.backup ${copy}`]);
    execFileSync('sqlite3', ['-cmd', '.timeout 10000', copy, corrupt]);
    db = `sqlite:${copy}`;
  } else {
    /* The last test: the suite's own database is dropped afterwards. */
    execFileSync('psql', [payd.dbUrl, '-v', 'ON_ERROR_STOP=1', '-qAtc', corrupt]);
  }
  const r = await payd.cli(['audit', 'verify', '--db', db]);
  assert.notEqual(r.code, 0, r.stdout);
  assert.match(r.stdout, new RegExp(`FAIL refunds.*${re.id}`));
  assert.match(r.stdout, new RegExp(`FAIL payment intents: amount_refunded.*${pi.id}`));
  if (payd.kind === 'sqlite') {
    const sound = await auditVerify(payd);
    assert.equal(sound.code, 0, sound.stdout);
  }
});
