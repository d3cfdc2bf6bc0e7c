'use strict';
/* What every SDK call relies on: idempotency keys, the error classes for
 * 401/403/429, Request-Id as requestId, Stripe-Version, Basic auth. */
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Stripe, startCompat, rejects, stopPayd } = require('./lib/stripe');

let payd;
let stripe;
let client;
before(async () => { ({ payd, stripe, client } = await startCompat()); });
after(() => stopPayd(payd));

test('idempotencyKey: a retry returns the same object, marked Idempotent-Replayed', async () => {
  const key = `compat-${Date.now()}-cus`;
  const first = await stripe.customers.create({ email: 'idem@example.com' }, { idempotencyKey: key });
  assert.equal(first.lastResponse.headers['idempotent-replayed'], undefined);
  assert.equal(first.lastResponse.idempotencyKey, key, 'the key is echoed');
  const again = await stripe.customers.create({ email: 'idem@example.com' }, { idempotencyKey: key });
  assert.equal(again.id, first.id);
  assert.deepEqual({ ...again }, { ...first });
  assert.equal(again.lastResponse.headers['idempotent-replayed'], 'true');
  const list = await stripe.customers.list({ email: 'idem@example.com' });
  assert.equal(list.data.length, 1, 'one customer, not two');
});

test('idempotencyKey on a charge: the retry does not charge twice', async () => {
  const key = `compat-${Date.now()}-pi`;
  const params = { amount: 3100, currency: 'usd', payment_method: 'pm_card_visa', confirm: true, metadata: { order: 'o-1' } };
  const first = await stripe.paymentIntents.create(params, { idempotencyKey: key });
  const again = await stripe.paymentIntents.create(params, { idempotencyKey: key });
  assert.equal(again.id, first.id);
  assert.equal(again.status, 'succeeded');
  assert.equal(again.lastResponse.headers['idempotent-replayed'], 'true');
  const txns = await stripe.balanceTransactions.list({ source: first.id });
  assert.equal(txns.data.length, 1, 'one capture in the ledger');
  /* A replayed decline is the same StripeCardError with the same intent. */
  const dkey = `compat-${Date.now()}-decline`;
  const dparams = { amount: 100, currency: 'usd', payment_method: 'pm_card_chargeDeclined', confirm: true };
  const e1 = await rejects(() => stripe.paymentIntents.create(dparams, { idempotencyKey: dkey }));
  const e2 = await rejects(() => stripe.paymentIntents.create(dparams, { idempotencyKey: dkey }));
  assert.ok(e2 instanceof Stripe.errors.StripeCardError);
  assert.equal(e2.payment_intent.id, e1.payment_intent.id);
  assert.equal(e2.decline_code, 'generic_decline');
  assert.equal(e2.headers['idempotent-replayed'], 'true');
});

test('the same idempotencyKey with other parameters: StripeIdempotencyError', async () => {
  const key = `compat-${Date.now()}-mismatch`;
  await stripe.customers.create({ email: 'first@example.com' }, { idempotencyKey: key });
  const err = await rejects(() => stripe.customers.create({ email: 'second@example.com' }, { idempotencyKey: key }));
  assert.ok(err instanceof Stripe.errors.StripeIdempotencyError, err.constructor.name);
  assert.equal(err.type, 'StripeIdempotencyError');
  assert.equal(err.rawType, 'idempotency_error');
  assert.equal(err.statusCode, 400);
  const list = await stripe.customers.list({ email: 'second@example.com' });
  assert.equal(list.data.length, 0);
});

test('every POST carries the SDK\'s own Idempotency-Key, which payd accepts', async () => {
  const keys = [];
  const onRequest = (e) => keys.push(e.idempotency_key);
  stripe.on('request', onRequest);
  let c;
  try {
    c = await stripe.customers.create({ email: 'auto@example.com' });
  } finally {
    stripe.off('request', onRequest);
  }
  assert.match(keys[0] || '', /^stripe-node-retry-/);
  assert.equal(c.object, 'customer');
  assert.equal(c.lastResponse.idempotencyKey, keys[0]);
});

test('a bad key: StripeAuthenticationError (401); requestId is the Request-Id header', async () => {
  const bad = client('sk_test_thisKeyDoesNotExist0000000000');
  const err = await rejects(() => bad.customers.list());
  assert.ok(err instanceof Stripe.errors.StripeAuthenticationError, err.constructor.name);
  assert.equal(err.type, 'StripeAuthenticationError');
  assert.equal(err.statusCode, 401);
  assert.match(err.requestId, /^req_/);
  assert.equal(err.requestId, err.headers['request-id']);
  /* The access log line is written just after the answer: wait for it. */
  const deadline = Date.now() + 5000;
  while (!payd.log().includes(`"request_id":"${err.requestId}"`) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(payd.log().includes(`"request_id":"${err.requestId}"`), 'the same id is in payd\'s access log');
});

test('a revoked key: StripeAuthenticationError', async () => {
  const k = await payd.keysCreate({ role: 'staff', name: 'to-revoke' });
  const s = client(k.secret);
  await s.customers.list();
  /* Revoked over the API: this payd refuses it at once (another payd would within 5 s). */
  const r = await payd.api('DELETE', `/v1/keys/${k.id}`);
  assert.equal(r.status, 200);
  const err = await rejects(() => s.customers.list());
  assert.ok(err instanceof Stripe.errors.StripeAuthenticationError, err.constructor.name);
});

test('an auditor creating a customer: StripePermissionError (403); reading is allowed', async () => {
  const auditor = client(await payd.createKey('auditor'));
  const list = await auditor.customers.list();
  assert.equal(list.object, 'list');
  const err = await rejects(() => auditor.customers.create({ email: 'no@example.com' }));
  assert.ok(err instanceof Stripe.errors.StripePermissionError, err.constructor.name);
  assert.equal(err.statusCode, 403);
  const refund = await rejects(() => auditor.refunds.create({ payment_intent: 'pi_x' }));
  assert.ok(refund instanceof Stripe.errors.StripePermissionError, refund.constructor.name);
});

test('lastResponse: requestId, statusCode and apiVersion (Stripe-Version echoed)', async () => {
  const c = await stripe.customers.create({});
  assert.match(c.lastResponse.requestId, /^req_[0-9A-Za-z]+$/);
  assert.equal(c.lastResponse.requestId, c.lastResponse.headers['request-id']);
  assert.equal(c.lastResponse.statusCode, 200);
  assert.equal(c.lastResponse.apiVersion, Stripe.API_VERSION);
  const pinned = client(payd.adminKey, { apiVersion: '2024-06-20' });
  const got = await pinned.customers.retrieve(c.id);
  assert.equal(got.lastResponse.apiVersion, '2024-06-20');
  const other = await stripe.customers.retrieve(c.id);
  assert.notEqual(other.lastResponse.requestId, c.lastResponse.requestId, 'one id per request');
});

test('HTTP Basic auth (key as user name) works like Bearer, with a custom authenticator', async () => {
  const basic = new Stripe(null, {
    host: '127.0.0.1', port: payd.port, protocol: 'http', maxNetworkRetries: 0,
    authenticator: async (request) => {
      request.headers.Authorization = `Basic ${Buffer.from(`${payd.adminKey}:`).toString('base64')}`;
    },
  });
  const c = await basic.customers.create({ email: 'basic@example.com' });
  assert.equal(c.object, 'customer');
  const wrong = new Stripe(null, {
    host: '127.0.0.1', port: payd.port, protocol: 'http', maxNetworkRetries: 0,
    authenticator: async (request) => {
      request.headers.Authorization = `Basic ${Buffer.from('sk_test_nope:').toString('base64')}`;
    },
  });
  const err = await rejects(() => wrong.customers.list());
  assert.ok(err instanceof Stripe.errors.StripeAuthenticationError, err.constructor.name);
});

test('rawRequest reaches payd routes the SDK has no method for (GET /v1/balance)', async () => {
  const r = await stripe.rawRequest('GET', '/v1/balance');
  assert.equal(r.object, 'balance');
});

test('an unknown object id: StripeInvalidRequestError with code resource_missing', async () => {
  const err = await rejects(() => stripe.paymentIntents.retrieve('pi_000000000000000000000000'));
  assert.ok(err instanceof Stripe.errors.StripeInvalidRequestError, err.constructor.name);
  assert.equal(err.code, 'resource_missing');
  assert.equal(err.statusCode, 404);
});

test('every object the SDK returns carries object', async () => {
  const c = await stripe.customers.create({});
  const pi = await stripe.paymentIntents.create({ amount: 500, currency: 'usd', customer: c.id, payment_method: 'pm_card_visa', confirm: true });
  const re = await stripe.refunds.create({ payment_intent: pi.id, amount: 100 });
  const objs = [
    c, pi, re,
    await stripe.paymentMethods.retrieve(pi.payment_method),
    (await stripe.balanceTransactions.list({ limit: 1 })).data[0],
    (await stripe.events.list({ limit: 1 })).data[0],
    await stripe.balance.retrieve(),
  ];
  assert.deepEqual(objs.map((o) => o.object),
    ['customer', 'payment_intent', 'refund', 'payment_method', 'balance_transaction', 'event', 'balance']);
});

/* payd serve's per-key rate limit flag, when this build has one (else null). */
async function rateLimitFlag() {
  const { runPayd } = require('../api/lib/payd');
  const r = await runPayd(['serve', '--help']);
  const m = `${r.stdout}\n${r.stderr}`.match(/(--rate[a-z-]*-key)\b/);
  return m ? m[1] : null;
}

test('over the per-key rate limit: StripeRateLimitError (429)', async (t) => {
  const flag = await rateLimitFlag();
  if (!flag) {
    t.skip('this payd has no per-key rate limit option');
    return;
  }
  const limited = await startCompat({ args: [flag, '1:2'] });
  try {
    let err = null;
    for (let i = 0; i < 10 && !err; i++) {
      try {
        await limited.stripe.customers.list({ limit: 1 });
      } catch (e) {
        err = e;
      }
    }
    assert.ok(err, 'ten requests at once exceed 1 a second with a burst of 2');
    assert.ok(err instanceof Stripe.errors.StripeRateLimitError, err.constructor.name);
    assert.equal(err.statusCode, 429);
    assert.match(err.requestId, /^req_/);
  } finally {
    await stopPayd(limited.payd);
  }
});
