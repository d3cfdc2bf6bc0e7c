'use strict';
/*
 * ledger.test.js - GET /v1/balance, /v1/balance_transactions and
 * /v1/events over HTTP: Stripe's shapes, 400 on unknown parameters, 404 on
 * unknown ids, who may read what (auditors read the balance, patients may
 * not, and see only their own events), and, once payments exist, that a
 * capture and a refund show up in the balance, its transactions and the
 * event log, and that `payd audit verify` passes.
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

function assertError(r, status, code, param) {
  assert.equal(r.status, status, r.text);
  assert.ok(r.body && r.body.error, r.text);
  if (code) assert.equal(r.body.error.code, code, r.text);
  if (param) assert.equal(r.body.error.param, param, r.text);
}

test('the balance starts empty', async () => {
  const r = await payd.api('GET', '/v1/balance');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body, { object: 'balance', available: [], livemode: false, pending: [] });
});

test('balance transactions: empty list, 404 for unknown ids', async () => {
  const r = await payd.api('GET', '/v1/balance_transactions');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.object, 'list');
  assert.equal(r.body.url, '/v1/balance_transactions');
  assert.equal(r.body.has_more, false);
  assert.deepEqual(r.body.data, []);

  assertError(await payd.api('GET', '/v1/balance_transactions/txn_000000000000000000000000'),
    404, 'resource_missing', 'id');
  assertError(await payd.api('GET', '/v1/balance_transactions/nonsense'), 404, 'resource_missing');
});

test('events: empty list, 404 for unknown ids', async () => {
  const r = await payd.api('GET', '/v1/events?type=payment_intent.*');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.object, 'list');
  assert.equal(r.body.url, '/v1/events');
  assert.deepEqual(r.body.data, []);
  assertError(await payd.api('GET', '/v1/events/evt_000000000000000000000000'),
    404, 'resource_missing', 'id');
});

test('unknown or malformed query parameters are a 400 naming them', async () => {
  assertError(await payd.api('GET', '/v1/balance?currency=usd'), 400, 'parameter_unknown', 'currency');
  assertError(await payd.api('GET', '/v1/balance_transactions?payout=po_1'), 400, 'parameter_unknown', 'payout');
  assertError(await payd.api('GET', '/v1/balance_transactions?limit=0'), 400, undefined, 'limit');
  assertError(await payd.api('GET', '/v1/balance_transactions?limit=101'), 400, undefined, 'limit');
  assertError(await payd.api('GET', '/v1/balance_transactions?starting_after=txn_nope'), 400, undefined, 'starting_after');
  assertError(await payd.api('GET', '/v1/events?customer=cus_1'), 400, 'parameter_unknown', 'customer');
  assertError(await payd.api('GET', '/v1/events?type=Not%20A%20Type'), 400, 'parameter_invalid', 'type');
  assertError(await payd.api('GET', '/v1/events?type=a.b&types[]=c.d'), 400, 'parameter_invalid', 'types');
  assertError(await payd.api('GET', '/v1/events?created[after]=1'), 400, 'parameter_unknown', 'created[after]');
  const ok = await payd.api('GET', '/v1/events?types[]=charge.refunded&types[]=payment_intent.*&created[gte]=0&limit=5');
  assert.equal(ok.status, 200, ok.text);
});

test('roles: auditors read the balance; patients may not, but list their events', async () => {
  const auditor = await payd.createKey('auditor');
  for (const p of ['/v1/balance', '/v1/balance_transactions', '/v1/events']) {
    const r = await payd.api('GET', p, { key: auditor });
    assert.equal(r.status, 200, `${p}: ${r.text}`);
  }
  const patient = await payd.mintToken({ sub: 'patient_1', role: 'patient', customer: 'cus_patient1' });
  for (const p of ['/v1/balance', '/v1/balance_transactions', '/v1/balance_transactions/txn_000000000000000000000000']) {
    const r = await payd.api('GET', p, { token: patient });
    assertError(r, 403, 'permission_denied');
  }
  const ev = await payd.api('GET', '/v1/events', { token: patient });
  assert.equal(ev.status, 200, ev.text);
  assert.deepEqual(ev.body.data, []);
  assertError(await payd.api('GET', '/v1/balance', { key: null }), 401);
});

/*
 * The money path, end to end. Needs payment intents and refunds (the
 * payments routes); skipped while they are not there.
 */
test('a capture and a refund reach the balance, its transactions and the events', async (t) => {
  const cus = await payd.api('POST', '/v1/customers', { form: { email: 'ledger@example.com' } });
  const pi = await payd.api('POST', '/v1/payment_intents', {
    form: {
      amount: 2000, currency: 'usd', payment_method: 'pm_card_visa', confirm: 'true',
      ...(cus.status === 200 ? { customer: cus.body.id } : {}),
    },
  });
  if (pi.status === 404 && pi.body && pi.body.error && pi.body.error.code === 'route_missing') {
    t.skip('payment intents are not there yet');
    return;
  }
  assert.equal(pi.status, 200, pi.text);
  assert.equal(pi.body.status, 'succeeded', pi.text);

  let bal = await payd.api('GET', '/v1/balance');
  assert.equal(bal.status, 200, bal.text);
  const usd = bal.body.available.find((a) => a.currency === 'usd');
  assert.ok(usd, bal.text);
  assert.equal(usd.amount, 2000);

  const re = await payd.api('POST', '/v1/refunds', { form: { payment_intent: pi.body.id, amount: 500 } });
  assert.equal(re.status, 200, re.text);
  bal = await payd.api('GET', '/v1/balance');
  assert.equal(bal.body.available.find((a) => a.currency === 'usd').amount, 1500, bal.text);

  const bts = await payd.api('GET', '/v1/balance_transactions');
  assert.equal(bts.status, 200, bts.text);
  assert.equal(bts.body.data.length, 2, bts.text);
  const [refundBt, chargeBt] = bts.body.data; /* newest first */
  assert.equal(chargeBt.object, 'balance_transaction');
  assert.equal(chargeBt.type, 'charge');
  assert.equal(chargeBt.amount, 2000);
  assert.equal(chargeBt.net, chargeBt.amount - chargeBt.fee);
  assert.equal(chargeBt.status, 'available');
  assert.equal(refundBt.type, 'refund');
  assert.equal(refundBt.amount, -500);
  assert.equal(refundBt.reporting_category, 'refund');
  const one = await payd.api('GET', `/v1/balance_transactions/${chargeBt.id}`);
  assert.equal(one.status, 200, one.text);
  assert.deepEqual(one.body, chargeBt);
  const charges = await payd.api('GET', '/v1/balance_transactions?type=charge');
  assert.deepEqual(charges.body.data.map((b) => b.id), [chargeBt.id]);

  const evs = await payd.api('GET', '/v1/events?type=payment_intent.*');
  assert.equal(evs.status, 200, evs.text);
  const succeeded = evs.body.data.find((e) => e.type === 'payment_intent.succeeded');
  assert.ok(succeeded, `no payment_intent.succeeded in ${evs.text}`);
  assert.equal(succeeded.object, 'event');
  assert.equal(succeeded.data.object.id, pi.body.id);
  for (const e of evs.body.data) assert.match(e.type, /^payment_intent\./);
  const ev = await payd.api('GET', `/v1/events/${succeeded.id}`);
  assert.equal(ev.status, 200, ev.text);
  assert.deepEqual(ev.body, succeeded);

  if (cus.status === 200) {
    /* The patient of this customer sees its events; another patient sees none of them. */
    const mine = await payd.mintToken({ sub: 'p1', role: 'patient', customer: cus.body.id });
    const other = await payd.mintToken({ sub: 'p2', role: 'patient', customer: 'cus_someoneelse0000000000000' });
    const seen = await payd.api('GET', '/v1/events', { token: mine });
    assert.equal(seen.status, 200, seen.text);
    assert.ok(seen.body.data.some((e) => e.id === succeeded.id), seen.text);
    const notSeen = await payd.api('GET', '/v1/events', { token: other });
    assert.ok(!notSeen.body.data.some((e) => e.id === succeeded.id), notSeen.text);
    assertError(await payd.api('GET', `/v1/events/${succeeded.id}`, { token: other }), 404, 'resource_missing');
  }

  const audit = await payd.cli(['audit', 'verify']);
  if (audit.code === 2 && /unknown command|usage/i.test(audit.stderr + audit.stdout)) {
    t.diagnostic('payd audit verify is not there yet');
    return;
  }
  assert.equal(audit.code, 0, `${audit.stdout}\n${audit.stderr}`);
  assert.match(audit.stdout, /ok +entries balance/);
  assert.doesNotMatch(audit.stdout, /FAIL/);
});

test('pages of events in both directions', async (t) => {
  /* Creating API keys makes no events, so page over what the money test made. */
  const all = await payd.api('GET', '/v1/events?limit=100');
  assert.equal(all.status, 200, all.text);
  const ids = all.body.data.map((e) => e.id);
  if (ids.length < 4) {
    t.skip('fewer than 4 events: payments are not there yet');
    return;
  }
  const first = await payd.api('GET', '/v1/events?limit=2');
  assert.deepEqual(first.body.data.map((e) => e.id), ids.slice(0, 2));
  assert.equal(first.body.has_more, true);
  const next = await payd.api('GET', `/v1/events?limit=2&starting_after=${ids[1]}`);
  assert.deepEqual(next.body.data.map((e) => e.id), ids.slice(2, 4));
  const back = await payd.api('GET', `/v1/events?limit=2&ending_before=${ids[2]}`);
  assert.deepEqual(back.body.data.map((e) => e.id), ids.slice(0, 2));
});
