'use strict';
/*
 * fees.test.js - provider fees to the minor unit through the API (issue 6):
 * a table of amounts and rates in SDG, USD, JPY (no decimals) and KWD
 * (3 decimals) paid through payment intents, each checked on the intent
 * (fee_amount), on the charge's balance transaction (fee, net) and on the
 * merchant balance; partial captures pay the fee on what was captured, at
 * the rates of the authorization; refunds do not return the fee; and
 * `payd audit verify` agrees with the ledger at the end.
 *
 * The rule: fee = round_half_even(amount * fee_bps / 10000) + fee_fixed,
 * never more than the amount. The expected fees in the table were worked
 * by hand (the exact fraction is beside each); halfEven() below is an
 * independent BigInt reading of the rule the table is also checked against.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const { startPayd } = require('./lib/payd');
const { expectError, ok, auditVerify } = require('./lib/intents');

let payd;
let n = 0;

test.before(async () => {
  payd = await startPayd();
});

test.after(async () => {
  if (payd) await payd.stop();
});

/* round_half_even(amount * bps / 10000) + fixed, capped at amount, in BigInt. */
function halfEven(amount, bps, fixed) {
  const num = BigInt(amount) * BigInt(bps);
  let q = num / 10000n;
  const r = num % 10000n;
  if (r * 2n > 10000n || (r * 2n === 10000n && q % 2n === 1n)) q += 1n;
  const fee = q + BigInt(fixed);
  return Number(fee < BigInt(amount) ? fee : BigInt(amount));
}

async function cardProvider(fee_bps, fee_fixed = 0) {
  const r = await payd.api('POST', '/v1/providers', {
    form: { name: `fee-${++n}`, type: 'card', connector: 'sandbox', currencies: ['sdg', 'usd', 'jpy', 'kwd'], fee_bps, fee_fixed, priority: 100 + n },
  });
  return ok(r, 'create provider');
}

async function balance(currency) {
  const b = ok(await payd.api('GET', '/v1/balance')).available.find((x) => x.currency === currency);
  return b ? b.amount : 0;
}

async function chargeBt(piId) {
  const list = ok(await payd.api('GET', `/v1/balance_transactions?source=${piId}&type=charge`));
  assert.equal(list.data.length, 1, JSON.stringify(list));
  return list.data[0];
}

const TABLE = [
  /* currency, amount (minor units), fee_bps, fee_fixed, expected fee */
  ['sdg', 100000, 250, 0, 2500], /* 1000.00 SDG at 2.5 % (Visa) = 25.00 */
  ['sdg', 1020, 250, 0, 26], /* 25.5 -> 26 (even) */
  ['sdg', 1060, 250, 0, 26], /* 26.5 -> 26 (even) */
  ['sdg', 1061, 250, 0, 27], /* 26.525 -> 27 */
  ['sdg', 12345, 150, 0, 185], /* bank cards 1.5 %: 185.175 -> 185 */
  ['sdg', 12350, 100, 0, 124], /* wallets 1 %: 123.5 -> 124 (even) */
  ['sdg', 12250, 100, 0, 122], /* 122.5 -> 122 (even) */
  ['sdg', 50000, 50, 0, 250], /* bank draft 0.5 % */
  ['sdg', 10000, 100, 500, 600], /* 1 % + 5.00 SDG */
  ['sdg', 300, 0, 500, 300], /* a fixed fee above the amount is capped at it */
  ['usd', 1000, 290, 30, 59], /* 29 + 30 */
  ['usd', 1050, 290, 30, 60], /* 30.45 -> 30, + 30 */
  ['usd', 2500, 290, 30, 102], /* 72.5 -> 72 (even), + 30 */
  ['jpy', 125, 200, 0, 2], /* 2.5 -> 2 (even) */
  ['jpy', 175, 200, 0, 4], /* 3.5 -> 4 (even) */
  ['jpy', 99, 250, 10, 12], /* 2.475 -> 2, + 10 */
  ['jpy', 1000, 360, 0, 36],
  ['kwd', 1000, 250, 0, 25], /* 1.000 KWD at 2.5 % = 0.025 */
  ['kwd', 1500, 50, 0, 8], /* 7.5 -> 8 (even) */
  ['kwd', 2500, 50, 0, 12], /* 12.5 -> 12 (even) */
  ['kwd', 12345, 150, 0, 185], /* 185.175 -> 185 */
];

test('the fee table: intent, balance transaction and merchant balance agree to the minor unit', async () => {
  const providers = new Map();
  for (const [currency, amount, bps, fixed, want] of TABLE) {
    assert.equal(halfEven(amount, bps, fixed), want, `table row ${currency} ${amount} ${bps} ${fixed}`);
    const key = `${bps}/${fixed}`;
    if (!providers.has(key)) providers.set(key, await cardProvider(bps, fixed));
    const prov = providers.get(key);
    const before = await balance(currency);
    const pi = ok(await payd.api('POST', '/v1/payment_intents', {
      form: { amount, currency, payment_method: 'pm_card_visa', confirm: true, provider: prov.name },
    }));
    const where = `${amount} ${currency} at ${bps} bps + ${fixed}`;
    assert.equal(pi.status, 'succeeded', where);
    assert.equal(pi.provider, prov.name, where);
    assert.equal(pi.fee_amount, want, where);
    assert.equal(pi.amount_received, amount, where);
    const bt = await chargeBt(pi.id);
    assert.equal(bt.amount, amount, where);
    assert.equal(bt.fee, want, where);
    assert.equal(bt.net, amount - want, where);
    assert.equal(bt.currency, currency, where);
    if (want > 0) assert.deepEqual(bt.fee_details.map((d) => d.amount), [want], where);
    assert.equal(await balance(currency), before + amount - want, where);
    assert.deepEqual(ok(await payd.api('GET', `/v1/payment_intents/${pi.id}`)), pi, where);
  }
  const v = await auditVerify(payd);
  assert.equal(v.code, 0, v.stdout + v.stderr);
});

test('the fee is shown once routed, and a partial capture pays it on what was captured at the authorization\'s rates', async () => {
  const prov = await cardProvider(250);
  const auth = ok(await payd.api('POST', '/v1/payment_intents', {
    form: { amount: 10000, currency: 'sdg', payment_method: 'pm_card_visa', confirm: true, capture_method: 'manual', provider: prov.name },
  }));
  assert.equal(auth.status, 'requires_capture');
  assert.equal(auth.fee_amount, 250, 'the fee on the amount, before capture');
  /* The provider's rate changes between authorization and capture. */
  ok(await payd.api('POST', `/v1/providers/${prov.id}`, { form: { fee_bps: 900 } }));
  const before = await balance('sdg');
  const cap = ok(await payd.api('POST', `/v1/payment_intents/${auth.id}/capture`, { form: { amount_to_capture: 4020 } }));
  assert.equal(cap.status, 'succeeded');
  assert.equal(cap.amount_received, 4020);
  assert.equal(cap.fee_amount, 100, '4020 at 2.5 % = 100.5 -> 100 (even)');
  const bt = await chargeBt(auth.id);
  assert.equal(bt.fee, 100);
  assert.equal(bt.net, 3920);
  assert.equal(await balance('sdg'), before + 3920);
});

test('refunds do not return the fee (as Stripe)', async () => {
  const prov = await cardProvider(250, 100);
  const pi = ok(await payd.api('POST', '/v1/payment_intents', {
    form: { amount: 20000, currency: 'kwd', payment_method: 'pm_card_visa', confirm: true, provider: prov.name },
  }));
  assert.equal(pi.fee_amount, 600);
  const before = await balance('kwd');
  const re1 = ok(await payd.api('POST', '/v1/refunds', { form: { payment_intent: pi.id, amount: 5000 } }));
  const re2 = ok(await payd.api('POST', '/v1/refunds', { form: { payment_intent: pi.id } }));
  assert.equal(re2.amount, 15000, 'the rest of the amount, not of the net');
  for (const re of [re1, re2]) {
    const bt = ok(await payd.api('GET', `/v1/balance_transactions/${re.balance_transaction}`));
    assert.equal(bt.fee, 0);
    assert.equal(bt.net, -re.amount);
  }
  assert.equal(await balance('kwd'), before - 20000, 'the whole amount goes back; the fee stays spent');
  const after = ok(await payd.api('GET', `/v1/payment_intents/${pi.id}`));
  assert.equal(after.amount_refunded, 20000);
  assert.equal(after.fee_amount, 600);
  expectError(await payd.api('POST', '/v1/refunds', { form: { payment_intent: pi.id, amount: 1 } }), 400, { code: 'amount_too_large' });
  const v = await auditVerify(payd);
  assert.equal(v.code, 0, v.stdout + v.stderr);
});

test('the halfEven reference agrees with payd over many amounts at one rate', async () => {
  const prov = await cardProvider(175, 3);
  for (const amount of [1, 2, 57, 200, 4000, 4001, 12857, 99999, 1000000, 999999999999]) {
    const pi = ok(await payd.api('POST', '/v1/payment_intents', {
      form: { amount, currency: 'usd', payment_method: 'pm_card_visa', confirm: true, provider: prov.name },
    }));
    assert.equal(pi.fee_amount, halfEven(amount, 175, 3), `${amount}`);
    assert.equal((await chargeBt(pi.id)).net, amount - halfEven(amount, 175, 3), `${amount}`);
  }
});

test('a card provider on the stripe connector: the fee is booked on Stripe-routed payments too', async () => {
  const { startFakeStripe } = require('../fakes/stripe');
  const fake = await startFakeStripe();
  const s = await startPayd({
    env: { PAYD_STRIPE_SECRET_KEY: fake.secretKey },
    args: ['--stripe-base-url', fake.url, '--stripe-retries', '0'],
  });
  try {
    ok(await s.api('POST', '/v1/providers', {
      form: { name: 'stripe-cards', type: 'card', connector: 'stripe', currencies: ['usd'], fee_bps: 290, fee_fixed: 30 },
    }));
    /* Sandbox cards find no sandbox provider: the built-in default takes them, with no fee. */
    const sandbox = ok(await s.api('POST', '/v1/payment_intents', { form: { amount: 1000, currency: 'usd', payment_method: 'pm_card_visa', confirm: true } }));
    assert.equal(sandbox.provider, null);
    assert.equal(sandbox.fee_amount, 0);
    const pi = ok(await s.api('POST', '/v1/payment_intents', {
      form: { amount: 2500, currency: 'usd', provider: 'stripe', payment_method: 'pm_card_visa', confirm: true },
    }));
    assert.equal(pi.status, 'succeeded', JSON.stringify(pi));
    assert.equal(pi.provider, 'stripe-cards');
    assert.equal(pi.fee_amount, 102, '72.5 -> 72 (even), + 30');
    const bt = ok(await s.api('GET', `/v1/balance_transactions?source=${pi.id}&type=charge`)).data[0];
    assert.equal(bt.fee, 102);
    assert.equal(bt.net, 2398);
    const v = await auditVerify(s);
    assert.equal(v.code, 0, v.stdout + v.stderr);
  } finally {
    await s.stop();
    await fake.close();
  }
});
