'use strict';
/*
 * payment_methods.test.js - /v1/payment_methods over HTTP: cards of every
 * brand and Stripe's test names, card errors (402 incorrect_number for
 * 4242 4242 4242 4241, expiry, CVC), missing and unknown parameters,
 * attach/detach/list, the default payment method rule, update, events, who
 * may do what, and that the card number and CVC appear nowhere: not in
 * responses, events, the database or the log.
 */
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const { execFileSync } = require('node:child_process');
const { startPayd } = require('./lib/payd');

let payd;
const NEXT_YEAR = new Date().getUTCFullYear() + 1;

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
  if (param !== undefined) assert.equal(r.body.error.param, param, r.text);
}

/* A card error names its cause Stripe's way: type card_error, and the
 * cause (incorrect_number, ...) as error.code. */
function assertCardError(r, cause, param) {
  assert.equal(r.status, 402, r.text);
  assert.equal(r.body.error.type, 'card_error', r.text);
  assert.equal(r.body.error.code, cause, r.text);
  if (param !== undefined) assert.equal(r.body.error.param, param, r.text);
}

async function createCustomer(form = {}) {
  const r = await payd.api('POST', '/v1/customers', { form });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

async function createCard(number, extra = {}, o = {}) {
  const r = await payd.api('POST', '/v1/payment_methods', {
    form: { type: 'card', card: { number, exp_month: 12, exp_year: NEXT_YEAR, cvc: '123' }, ...extra },
    ...o,
  });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

async function fromToken(token, o = {}) {
  const r = await payd.api('POST', '/v1/payment_methods', { form: { type: 'card', card: { token } }, ...o });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

async function attach(pm, customer, o = {}) {
  return payd.api('POST', `/v1/payment_methods/${pm}/attach`, { form: { customer }, ...o });
}

const CARDS = [
  ['4242424242424242', 'visa', '4242'],
  ['4000056655665556', 'visa', '5556'],
  ['5555555555554444', 'mastercard', '4444'],
  ['2223003122003222', 'mastercard', '3222'],
  ['378282246310005', 'amex', '0005'],
  ['6011111111111117', 'discover', '1117'],
  ['3566002020360505', 'jcb', '0505'],
  ['3056930009020004', 'diners', '0004'],
  ['36227206271667', 'diners', '1667'],
  ['6200000000000005', 'unionpay', '0005'],
];

test('cards of every brand: Stripe\'s PaymentMethod shape, no number or CVC', async () => {
  for (const [number, brand, last4] of CARDS) {
    const r = await payd.api('POST', '/v1/payment_methods', {
      form: { type: 'card', card: { number, exp_month: 7, exp_year: NEXT_YEAR, cvc: '9173' } },
    });
    assert.equal(r.status, 200, `${number}: ${r.text}`);
    const pm = r.body;
    assert.match(pm.id, /^pm_[0-9A-Za-z]{24}$/);
    assert.equal(pm.object, 'payment_method');
    assert.equal(pm.type, 'card');
    assert.equal(pm.customer, null);
    assert.equal(pm.livemode, false);
    assert.deepEqual(pm.metadata, {});
    assert.equal(pm.card.brand, brand, number);
    assert.equal(pm.card.last4, last4);
    assert.equal(pm.card.exp_month, 7);
    assert.equal(pm.card.exp_year, NEXT_YEAR);
    assert.match(pm.card.fingerprint, /^[0-9A-Za-z]{16}$/);
    assert.equal(pm.card.checks.cvc_check, 'pass');
    assert.deepEqual(pm.billing_details, {
      address: { city: null, country: null, line1: null, line2: null, postal_code: null, state: null },
      email: null, name: null, phone: null,
    });
    assert.ok(!r.text.includes(number), 'the number is not in the response');
    assert.ok(!r.text.includes(number.slice(0, 12)), 'no long prefix of it either');
    assert.ok(!r.text.includes('9173'), 'the CVC is not in the response');
    assert.ok(!('number' in pm.card) && !('cvc' in pm.card));
  }
  const visa = await createCard('4242 4242 4242 4242');
  assert.equal(visa.card.funding, 'credit');
  assert.equal(visa.card.country, 'US');
  const debit = await createCard('4000056655665556');
  assert.equal(debit.card.funding, 'debit');
});

test('fingerprints: equal numbers give equal fingerprints, others differ', async () => {
  const a = await createCard('4242424242424242');
  const b = await createCard('4242-4242-4242-4242');
  const c = await fromToken('tok_visa');
  const d = await createCard('5555555555554444');
  assert.equal(a.card.fingerprint, b.card.fingerprint);
  assert.equal(a.card.fingerprint, c.card.fingerprint);
  assert.notEqual(a.card.fingerprint, d.card.fingerprint);
  assert.notEqual(a.id, b.id);
});

test('Stripe\'s test tokens and names', async () => {
  const cases = [
    ['tok_visa', 'visa', '4242'], ['tok_mastercard', 'mastercard', '4444'], ['tok_amex', 'amex', '0005'],
    ['tok_chargeDeclined', 'visa', '0002'], ['tok_chargeDeclinedInsufficientFunds', 'visa', '9995'],
    ['pm_card_visa', 'visa', '4242'], ['pm_card_mastercard', 'mastercard', '4444'],
    ['pm_card_visa_debit', 'visa', '5556'], ['pm_card_discover', 'discover', '1117'],
    ['pm_card_chargeDeclined', 'visa', '0002'], ['pm_card_chargeDeclinedExpiredCard', 'visa', '0069'],
    ['pm_card_threeDSecure2Required', 'visa', '3220'], ['pm_card_authenticationRequired', 'visa', '3184'],
  ];
  for (const [token, brand, last4] of cases) {
    const pm = await fromToken(token);
    assert.equal(pm.card.brand, brand, token);
    assert.equal(pm.card.last4, last4, token);
    assert.equal(pm.card.exp_month, 12);
    assert.equal(pm.card.exp_year, NEXT_YEAR);
  }
  assertError(await payd.api('POST', '/v1/payment_methods', { form: { type: 'card', card: { token: 'tok_nope' } } }),
    404, 'resource_missing', 'card[token]');
  assertError(await payd.api('POST', '/v1/payment_methods', {
    form: { type: 'card', card: { token: 'tok_visa', number: '4242424242424242' } },
  }), 400, 'parameter_invalid', 'card[token]');
});

test('card errors: 402 card_error naming the field', async () => {
  const post = (card) => payd.api('POST', '/v1/payment_methods', { form: { type: 'card', card } });
  const good = { number: '4242424242424242', exp_month: 12, exp_year: NEXT_YEAR, cvc: '123' };
  let r = await post({ ...good, number: '4242424242424241' });
  assertCardError(r, 'incorrect_number', 'card[number]');
  assert.equal(r.body.error.message, 'Your card number is incorrect.');
  assert.ok(!r.text.includes('4242424242424241'));
  assertCardError(await post({ ...good, number: '4242 4242 4242' }), 'invalid_number', 'card[number]');
  assertCardError(await post({ ...good, number: '4242x4242x4242x4242' }), 'invalid_number', 'card[number]');
  assertCardError(await post({ ...good, exp_month: 13 }), 'invalid_expiry_month', 'card[exp_month]');
  assertCardError(await post({ ...good, exp_month: 0 }), 'invalid_expiry_month', 'card[exp_month]');
  assertCardError(await post({ ...good, exp_year: 2001 }), 'invalid_expiry_year', 'card[exp_year]');
  assertCardError(await post({ ...good, exp_year: NEXT_YEAR + 60 }), 'invalid_expiry_year', 'card[exp_year]');
  assertCardError(await post({ ...good, cvc: '12' }), 'invalid_cvc', 'card[cvc]');
  assertCardError(await post({ ...good, cvc: 'abc' }), 'invalid_cvc', 'card[cvc]');
  /* Without a CVC is fine (Stripe does not require one). */
  r = await post({ number: '4242424242424242', exp_month: 12, exp_year: NEXT_YEAR });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.card.checks.cvc_check, null);
  /* A two-digit year means 20YY. */
  r = await post({ ...good, exp_year: String(NEXT_YEAR % 100) });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.card.exp_year, NEXT_YEAR);
});

test('missing and unknown parameters: 400 naming them', async () => {
  const post = (form) => payd.api('POST', '/v1/payment_methods', { form });
  assertError(await post({ card: { token: 'tok_visa' } }), 400, 'parameter_missing', 'type');
  assertError(await post({ type: 'sepa_debit', card: { token: 'tok_visa' } }), 400, 'parameter_invalid', 'type');
  assertError(await post({ type: 'card' }), 400, 'parameter_missing', 'card');
  assertError(await post({ type: 'card', card: { number: '4242424242424242', exp_year: NEXT_YEAR } }),
    400, 'parameter_missing', 'card[exp_month]');
  assertError(await post({ type: 'card', card: { number: '4242424242424242', exp_month: 1 } }),
    400, 'parameter_missing', 'card[exp_year]');
  assertError(await post({ type: 'card', card: { number: '4242424242424242', exp_month: 'jan', exp_year: NEXT_YEAR } }),
    400, 'parameter_invalid_integer', 'card[exp_month]');
  assertError(await post({ type: 'card', card: { token: 'tok_visa', colour: 'red' } }),
    400, 'parameter_unknown', 'card[colour]');
  assertError(await post({ type: 'card', card: { token: 'tok_visa' }, customer: 'cus_x' }),
    400, 'parameter_unknown', 'customer');
  assertError(await post({ type: 'card', card: { token: 'tok_visa' }, billing_details: { fax: '1' } }),
    400, 'parameter_unknown', 'billing_details[fax]');
  assertError(await payd.api('GET', '/v1/payment_methods'), 400, 'parameter_missing', 'customer');
  assertError(await payd.api('GET', '/v1/payment_methods/pm_000000000000000000000000'), 404, 'resource_missing', 'id');
  assertError(await payd.api('GET', '/v1/payment_methods/nonsense'), 404, 'resource_missing');
});

test('billing details and metadata on create', async () => {
  const pm = await createCard('5555555555554444', {
    billing_details: { name: 'Amna Osman', email: 'amna@example.com', address: { city: 'Khartoum', country: 'SD' } },
    metadata: { source: 'front-desk' },
  });
  assert.equal(pm.billing_details.name, 'Amna Osman');
  assert.equal(pm.billing_details.email, 'amna@example.com');
  assert.equal(pm.billing_details.phone, null);
  assert.deepEqual(pm.billing_details.address, {
    city: 'Khartoum', country: 'SD', line1: null, line2: null, postal_code: null, state: null,
  });
  assert.deepEqual(pm.metadata, { source: 'front-desk' });
  const g = await payd.api('GET', `/v1/payment_methods/${pm.id}`);
  assert.equal(g.status, 200, g.text);
  assert.deepEqual(g.body, pm);
});

test('attach, list by customer, detach', async () => {
  const cus = await createCustomer({ email: 'cards@example.com' });
  const a = await createCard('4242424242424242');
  const b = await fromToken('tok_mastercard');

  let r = await attach(a.id, cus.id);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.customer, cus.id);
  r = await attach(a.id, cus.id);
  assert.equal(r.status, 200, 'attaching again to the same customer is a no-op');
  r = await attach(b.id, cus.id);
  assert.equal(r.status, 200, r.text);

  for (const url of [`/v1/payment_methods?customer=${cus.id}&type=card`, `/v1/payment_methods?customer=${cus.id}`,
    `/v1/customers/${cus.id}/payment_methods`, `/v1/customers/${cus.id}/payment_methods?type=card`]) {
    r = await payd.api('GET', url);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.object, 'list');
    assert.deepEqual(r.body.data.map((p) => p.id), [b.id, a.id], url);
    assert.ok(r.body.data.every((p) => p.customer === cus.id));
  }
  r = await payd.api('GET', `/v1/payment_methods?customer=${cus.id}&limit=1`);
  assert.deepEqual(r.body.data.map((p) => p.id), [b.id]);
  assert.equal(r.body.has_more, true);
  r = await payd.api('GET', `/v1/payment_methods?customer=${cus.id}&limit=1&starting_after=${b.id}`);
  assert.deepEqual(r.body.data.map((p) => p.id), [a.id]);
  assert.equal(r.body.has_more, false);

  r = await payd.api('GET', `/v1/payment_methods/${a.id}?expand[]=customer`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.customer.id, cus.id);
  assert.equal(r.body.customer.object, 'customer');

  const other = await createCustomer();
  assertError(await attach(a.id, other.id), 400, 'parameter_invalid');
  assertError(await attach(a.id, 'cus_000000000000000000000000'), 404, 'resource_missing', 'customer');
  assertError(await attach('pm_000000000000000000000000', cus.id), 404, 'resource_missing');
  assertError(await payd.api('POST', `/v1/payment_methods/${a.id}/attach`, { form: {} }), 400, 'parameter_missing', 'customer');
  assertError(await payd.api('POST', `/v1/payment_methods/${a.id}/attach`, { form: { customer: cus.id, extra: '1' } }),
    400, 'parameter_unknown', 'extra');

  r = await payd.api('POST', `/v1/payment_methods/${a.id}/detach`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.customer, null);
  assertError(await payd.api('POST', `/v1/payment_methods/${a.id}/detach`), 400, 'parameter_invalid');
  r = await payd.api('GET', `/v1/customers/${cus.id}/payment_methods`);
  assert.deepEqual(r.body.data.map((p) => p.id), [b.id]);

  /* A detached card can be attached elsewhere. */
  r = await attach(a.id, other.id);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.customer, other.id);

  assertError(await payd.api('GET', '/v1/payment_methods?customer=cus_000000000000000000000000'), 404, 'resource_missing', 'customer');
  assertError(await payd.api('GET', `/v1/payment_methods?customer=${cus.id}&type=ideal`), 400, undefined, 'type');

  const ev = await payd.api('GET', '/v1/events?type=payment_method.*&limit=100');
  const mine = ev.body.data.filter((e) => e.data.object.id === a.id).map((e) => [e.type, e.data.object.customer]);
  assert.deepEqual(mine, [
    ['payment_method.attached', other.id],
    ['payment_method.detached', null],
    ['payment_method.attached', cus.id],
  ]);
});

test('attach runs Stripe\'s card check: declining cards are refused, 0341 attaches', async () => {
  const cus = await createCustomer();
  for (const [number, code] of [['4000000000000002', 'generic_decline'], ['4000000000009995', 'insufficient_funds'],
    ['4000000000000069', 'expired_card'], ['4100000000000019', 'fraudulent']]) {
    const pm = await createCard(number);
    const r = await attach(pm.id, cus.id);
    assert.equal(r.status, 402, r.text);
    assert.equal(r.body.error.type, 'card_error');
    assert.equal(r.body.error.decline_code, code, r.text);
    const g = await payd.api('GET', `/v1/payment_methods/${pm.id}`);
    assert.equal(g.body.customer, null, 'nothing was attached');
  }
  for (const number of ['4000000000000341', '4000002760003184', '4000000000000259']) {
    const pm = await createCard(number);
    const r = await attach(pm.id, cus.id);
    assert.equal(r.status, 200, `${number}: ${r.text}`);
  }
});

test('the default payment method and the rule when it is detached', async () => {
  const cus = await createCustomer();
  const a = await fromToken('tok_visa');
  const b = await fromToken('tok_amex');
  const stranger = await fromToken('tok_mastercard');
  assert.equal((await attach(a.id, cus.id)).status, 200);
  assert.equal((await attach(b.id, cus.id)).status, 200);

  assertError(await payd.api('POST', `/v1/customers/${cus.id}`, {
    form: { invoice_settings: { default_payment_method: stranger.id } },
  }), 400, 'parameter_invalid', 'invoice_settings[default_payment_method]');
  assertError(await payd.api('POST', `/v1/customers/${cus.id}`, {
    form: { invoice_settings: { default_payment_method: 'pm_000000000000000000000000' } },
  }), 400, 'parameter_invalid', 'invoice_settings[default_payment_method]');

  let r = await payd.api('POST', `/v1/customers/${cus.id}`, {
    form: { invoice_settings: { default_payment_method: a.id } },
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.invoice_settings.default_payment_method, a.id);

  /* Detaching another card leaves the default alone. */
  r = await payd.api('POST', `/v1/payment_methods/${b.id}/detach`);
  assert.equal(r.status, 200, r.text);
  assert.equal((await payd.api('GET', `/v1/customers/${cus.id}`)).body.invoice_settings.default_payment_method, a.id);

  /* Detaching the default clears it; nothing is promoted. */
  const c = await fromToken('tok_visa');
  assert.equal((await attach(c.id, cus.id)).status, 200);
  r = await payd.api('POST', `/v1/payment_methods/${a.id}/detach`);
  assert.equal(r.status, 200, r.text);
  const after = (await payd.api('GET', `/v1/customers/${cus.id}`)).body;
  assert.equal(after.invoice_settings.default_payment_method, null);

  const ev = await payd.api('GET', '/v1/events?type=customer.updated&limit=100');
  const updates = ev.body.data.filter((e) => e.data.object.id === cus.id);
  assert.equal(updates[0].data.object.invoice_settings.default_payment_method, null,
    'the newest customer.updated shows the default cleared');
  assert.equal(updates[1].data.object.invoice_settings.default_payment_method, a.id);

  /* "" unsets the default explicitly. */
  await payd.api('POST', `/v1/customers/${cus.id}`, { form: { invoice_settings: { default_payment_method: c.id } } });
  r = await payd.api('POST', `/v1/customers/${cus.id}`, { form: { invoice_settings: { default_payment_method: '' } } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.invoice_settings.default_payment_method, null);
});

test('a customer created with payment_method attaches it and may make it the default', async () => {
  let r = await payd.api('POST', '/v1/customers', {
    form: { email: 'with-card@example.com', payment_method: 'pm_card_visa', invoice_settings: { default_payment_method: 'pm_card_visa' } },
  });
  assert.equal(r.status, 200, r.text);
  const cus = r.body;
  const pmId = cus.invoice_settings.default_payment_method;
  assert.match(pmId, /^pm_[0-9A-Za-z]{24}$/);
  r = await payd.api('GET', `/v1/customers/${cus.id}/payment_methods`);
  assert.deepEqual(r.body.data.map((p) => p.id), [pmId]);

  const pm = await createCard('5555555555554444');
  r = await payd.api('POST', '/v1/customers', { form: { payment_method: pm.id } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.invoice_settings.default_payment_method, null);
  assert.equal((await payd.api('GET', `/v1/payment_methods/${pm.id}`)).body.customer, r.body.id);

  /* A declining card refuses the whole create: no customer is left behind. */
  const before = (await payd.api('GET', '/v1/customers?email=declined-create@example.com')).body.data.length;
  r = await payd.api('POST', '/v1/customers', { form: { email: 'declined-create@example.com', payment_method: 'pm_card_chargeDeclined' } });
  assert.equal(r.status, 402, r.text);
  assert.equal((await payd.api('GET', '/v1/customers?email=declined-create@example.com')).body.data.length, before);
});

test('update: metadata, billing details, expiry; only saved cards', async () => {
  const cus = await createCustomer();
  const pm = await createCard('4242424242424242', { metadata: { a: '1', b: '2' } });
  assertError(await payd.api('POST', `/v1/payment_methods/${pm.id}`, { form: { metadata: { c: '3' } } }),
    400, 'parameter_invalid');
  assert.equal((await attach(pm.id, cus.id)).status, 200);

  let r = await payd.api('POST', `/v1/payment_methods/${pm.id}`, {
    form: { metadata: { a: '', c: '3' }, billing_details: { name: 'Card Holder', address: { postal_code: '11111' } },
      card: { exp_month: 3, exp_year: NEXT_YEAR + 2 } },
  });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.metadata, { b: '2', c: '3' });
  assert.equal(r.body.billing_details.name, 'Card Holder');
  assert.equal(r.body.billing_details.address.postal_code, '11111');
  assert.equal(r.body.card.exp_month, 3);
  assert.equal(r.body.card.exp_year, NEXT_YEAR + 2);
  assert.equal(r.body.card.last4, '4242');

  r = await payd.api('POST', `/v1/payment_methods/${pm.id}`, { form: { billing_details: { address: { city: 'Kassala' } } } });
  assert.equal(r.body.billing_details.address.postal_code, '11111', 'address lines merge');
  assert.equal(r.body.billing_details.address.city, 'Kassala');

  assertCardError(await payd.api('POST', `/v1/payment_methods/${pm.id}`, { form: { card: { exp_month: 13 } } }),
    'invalid_expiry_month', 'card[exp_month]');
  assertCardError(await payd.api('POST', `/v1/payment_methods/${pm.id}`, { form: { card: { exp_year: 2000 } } }),
    'invalid_expiry_year', 'card[exp_year]');
  assertError(await payd.api('POST', `/v1/payment_methods/${pm.id}`, { form: { card: { number: '4242424242424242' } } }),
    400, 'parameter_unknown', 'card[number]');
  assertError(await payd.api('POST', `/v1/payment_methods/${pm.id}`, { form: { type: 'card' } }),
    400, 'parameter_unknown', 'type');

  const g = await payd.api('GET', `/v1/payment_methods/${pm.id}`);
  assert.equal(g.body.card.exp_month, 3, 'a failed update changed nothing');

  const ev = await payd.api('GET', '/v1/events?type=payment_method.updated&limit=100');
  assert.equal(ev.body.data.filter((e) => e.data.object.id === pm.id).length, 2);
});

test('roles and a patient\'s reach', async () => {
  const mine = await createCustomer({ name: 'Patient' });
  const other = await createCustomer({ name: 'Other' });
  const othersCard = await fromToken('tok_visa');
  assert.equal((await attach(othersCard.id, other.id)).status, 200);
  const token = await payd.mintToken({ sub: 'patient-pm', role: 'patient', customer: mine.id });

  /* The patient enters a card: it sees the create response... */
  let r = await payd.api('POST', '/v1/payment_methods', {
    token, form: { type: 'card', card: { number: '4242424242424242', exp_month: 1, exp_year: NEXT_YEAR } },
  });
  assert.equal(r.status, 200, r.text);
  const card = r.body;
  /* ...but not the unattached card afterwards, until it attaches it to itself. */
  assertError(await payd.api('GET', `/v1/payment_methods/${card.id}`, { token }), 404);
  assertError(await attach(card.id, other.id, { token }), 404, 'resource_missing', 'customer');
  r = await attach(card.id, mine.id, { token });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.customer, mine.id);
  r = await payd.api('GET', `/v1/payment_methods/${card.id}`, { token });
  assert.equal(r.status, 200, r.text);
  r = await payd.api('GET', `/v1/payment_methods?customer=${mine.id}`, { token });
  assert.deepEqual(r.body.data.map((p) => p.id), [card.id]);
  r = await payd.api('POST', `/v1/payment_methods/${card.id}`, { token, form: { metadata: { nick: 'my visa' } } });
  assert.equal(r.status, 200, r.text);
  r = await payd.api('POST', `/v1/customers/${mine.id}`, { token, form: { invoice_settings: { default_payment_method: card.id } } });
  assert.equal(r.status, 200, r.text);

  /* Someone else's card and customer do not exist for it. */
  assertError(await payd.api('GET', `/v1/payment_methods/${othersCard.id}`, { token }), 404, 'resource_missing', 'id');
  assertError(await payd.api('POST', `/v1/payment_methods/${othersCard.id}`, { token, form: { metadata: { x: '1' } } }), 404);
  assertError(await payd.api('POST', `/v1/payment_methods/${othersCard.id}/detach`, { token }), 404);
  assertError(await attach(othersCard.id, mine.id, { token }), 404);
  assertError(await payd.api('GET', `/v1/payment_methods?customer=${other.id}`, { token }), 404, 'resource_missing', 'customer');
  assert.equal((await payd.api('GET', `/v1/payment_methods/${othersCard.id}`)).body.customer, other.id, 'untouched');

  r = await payd.api('POST', `/v1/payment_methods/${card.id}/detach`, { token });
  assert.equal(r.status, 200, r.text);
  assert.equal((await payd.api('GET', `/v1/customers/${mine.id}`, { token })).body.invoice_settings.default_payment_method, null);

  const auditor = await payd.createKey('auditor');
  assert.equal((await payd.api('GET', `/v1/payment_methods/${othersCard.id}`, { key: auditor })).status, 200);
  assertError(await payd.api('POST', '/v1/payment_methods', { key: auditor, form: { type: 'card', card: { token: 'tok_visa' } } }), 403);
  assertError(await payd.api('POST', `/v1/payment_methods/${othersCard.id}/detach`, { key: auditor }), 403);
});

test('deleting a customer detaches its cards', async () => {
  const cus = await createCustomer();
  const pm = await fromToken('tok_visa');
  assert.equal((await attach(pm.id, cus.id)).status, 200);
  await payd.api('POST', `/v1/customers/${cus.id}`, { form: { invoice_settings: { default_payment_method: pm.id } } });
  assert.equal((await payd.api('DELETE', `/v1/customers/${cus.id}`)).status, 200);
  const g = await payd.api('GET', `/v1/payment_methods/${pm.id}`);
  assert.equal(g.body.customer, null);
  assertError(await payd.api('GET', `/v1/customers/${cus.id}/payment_methods`), 404, 'resource_missing', 'id');
  const ev = await payd.api('GET', '/v1/events?limit=10');
  const types = ev.body.data.map((e) => e.type);
  assert.deepEqual(types.slice(0, 2), ['customer.deleted', 'payment_method.detached']);
});

test('the number and CVC reach neither the database nor the log', async () => {
  /* Distinctive values, used only here. */
  const number = '4000056655665556';
  const cvc = '8642';
  const first = await createCard(number, { card: { number, exp_month: 5, exp_year: NEXT_YEAR, cvc } });
  assert.ok(!JSON.stringify(first).includes(cvc));
  const cus = await createCustomer();
  const pm = await createCard('3056930009020004', { card: { number: '3056930009020004', exp_month: 5, exp_year: NEXT_YEAR, cvc: '7531' } });
  assert.equal((await attach(pm.id, cus.id)).status, 200);
  /* A Luhn failure and an idempotent create carrying a number too. */
  await payd.api('POST', '/v1/payment_methods', { form: { type: 'card', card: { number: '4000056655665557', exp_month: 5, exp_year: NEXT_YEAR } } });
  const ik = await payd.api('POST', '/v1/payment_methods', {
    idempotencyKey: 'pm-create-1', form: { type: 'card', card: { number: '6011000990139424', exp_month: 5, exp_year: NEXT_YEAR, cvc: '9753' } },
  });
  assert.equal(ik.status, 200, ik.text);

  let dump;
  if (payd.kind === 'sqlite') {
    const file = payd.dbUrl.replace(/^sqlite:/, '');
    dump = [file, `${file}-wal`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f).toString('latin1')).join('\n');
  } else {
    const tables = execFileSync('psql', [payd.dbUrl, '-qAtc',
      "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"]).toString().trim().split('\n');
    dump = tables.map((t) => execFileSync('psql', [payd.dbUrl, '-qAtc', `SELECT t::text FROM "${t}" t`]).toString()).join('\n');
  }
  assert.ok(dump.length > 1000, 'read the database');
  assert.ok(dump.includes(pm.id), 'the dump holds the payment methods');
  /* 16-digit numbers cannot turn up by chance; 4-digit CVCs could (in
   * hashes and timestamps), so they are checked in the responses above. */
  for (const secret of [number, '3056930009020004', '4000056655665557', '6011000990139424']) {
    assert.ok(!dump.includes(secret), `${secret} is not stored`);
  }
  const log = fs.readFileSync(payd.logFile, 'utf8');
  for (const secret of [number, '3056930009020004', '4000056655665557', '6011000990139424']) {
    assert.ok(!log.includes(secret), `${secret} is not logged`);
  }
});
