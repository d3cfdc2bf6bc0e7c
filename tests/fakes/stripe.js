'use strict';
/*
 * tests/fakes/stripe.js - a fake of Stripe's API for connector tests, on
 * 127.0.0.1:0, answering per Stripe's documented behaviour for the
 * endpoints payd's `stripe` connector uses:
 *
 *   POST /v1/payment_intents               create (+ confirm=true)
 *   GET  /v1/payment_intents/:id           retrieve
 *   POST /v1/payment_intents/:id/capture   amount_to_capture
 *   POST /v1/payment_intents/:id/cancel
 *   POST /v1/refunds                       payment_intent, amount
 *
 * Scenarios by payment method (Stripe's test PaymentMethods):
 *   pm_card_visa (and other pm_card_* not below)  succeeds (requires_capture when manual)
 *   pm_card_chargeDeclined                     402 card_error card_declined / generic_decline
 *   pm_card_chargeDeclinedInsufficientFunds    402 card_error card_declined / insufficient_funds
 *   pm_card_threeDSecure2Required              requires_action, next_action.redirect_to_url
 *   anything else                              400 resource_missing (No such PaymentMethod)
 *
 * Idempotency (https://docs.stripe.com/api/idempotent_requests): a POST
 * with an Idempotency-Key that already ran answers the stored status and
 * body again (another body with the same key: 400 idempotency_error);
 * requests refused before running (the injected 500/429 below) store
 * nothing, so a retry runs for real.
 *
 * Control hooks for tests (in-process, not HTTP):
 *   fake.inject('timeout', n, {delayMs})  the next n requests run normally
 *                                         but answer only after delayMs (the
 *                                         client times out: "response lost")
 *   fake.inject(500 | 429 | 409, n)       the next n requests answer that
 *                                         status without running
 *   fake.completeThreeDS(piId, passed)    the customer finished authentication
 * Records: fake.requests [{method, path, headers, form, raw}], fake.intents
 * (Map id -> object), fake.charges [{intent, amount, payd_intent}] (one per
 * authorization actually made).
 */
const http = require('node:http');

const SCENARIOS = {
  pm_card_chargeDeclined: { decline: 'generic_decline', message: 'Your card was declined.' },
  pm_card_chargeDeclinedInsufficientFunds: { decline: 'insufficient_funds', message: 'Your card has insufficient funds.' },
  pm_card_threeDSecure2Required: { threeDS: true },
};

let counter = 0;
function newId(prefix) {
  counter += 1;
  return `${prefix}_fake${Date.now().toString(36)}${counter}`;
}

function errorBody(type, code, message, extra = {}) {
  return { error: { type, code, message, doc_url: `https://stripe.com/docs/error-codes/${String(code).replace(/_/g, '-')}`, ...extra } };
}

async function startFakeStripe() {
  const fake = {
    requests: [],
    intents: new Map(),
    refunds: new Map(),
    charges: [],
    idem: new Map(), // key -> {raw, path, status, body}
    injections: [],
    url: null,
  };

  fake.inject = (kind, n = 1, o = {}) => {
    for (let i = 0; i < n; i++) fake.injections.push({ kind, ...o });
  };
  fake.reset = () => {
    fake.requests.length = 0;
    fake.injections.length = 0;
  };
  fake.requestsFor = (paydIntent) => fake.requests.filter((r) =>
    r.form['metadata[payd_intent]'] === paydIntent ||
    (r.stripeIntent && fake.intents.has(r.stripeIntent) && fake.intents.get(r.stripeIntent).metadata.payd_intent === paydIntent));

  function authorize(pi) {
    fake.charges.push({ intent: pi.id, amount: pi.amount, payd_intent: pi.metadata.payd_intent });
    if (pi.capture_method === 'manual') {
      pi.status = 'requires_capture';
      pi.amount_capturable = pi.amount;
    } else {
      pi.status = 'succeeded';
      pi.amount_received = pi.amount;
    }
  }

  fake.completeThreeDS = (id, passed = true) => {
    const pi = fake.intents.get(id);
    pi.next_action = null;
    if (passed) {
      authorize(pi);
    } else {
      pi.status = 'requires_payment_method';
      pi.last_payment_error = { type: 'invalid_request_error', code: 'payment_intent_authentication_failure', message: 'The provided PaymentMethod has failed authentication.' };
    }
  };

  function createIntent(form) {
    const amount = Number(form.amount);
    if (!Number.isInteger(amount) || amount < 1) {
      return [400, errorBody('invalid_request_error', 'parameter_invalid_integer', 'Invalid integer: amount', { param: 'amount' })];
    }
    if (!form.currency) {
      return [400, errorBody('invalid_request_error', 'parameter_missing', 'Missing required param: currency.', { param: 'currency' })];
    }
    const pm = form.payment_method;
    if (!pm || !/^pm_card_/.test(pm)) {
      return [400, errorBody('invalid_request_error', 'resource_missing', `No such PaymentMethod: '${pm}'`, { param: 'payment_method' })];
    }
    const metadata = {};
    for (const [k, v] of Object.entries(form)) {
      const m = /^metadata\[(.+)\]$/.exec(k);
      if (m) metadata[m[1]] = v;
    }
    const pi = {
      id: newId('pi'), object: 'payment_intent', amount, amount_capturable: 0, amount_received: 0,
      currency: form.currency, capture_method: form.capture_method || 'automatic',
      confirmation_method: 'automatic', created: Math.floor(Date.now() / 1000), livemode: false,
      last_payment_error: null, metadata, next_action: null, payment_method: pm,
      status: 'requires_confirmation', latest_charge: null, canceled_at: null, cancellation_reason: null,
    };
    fake.intents.set(pi.id, pi);
    if (form.confirm !== 'true') return [200, pi];
    const sc = SCENARIOS[pm] || {};
    if (sc.decline) {
      pi.status = 'requires_payment_method';
      pi.last_payment_error = { type: 'card_error', code: 'card_declined', decline_code: sc.decline, message: sc.message, payment_method: { id: pm } };
      return [402, errorBody('card_error', 'card_declined', sc.message, { decline_code: sc.decline, payment_intent: pi })];
    }
    if (sc.threeDS) {
      pi.status = 'requires_action';
      pi.next_action = { type: 'redirect_to_url', redirect_to_url: { url: `${fake.url}/3ds/${pi.id}`, return_url: form.return_url || null } };
      return [200, pi];
    }
    authorize(pi);
    return [200, pi];
  }

  function intentAction(id, action, form) {
    const pi = fake.intents.get(id);
    if (!pi) return [404, errorBody('invalid_request_error', 'resource_missing', `No such payment_intent: '${id}'`, { param: 'intent' })];
    if (action === undefined) return [200, pi];
    if (action === 'capture') {
      if (pi.status !== 'requires_capture') {
        return [400, errorBody('invalid_request_error', 'payment_intent_unexpected_state', `This PaymentIntent could not be captured because it has a status of ${pi.status}.`, { payment_intent: pi })];
      }
      const amt = form.amount_to_capture !== undefined ? Number(form.amount_to_capture) : pi.amount_capturable;
      if (!Number.isInteger(amt) || amt < 1 || amt > pi.amount_capturable) {
        return [400, errorBody('invalid_request_error', 'amount_too_large', 'The amount to capture is greater than the amount capturable.', { param: 'amount_to_capture' })];
      }
      pi.amount_received = amt;
      pi.amount_capturable = 0;
      pi.status = 'succeeded';
      return [200, pi];
    }
    if (action === 'cancel') {
      if (['succeeded', 'canceled', 'processing'].includes(pi.status)) {
        return [400, errorBody('invalid_request_error', 'payment_intent_unexpected_state', `You cannot cancel this PaymentIntent because it has a status of ${pi.status}.`, { payment_intent: pi })];
      }
      pi.status = 'canceled';
      pi.amount_capturable = 0;
      pi.next_action = null;
      pi.canceled_at = Math.floor(Date.now() / 1000);
      return [200, pi];
    }
    return [404, errorBody('invalid_request_error', 'resource_missing', 'Unrecognized request URL.')];
  }

  function createRefund(form) {
    const pi = fake.intents.get(form.payment_intent);
    if (!pi) return [400, errorBody('invalid_request_error', 'resource_missing', `No such payment_intent: '${form.payment_intent}'`, { param: 'payment_intent' })];
    const refunded = [...fake.refunds.values()].filter((r) => r.payment_intent === pi.id && r.status === 'succeeded').reduce((a, r) => a + r.amount, 0);
    const amount = form.amount !== undefined ? Number(form.amount) : pi.amount_received - refunded;
    if (pi.status !== 'succeeded') {
      return [400, errorBody('invalid_request_error', 'payment_intent_unexpected_state', 'This PaymentIntent has not succeeded.')];
    }
    if (!Number.isInteger(amount) || amount < 1 || amount > pi.amount_received - refunded) {
      return [400, errorBody('invalid_request_error', 'amount_too_large', 'Refund amount is greater than unrefunded amount on charge.', { param: 'amount' })];
    }
    const re = { id: newId('re'), object: 'refund', amount, currency: pi.currency, payment_intent: pi.id, status: 'succeeded', created: Math.floor(Date.now() / 1000), metadata: {} };
    fake.refunds.set(re.id, re);
    return [200, re];
  }

  function route(method, path, form) {
    if (method === 'POST' && path === '/v1/payment_intents') return createIntent(form);
    if (method === 'POST' && path === '/v1/refunds') return createRefund(form);
    const m = /^\/v1\/payment_intents\/([A-Za-z0-9_]+)(?:\/(capture|cancel))?$/.exec(path);
    if (m && ((method === 'GET' && !m[2]) || (method === 'POST' && m[2]))) return intentAction(m[1], m[2], form);
    return [404, errorBody('invalid_request_error', 'resource_missing', `Unrecognized request URL (${method}: ${path}).`)];
  }

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const form = Object.fromEntries(new URLSearchParams(raw));
      const pathOnly = req.url.split('?')[0];
      const m = /^\/v1\/payment_intents\/([A-Za-z0-9_]+)/.exec(pathOnly);
      const rec = {
        method: req.method, path: pathOnly, headers: { ...req.headers }, form, raw,
        stripeIntent: m ? m[1] : (form.payment_intent || null), at: Date.now(),
      };
      fake.requests.push(rec);
      const send = (status, body, delayMs = 0) => {
        const text = JSON.stringify(body);
        const go = () => {
          if (res.destroyed || res.writableEnded) return;
          res.writeHead(status, { 'content-type': 'application/json', 'request-id': newId('req') });
          res.end(text);
        };
        if (delayMs > 0) setTimeout(go, delayMs); else go();
      };
      if (req.headers.authorization !== `Bearer ${fake.secretKey}`) {
        send(401, errorBody('invalid_request_error', 'api_key_invalid', 'Invalid API Key provided.'));
        return;
      }
      const inj = fake.injections.shift();
      if (inj && inj.kind !== 'timeout') {
        rec.injected = inj.kind;
        send(inj.kind, errorBody(inj.kind === 429 ? 'rate_limit_error' : 'api_error', inj.kind === 409 ? 'idempotency_key_in_use' : 'injected', `Injected ${inj.kind}.`));
        return;
      }
      const delay = inj ? (inj.delayMs || 2000) : 0;
      if (inj) rec.injected = 'timeout';
      const key = req.headers['idempotency-key'];
      if (req.method === 'POST' && key && fake.idem.has(key)) {
        const prior = fake.idem.get(key);
        if (prior.raw !== raw || prior.path !== pathOnly) {
          send(400, errorBody('idempotency_error', 'idempotency_key_in_use', `Keys for idempotent requests can only be used with the same parameters they were first used with.`));
          return;
        }
        rec.replayed = true;
        send(prior.status, prior.body, delay);
        return;
      }
      const [status, body] = route(req.method, pathOnly, form);
      const snapshot = JSON.parse(JSON.stringify(body));
      if (req.method === 'POST' && key) fake.idem.set(key, { raw, path: pathOnly, status, body: snapshot });
      send(status, snapshot, delay);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.port = server.address().port;
  fake.url = `http://127.0.0.1:${fake.port}`;
  fake.secretKey = 'sk_test_fake_payd_0123456789';
  fake.close = () => new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return fake;
}

module.exports = { startFakeStripe };
