'use strict';
/*
 * stripe_connector.test.js - the outbound `stripe` connector against the
 * fake Stripe API of tests/fakes/stripe.js: what payd SENDS (method, path,
 * form fields, Authorization, Stripe-Version, Idempotency-Key, equal across
 * retries) and what it does with each reply (success with its ledger entry,
 * decline 402, requires_action, 500/429 then success on a retry with the
 * same key, timeouts left `processing` and settled by the settler exactly
 * once, capture, cancel, refund).
 *
 * The contract cases are a table run against both connectors: provider
 * "sandbox" (in-process) and provider "stripe" (the fake). The same
 * observable behaviour is asserted for both; the checks of the requests
 * sent apply to stripe only.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { startPayd } = require('./lib/payd');
const { startFakeStripe } = require('../fakes/stripe');
const { expectError, ok, eventsFor, auditVerify } = require('./lib/intents');

const API_VERSION = '2024-06-20';
let payd;
let fake;

test.before(async () => {
  fake = await startFakeStripe();
  payd = await startPayd({
    env: { PAYD_STRIPE_SECRET_KEY: fake.secretKey },
    args: ['--stripe-base-url', fake.url, '--stripe-timeout-ms', '400',
      '--stripe-connect-timeout-ms', '400', '--stripe-retries', '2', '--stripe-backoff-ms', '20',
      '--stripe-settle-interval-ms', '200', '--stripe-settle-after-s', '3'],
  });
});

test.after(async () => {
  if (payd) await payd.stop();
  if (fake) await fake.close();
});

async function usdBalance() {
  const b = ok(await payd.api('GET', '/v1/balance'));
  const usd = b.available.find((x) => x.currency === 'usd');
  return usd ? usd.amount : 0;
}

async function until(fn, what, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/* The requests the fake received since @since for payd intent @pi. */
function sentFor(pi, since = 0) {
  return fake.requestsFor(pi).filter((r) => r.at >= since);
}

function assertHeaders(r) {
  assert.equal(r.headers.authorization, `Bearer ${fake.secretKey}`);
  assert.equal(r.headers['stripe-version'], API_VERSION);
  if (r.method === 'POST') {
    assert.match(r.headers['idempotency-key'], /^payd_pat_[0-9A-Za-z]+$/);
    assert.match(r.headers['content-type'], /^application\/x-www-form-urlencoded/);
  }
}

/* The Stripe PaymentIntent the fake made for payd intent @pi. */
function stripeIntentOf(pi) {
  return [...fake.intents.values()].find((x) => x.metadata.payd_intent === pi);
}

/* ---- The contract, for both connectors --------------------------------- */

const CASES = [
  {
    name: 'create+confirm succeeds: ledger entry and balance',
    async run(ctx) {
      const before = await usdBalance();
      const t0 = Date.now();
      const pi = ok(await ctx.create({ amount: 2000, payment_method: 'pm_card_visa', confirm: true }));
      assert.equal(pi.status, 'succeeded');
      assert.equal(pi.amount_received, 2000);
      assert.equal(await usdBalance(), before + 2000);
      assert.equal((await eventsFor(payd, 'payment_intent.succeeded', pi.id)).length, 1);
      const got = ok(await payd.api('GET', `/v1/payment_intents/${pi.id}`));
      assert.equal(got.status, 'succeeded');
      if (ctx.stripe) {
        const sent = sentFor(pi.id, t0);
        assert.equal(sent.length, 1);
        assert.equal(sent[0].method, 'POST');
        assert.equal(sent[0].path, '/v1/payment_intents');
        assertHeaders(sent[0]);
        assert.deepEqual(sent[0].form, {
          amount: '2000', currency: 'usd', payment_method: 'pm_card_visa', confirm: 'true',
          capture_method: 'automatic', 'payment_method_types[0]': 'card',
          'metadata[payd_intent]': pi.id,
        });
        assert.equal(fake.charges.filter((c) => c.payd_intent === pi.id).length, 1);
      }
    },
  },
  {
    name: 'a decline answers 402 card_error and records the attempt',
    async run(ctx) {
      const before = await usdBalance();
      const r = await ctx.create({ amount: 1500, payment_method: 'pm_card_chargeDeclined', confirm: true });
      const err = expectError(r, 402, { type: 'card_error', code: 'card_declined', decline_code: 'generic_decline' });
      assert.equal(err.payment_intent.status, 'requires_payment_method');
      assert.equal(err.payment_intent.last_payment_error.decline_code, 'generic_decline');
      assert.equal(await usdBalance(), before);
      const got = ok(await payd.api('GET', `/v1/payment_intents/${err.payment_intent.id}`));
      assert.equal(got.status, 'requires_payment_method');
      assert.equal(got.last_payment_error.code, 'card_declined');
      if (ctx.stripe) {
        const sent = sentFor(got.id);
        assert.equal(sent.length, 1);
        assert.equal(sent[0].form.payment_method, 'pm_card_chargeDeclined');
      }
    },
  },
  {
    name: 'insufficient funds carries its decline_code',
    async run(ctx) {
      const r = await ctx.create({ amount: 1500, payment_method: 'pm_card_chargeDeclinedInsufficientFunds', confirm: true });
      expectError(r, 402, { type: 'card_error', decline_code: 'insufficient_funds' });
    },
  },
  {
    name: '3-D Secure: requires_action with a redirect',
    async run(ctx) {
      const pi = ok(await ctx.create({
        amount: 1800, payment_method: 'pm_card_threeDSecure2Required', confirm: true,
        return_url: 'https://shop.example/back',
      }));
      assert.equal(pi.status, 'requires_action');
      assert.equal(pi.next_action.type, 'redirect_to_url');
      assert.match(pi.next_action.redirect_to_url.url, /^https?:\/\//);
      assert.equal(pi.next_action.redirect_to_url.return_url, 'https://shop.example/back');
      assert.equal(pi.amount_received, 0);
      if (ctx.stripe) {
        assert.ok(pi.next_action.redirect_to_url.url.startsWith(`${fake.url}/3ds/`));
        const sent = sentFor(pi.id);
        assert.equal(sent.length, 1);
        assert.equal(sent[0].form.return_url, 'https://shop.example/back');
      }
    },
  },
  {
    name: 'manual capture, partial: requires_capture then succeeded',
    async run(ctx) {
      const before = await usdBalance();
      const pi = ok(await ctx.create({ amount: 1000, payment_method: 'pm_card_visa', confirm: true, capture_method: 'manual' }));
      assert.equal(pi.status, 'requires_capture');
      assert.equal(pi.amount_capturable, 1000);
      assert.equal(await usdBalance(), before);
      const cap = ok(await payd.api('POST', `/v1/payment_intents/${pi.id}/capture`, { form: { amount_to_capture: 600 } }));
      assert.equal(cap.status, 'succeeded');
      assert.equal(cap.amount_received, 600);
      assert.equal(cap.amount_capturable, 0);
      assert.equal(await usdBalance(), before + 600);
      if (ctx.stripe) {
        const sent = sentFor(pi.id);
        assert.equal(sent.length, 2);
        assert.equal(sent[0].form.capture_method, 'manual');
        const spi = stripeIntentOf(pi.id);
        assert.equal(sent[1].method, 'POST');
        assert.equal(sent[1].path, `/v1/payment_intents/${spi.id}/capture`);
        assert.deepEqual(sent[1].form, { amount_to_capture: '600' });
        assertHeaders(sent[1]);
        assert.notEqual(sent[1].headers['idempotency-key'], sent[0].headers['idempotency-key']);
        assert.equal(spi.amount_received, 600);
      }
    },
  },
  {
    name: 'cancel releases an authorization',
    async run(ctx) {
      const pi = ok(await ctx.create({ amount: 700, payment_method: 'pm_card_visa', confirm: true, capture_method: 'manual' }));
      const c = ok(await payd.api('POST', `/v1/payment_intents/${pi.id}/cancel`, { form: { cancellation_reason: 'requested_by_customer' } }));
      assert.equal(c.status, 'canceled');
      assert.equal(c.cancellation_reason, 'requested_by_customer');
      assert.equal(c.amount_capturable, 0);
      expectError(await payd.api('POST', `/v1/payment_intents/${pi.id}/capture`), 400);
      if (ctx.stripe) {
        const spi = stripeIntentOf(pi.id);
        const sent = sentFor(pi.id);
        assert.equal(sent.length, 2);
        assert.equal(sent[1].path, `/v1/payment_intents/${spi.id}/cancel`);
        assertHeaders(sent[1]);
        assert.equal(spi.status, 'canceled');
      }
    },
  },
  {
    name: 'refund, partial: refund object, amount_refunded, balance',
    async run(ctx) {
      const pi = ok(await ctx.create({ amount: 3000, payment_method: 'pm_card_visa', confirm: true }));
      const before = await usdBalance();
      const re = ok(await payd.api('POST', '/v1/refunds', { form: { payment_intent: pi.id, amount: 1000 } }));
      assert.equal(re.object, 'refund');
      assert.equal(re.status, 'succeeded');
      assert.equal(re.amount, 1000);
      assert.match(re.balance_transaction, /^txn_/);
      assert.equal(await usdBalance(), before - 1000);
      const got = ok(await payd.api('GET', `/v1/payment_intents/${pi.id}`));
      assert.equal(got.amount_refunded, 1000);
      expectError(await payd.api('POST', '/v1/refunds', { form: { payment_intent: pi.id, amount: 2500 } }), 400, { param: 'amount' });
      if (ctx.stripe) {
        const spi = stripeIntentOf(pi.id);
        const sent = fake.requests.filter((r) => r.path === '/v1/refunds' && r.form.payment_intent === spi.id);
        assert.equal(sent.length, 1);
        assert.deepEqual(sent[0].form, { payment_intent: spi.id, amount: '1000' });
        assertHeaders(sent[0]);
      }
    },
  },
];

for (const provider of ['sandbox', 'stripe']) {
  for (const c of CASES) {
    test(`contract [${provider}]: ${c.name}`, async () => {
      const ctx = {
        stripe: provider === 'stripe',
        create: (params, o = {}) => payd.api('POST', '/v1/payment_intents',
          { form: { currency: 'usd', provider, ...params }, ...o }),
      };
      await c.run(ctx);
    });
  }
}

/* ---- Stripe only: retries, timeouts, settling --------------------------- */

function createStripe(params, o = {}) {
  return payd.api('POST', '/v1/payment_intents',
    { form: { currency: 'usd', provider: 'stripe', confirm: true, ...params }, ...o });
}

test('a 500 then success: retried with the same Idempotency-Key, one charge', async () => {
  fake.inject(500, 1);
  const pi = ok(await createStripe({ amount: 1200, payment_method: 'pm_card_visa' }));
  assert.equal(pi.status, 'succeeded');
  const sent = sentFor(pi.id);
  assert.equal(sent.length, 2);
  assert.equal(sent[0].injected, 500);
  assert.equal(sent[0].headers['idempotency-key'], sent[1].headers['idempotency-key']);
  assert.equal(sent[0].raw, sent[1].raw);
  assert.equal(fake.charges.filter((c) => c.payd_intent === pi.id).length, 1);
});

test('429 twice then success (two retries, backoff), same key', async () => {
  fake.inject(429, 2);
  const pi = ok(await createStripe({ amount: 1300, payment_method: 'pm_card_visa' }));
  assert.equal(pi.status, 'succeeded');
  const sent = sentFor(pi.id);
  assert.equal(sent.length, 3);
  assert.equal(new Set(sent.map((r) => r.headers['idempotency-key'])).size, 1);
  assert.ok(sent[2].at - sent[0].at >= 40, 'backoff between retries');
});

test('500 on every attempt: the intent stays processing and is settled later', async () => {
  fake.inject(500, 3);
  const pi = ok(await createStripe({ amount: 1400, payment_method: 'pm_card_visa' }));
  assert.equal(pi.status, 'processing');
  const done = await until(async () => {
    const g = ok(await payd.api('GET', `/v1/payment_intents/${pi.id}`));
    return g.status === 'succeeded' ? g : null;
  }, 'the settler to finish the intent');
  assert.equal(done.amount_received, 1400);
  assert.equal(fake.charges.filter((c) => c.payd_intent === pi.id).length, 1);
});

test('timeouts: processing, then settled by the settler to succeeded exactly once', async () => {
  const before = await usdBalance();
  fake.inject('timeout', 3, { delayMs: 1500 });
  const t0 = Date.now();
  const r = await createStripe({ amount: 2100, payment_method: 'pm_card_visa' }, { idempotencyKey: 'order-timeout-1' });
  const pi = ok(r);
  assert.equal(pi.status, 'processing');
  assert.equal(pi.amount_received, 0);
  assert.ok(Date.now() - t0 < 5000);
  const sentNow = sentFor(pi.id);
  assert.equal(sentNow.length, 3, 'first attempt and two retries');
  assert.equal(new Set(sentNow.map((x) => x.headers['idempotency-key'])).size, 1);
  /* Stripe did charge on the first request: its answer was lost. */
  assert.equal(fake.charges.filter((c) => c.payd_intent === pi.id).length, 1);
  /* While the outcome is unknown, nothing else may go to Stripe for it. */
  expectError(await payd.api('POST', `/v1/payment_intents/${pi.id}/cancel`), 400,
    { code: 'payment_intent_unexpected_state' });
  assert.equal(await usdBalance(), before);

  const done = await until(async () => {
    const g = ok(await payd.api('GET', `/v1/payment_intents/${pi.id}`));
    return g.status === 'succeeded' ? g : null;
  }, 'the settler to settle the timed-out intent');
  assert.equal(done.amount_received, 2100);
  const sent = sentFor(pi.id);
  assert.ok(sent.length >= 4);
  assert.equal(new Set(sent.map((x) => x.headers['idempotency-key'])).size, 1, 'never a new key');
  assert.ok(sent.every((x) => x.path === '/v1/payment_intents' && x.raw === sent[0].raw));
  assert.equal(fake.charges.filter((c) => c.payd_intent === pi.id).length, 1, 'one charge');
  assert.equal(await usdBalance(), before + 2100);
  assert.equal((await eventsFor(payd, 'payment_intent.succeeded', pi.id)).length, 1);

  /* A replay of the client's request does not charge again (it answers what was stored). */
  const replay = await createStripe({ amount: 2100, payment_method: 'pm_card_visa' }, { idempotencyKey: 'order-timeout-1' });
  assert.equal(replay.status, 200);
  assert.equal(replay.body.id, pi.id);
  assert.equal(sentFor(pi.id).length, sent.length);
});

test('payd Idempotency-Key replay of a Stripe payment returns the final answer', async () => {
  const a = ok(await createStripe({ amount: 900, payment_method: 'pm_card_visa' }, { idempotencyKey: 'stripe-idem-1' }));
  assert.equal(a.status, 'succeeded');
  const b = await createStripe({ amount: 900, payment_method: 'pm_card_visa' }, { idempotencyKey: 'stripe-idem-1' });
  assert.equal(b.status, 200);
  assert.deepEqual(b.body, a);
  assert.equal(sentFor(a.id).length, 1);
});

test('3-D Secure completed at Stripe: confirm asks Stripe (GET) and succeeds', async () => {
  const pi = ok(await createStripe({ amount: 1600, payment_method: 'pm_card_threeDSecure2Required' }));
  assert.equal(pi.status, 'requires_action');
  const spi = stripeIntentOf(pi.id);
  fake.completeThreeDS(spi.id, true);
  const done = ok(await payd.api('POST', `/v1/payment_intents/${pi.id}/confirm`, { form: {} }));
  assert.equal(done.status, 'succeeded');
  assert.equal(done.next_action, null);
  const sent = sentFor(pi.id);
  assert.equal(sent.length, 2);
  assert.equal(sent[1].method, 'GET');
  assert.equal(sent[1].path, `/v1/payment_intents/${spi.id}`);
  assert.equal(sent[1].headers.authorization, `Bearer ${fake.secretKey}`);
  assert.equal(fake.charges.filter((c) => c.payd_intent === pi.id).length, 1);
});

test('a capture Stripe refuses: 502-class provider error, the intent back to requires_capture', async () => {
  const pi = ok(await createStripe({ amount: 800, payment_method: 'pm_card_visa', capture_method: 'manual' }));
  /* Stripe's copy was canceled behind payd's back (e.g. in the dashboard). */
  stripeIntentOf(pi.id).status = 'requires_payment_method';
  const r = await payd.api('POST', `/v1/payment_intents/${pi.id}/capture`);
  assert.ok(r.status >= 400, r.text);
  assert.equal(r.body.error.code, 'provider_error');
  const got = ok(await payd.api('GET', `/v1/payment_intents/${pi.id}`));
  assert.equal(got.status, 'requires_capture');
  assert.equal(got.amount_received, 0);
});

test('a refund Stripe refuses: provider_error, the refund failed, amount and balance given back', async () => {
  const pi = ok(await createStripe({ amount: 2000, payment_method: 'pm_card_visa' }));
  const before = await usdBalance();
  /* Refunded in Stripe's dashboard meanwhile: Stripe has nothing left to refund. */
  const spi = stripeIntentOf(pi.id);
  spi.amount_received = 0;
  const r = await payd.api('POST', '/v1/refunds', { form: { payment_intent: pi.id, amount: 500 } });
  assert.ok(r.status >= 400, r.text);
  assert.equal(r.body.error.code, 'provider_error');
  assert.match(r.body.error.message, /unrefunded/);
  const got = ok(await payd.api('GET', `/v1/payment_intents/${pi.id}`));
  assert.equal(got.amount_refunded, 0);
  assert.equal(await usdBalance(), before);
  const list = ok(await payd.api('GET', `/v1/refunds?payment_intent=${pi.id}`));
  assert.equal(list.data.length, 1);
  assert.equal(list.data[0].status, 'failed');
  assert.equal(list.data[0].amount, 500);
});

test('a payment method Stripe does not know: provider_error naming payment_method, nothing booked', async () => {
  const pi = ok(await payd.api('POST', '/v1/payment_intents',
    { form: { amount: 450, currency: 'usd', provider: 'stripe', payment_method: 'pm_unknownToStripe' } }));
  const r = await payd.api('POST', `/v1/payment_intents/${pi.id}/confirm`, { form: {} });
  assert.ok(r.status >= 400, r.text);
  assert.equal(r.body.error.code, 'provider_error');
  assert.equal(r.body.error.param, 'payment_method');
  assert.match(r.body.error.message, /No such PaymentMethod/);
  const sent = fake.requests.filter((x) => x.form['metadata[payd_intent]'] === pi.id);
  assert.equal(sent.length, 1, 'a 400 is not retried');
  let got = ok(await payd.api('GET', `/v1/payment_intents/${pi.id}`));
  assert.equal(got.status, 'requires_confirmation');
  /* The client fixes the payment method and confirms again: a new attempt, a new key. */
  got = ok(await payd.api('POST', `/v1/payment_intents/${pi.id}/confirm`, { form: { payment_method: 'pm_card_visa' } }));
  assert.equal(got.status, 'succeeded');
  const all = fake.requests.filter((x) => x.form['metadata[payd_intent]'] === pi.id);
  assert.equal(all.length, 2);
  assert.notEqual(all[0].headers['idempotency-key'], all[1].headers['idempotency-key']);
});

test('provider parameter: unknown, and a payment_method that is not a Stripe pm_ id', async () => {
  expectError(await payd.api('POST', '/v1/payment_intents', { form: { amount: 100, currency: 'usd', provider: 'paypal' } }),
    400, { param: 'provider' });
  expectError(await createStripe({ amount: 100, payment_method: 'tok_visa' }), 400, { param: 'payment_method' });
  /* Without confirm nothing is sent; the pm_ id is kept as given. */
  const t0 = Date.now();
  const pi = ok(await payd.api('POST', '/v1/payment_intents', { form: { amount: 100, currency: 'usd', provider: 'stripe', payment_method: 'pm_1AbCdEf' } }));
  assert.equal(pi.status, 'requires_confirmation');
  assert.equal(pi.payment_method, 'pm_1AbCdEf');
  assert.equal(fake.requests.filter((r) => r.at >= t0).length, 0);
});

test('provider stripe on a payd without a Stripe key is refused naming provider', async () => {
  const other = await startPayd();
  try {
    const r = await other.api('POST', '/v1/payment_intents',
      { form: { amount: 100, currency: 'usd', provider: 'stripe', payment_method: 'pm_card_visa', confirm: true } });
    expectError(r, 400, { param: 'provider' });
  } finally {
    await other.stop();
  }
});

test('the secret key never reaches the log', async () => {
  const log = fs.readFileSync(payd.logFile, 'utf8');
  assert.ok(!log.includes(fake.secretKey));
  assert.ok(log.includes('/v1/payment_intents'), 'the log was read');
});

test('payd audit verify passes on everything the Stripe cases left (ledger = intents = refunds)', async () => {
  const r = await auditVerify(payd);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.doesNotMatch(r.stdout, /FAIL/);
});

test('payd stops cleanly on SIGTERM with the settler running (exit 0; sanitizer builds: no report)', async () => {
  const r = await payd.stop();
  if (r.code !== 0) {
    let log = '';
    try { log = fs.readFileSync(payd.logFile, 'utf8').slice(-4000); } catch (_) { /* dropped */ }
    assert.fail(`payd exited ${r.code} (signal ${r.signal}):\n${log}`);
  }
});
