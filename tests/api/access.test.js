'use strict';
/*
 * access.test.js - who may do what with payment intents and refunds:
 * admin and staff everything; auditors read only; a patient's token creates,
 * confirms, reads, lists and cancels only its own customer's intents, reads
 * only its own refunds, and gets 404 (never 403) for any other patient's
 * intent, refund, customer or payment method, so existence does not leak.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const { startPayd } = require('./lib/payd');
const { expectError, ok, newCustomer, createIntent, intent } = require('./lib/intents');

let payd;
let staffKey;
let auditorKey;
let staffToken;
const A = {};
const B = {};

test.before(async () => {
  payd = await startPayd();
  staffKey = await payd.createKey('staff');
  auditorKey = await payd.createKey('auditor');
  staffToken = await payd.mintToken({ sub: 'nurse_1', role: 'staff' });
  for (const [who, name] of [[A, 'Amina'], [B, 'Bashir']]) {
    who.customer = await newCustomer(payd, { name });
    who.token = await payd.mintToken({ sub: `patient_${name}`, role: 'patient', customer: who.customer.id });
    /* One paid and refunded intent and one saved card per patient, made by staff. */
    who.paid = await intent(payd, { customer: who.customer.id, amount: 2000, payment_method: 'pm_card_visa', confirm: true, setup_future_usage: 'off_session' }, { key: staffKey });
    who.refund = ok(await payd.api('POST', '/v1/refunds', { form: { payment_intent: who.paid.id, amount: 500 }, key: staffKey }));
    who.pm = who.paid.payment_method;
    who.held = await intent(payd, { customer: who.customer.id, capture_method: 'manual', payment_method: 'pm_card_visa', confirm: true });
  }
});

test.after(async () => {
  if (payd) await payd.stop();
});

const as = (who) => ({ token: who.token });

test('a patient creates and pays its own intent; the customer defaults to its own', async () => {
  const pi = ok(await createIntent(payd, { amount: 1200 }, as(A)));
  assert.equal(pi.customer, A.customer.id);
  const explicit = ok(await createIntent(payd, { amount: 1300, customer: A.customer.id }, as(A)));
  assert.equal(explicit.customer, A.customer.id);
  const paid = ok(await payd.api('POST', `/v1/payment_intents/${pi.id}/confirm`, { form: { payment_method: 'pm_card_visa' }, ...as(A) }));
  assert.equal(paid.status, 'succeeded');
  assert.deepEqual(ok(await payd.api('GET', `/v1/payment_intents/${pi.id}`, as(A))), paid);
  const c = ok(await payd.api('POST', `/v1/payment_intents/${explicit.id}/cancel`, { form: {}, ...as(A) }));
  assert.equal(c.status, 'canceled');
  /* Its own saved card pays. */
  const saved = ok(await createIntent(payd, { payment_method: A.pm, confirm: true }, as(A)));
  assert.equal(saved.status, 'succeeded');
});

test("a patient cannot create for another patient's customer or with another's card (404)", async () => {
  expectError(await createIntent(payd, { customer: B.customer.id }, as(A)), 404, { code: 'resource_missing', param: 'customer' });
  expectError(await createIntent(payd, { payment_method: B.pm }, as(A)), 404, { code: 'resource_missing', param: 'payment_method' });
  const mine = ok(await createIntent(payd, {}, as(A)));
  expectError(await payd.api('POST', `/v1/payment_intents/${mine.id}/confirm`, { form: { payment_method: B.pm }, ...as(A) }), 404,
    { code: 'resource_missing', param: 'payment_method' });
  assert.equal(ok(await payd.api('GET', `/v1/payment_intents/${mine.id}`, as(A))).status, 'requires_payment_method');
});

test("another patient's intent is 404 on every route with an id", async () => {
  for (const id of [B.paid.id, B.held.id]) {
    expectError(await payd.api('GET', `/v1/payment_intents/${id}`, as(A)), 404, { code: 'resource_missing' });
    expectError(await payd.api('POST', `/v1/payment_intents/${id}/confirm`, { form: {}, ...as(A) }), 404, { code: 'resource_missing' });
    expectError(await payd.api('POST', `/v1/payment_intents/${id}/cancel`, { form: {}, ...as(A) }), 404, { code: 'resource_missing' });
  }
  assert.equal(ok(await payd.api('GET', `/v1/payment_intents/${B.held.id}`, as(B))).status, 'requires_capture');
});

test("another patient's refund, customer and payment method are 404", async () => {
  expectError(await payd.api('GET', `/v1/refunds/${B.refund.id}`, as(A)), 404, { code: 'resource_missing' });
  expectError(await payd.api('GET', `/v1/customers/${B.customer.id}`, as(A)), 404, { code: 'resource_missing' });
  expectError(await payd.api('GET', `/v1/payment_methods/${B.pm}`, as(A)), 404, { code: 'resource_missing' });
  assert.equal(ok(await payd.api('GET', `/v1/refunds/${A.refund.id}`, as(A))).id, A.refund.id);
  assert.equal(ok(await payd.api('GET', `/v1/customers/${A.customer.id}`, as(A))).id, A.customer.id);
  assert.equal(ok(await payd.api('GET', `/v1/payment_methods/${A.pm}`, as(A))).id, A.pm);
});

test('lists show a patient only its own intents and refunds', async () => {
  const mine = ok(await payd.api('GET', '/v1/payment_intents?limit=100', as(A)));
  assert.ok(mine.data.length >= 2);
  for (const pi of mine.data) assert.equal(pi.customer, A.customer.id);
  assert.ok(mine.data.some((pi) => pi.id === A.paid.id));
  assert.equal(ok(await payd.api('GET', `/v1/payment_intents?customer=${B.customer.id}`, as(A))).data.length, 0);

  const refunds = ok(await payd.api('GET', '/v1/refunds?limit=100', as(A)));
  assert.deepEqual(refunds.data.map((r) => r.id), [A.refund.id]);
  assert.equal(ok(await payd.api('GET', `/v1/refunds?payment_intent=${B.paid.id}`, as(A))).data.length, 0);
  assert.equal(ok(await payd.api('GET', `/v1/refunds?payment_intent=${A.paid.id}`, as(A))).data.length, 1);

  const all = ok(await payd.api('GET', '/v1/payment_intents?limit=100', { key: staffKey }));
  assert.ok(all.data.some((pi) => pi.customer === B.customer.id));
  assert.ok(all.data.some((pi) => pi.customer === A.customer.id));
});

test('a patient may not update, capture or refund (403, even its own)', async () => {
  expectError(await payd.api('POST', `/v1/payment_intents/${A.held.id}`, { form: { description: 'x' }, ...as(A) }), 403, { code: 'permission_denied' });
  expectError(await payd.api('POST', `/v1/payment_intents/${A.held.id}/capture`, { form: {}, ...as(A) }), 403, { code: 'permission_denied' });
  expectError(await payd.api('POST', '/v1/refunds', { form: { payment_intent: A.paid.id }, ...as(A) }), 403, { code: 'permission_denied' });
  expectError(await payd.api('POST', `/v1/refunds/${A.refund.id}`, { form: { metadata: { a: 'b' } }, ...as(A) }), 403, { code: 'permission_denied' });
  expectError(await payd.api('POST', `/v1/refunds/${A.refund.id}/cancel`, { form: {}, ...as(A) }), 403, { code: 'permission_denied' });
  assert.equal(ok(await payd.api('GET', `/v1/payment_intents/${A.held.id}`, { key: staffKey })).status, 'requires_capture');
  assert.equal(ok(await payd.api('GET', `/v1/payment_intents/${A.paid.id}`, { key: staffKey })).amount_refunded, 500);
});

test('an auditor reads everything and changes nothing', async () => {
  const o = { key: auditorKey };
  assert.equal(ok(await payd.api('GET', `/v1/payment_intents/${B.paid.id}`, o)).id, B.paid.id);
  assert.ok(ok(await payd.api('GET', '/v1/payment_intents', o)).data.length > 0);
  assert.equal(ok(await payd.api('GET', `/v1/refunds/${A.refund.id}`, o)).id, A.refund.id);
  assert.ok(ok(await payd.api('GET', '/v1/refunds', o)).data.length >= 2);
  expectError(await createIntent(payd, {}, o), 403, { code: 'permission_denied' });
  for (const action of ['', '/confirm', '/capture', '/cancel']) {
    expectError(await payd.api('POST', `/v1/payment_intents/${B.held.id}${action}`, { form: {}, ...o }), 403, { code: 'permission_denied' });
  }
  expectError(await payd.api('POST', '/v1/refunds', { form: { payment_intent: B.paid.id }, ...o }), 403, { code: 'permission_denied' });
  expectError(await payd.api('POST', `/v1/refunds/${B.refund.id}`, { form: {}, ...o }), 403, { code: 'permission_denied' });
  assert.equal(ok(await payd.api('GET', `/v1/payment_intents/${B.held.id}`)).status, 'requires_capture');
});

test('staff (API key or JWT) do everything', async () => {
  for (const o of [{ key: staffKey }, { token: staffToken }]) {
    const pi = ok(await createIntent(payd, { customer: B.customer.id, capture_method: 'manual', payment_method: 'pm_card_visa', confirm: true }, o));
    ok(await payd.api('POST', `/v1/payment_intents/${pi.id}`, { form: { description: 'staff' }, ...o }));
    const cap = ok(await payd.api('POST', `/v1/payment_intents/${pi.id}/capture`, { form: {}, ...o }));
    assert.equal(cap.status, 'succeeded');
    const re = ok(await payd.api('POST', '/v1/refunds', { form: { payment_intent: pi.id }, ...o }));
    ok(await payd.api('POST', `/v1/refunds/${re.id}`, { form: { metadata: { by: 'staff' } }, ...o }));
    assert.equal(ok(await payd.api('GET', `/v1/refunds/${re.id}`, o)).metadata.by, 'staff');
  }
});

test('no credentials: 401 on the API; the 3-D Secure page needs only the client secret', async () => {
  expectError(await payd.api('GET', `/v1/payment_intents/${A.paid.id}`, { key: null }), 401);
  expectError(await payd.api('POST', '/v1/payment_intents', { form: { amount: 100, currency: 'usd' }, key: null }), 401);
  expectError(await payd.api('GET', '/v1/refunds', { key: null }), 401);
  const ra = ok(await createIntent(payd, { payment_method: 'pm_card_threeDSecure2Required', confirm: true }, as(B)));
  assert.equal(ra.status, 'requires_action');
  const page = await fetch(`${payd.url}/sandbox/3ds/${ra.id}?client_secret=${encodeURIComponent(ra.client_secret)}`);
  assert.equal(page.status, 200);
  const otherSecret = await fetch(`${payd.url}/sandbox/3ds/${ra.id}?client_secret=${encodeURIComponent(A.paid.client_secret)}`);
  assert.equal(otherSecret.status, 404);
});
