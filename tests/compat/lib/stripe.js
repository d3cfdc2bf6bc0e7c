'use strict';
/*
 * stripe.js - the official Stripe SDK (the `stripe` npm package pinned in
 * package-lock.json) pointed at a real payd from tests/api/lib/payd.js.
 *
 *   const { startCompat, Stripe } = require('./lib/stripe');
 *   const { payd, stripe, client } = await startCompat();  // admin key
 *   const auditor = client(await payd.createKey('auditor'));
 *
 * The client is configured the way a user of Stripe's SDK would point it at
 * payd: host, port and protocol, nothing else, with retries off so a failure
 * shows at once instead of being retried with backoff.
 */
const Stripe = require('stripe');
const { startPayd } = require('../../api/lib/payd');

async function startCompat(opts = {}) {
  const payd = await startPayd(opts);
  const client = (key, extra = {}) => new Stripe(key, {
    host: '127.0.0.1',
    port: payd.port,
    protocol: 'http',
    maxNetworkRetries: 0,
    telemetry: false,
    ...extra,
  });
  return { payd, stripe: client(payd.adminKey), client };
}

/* Stop payd; it must exit 0 (a crash or a sanitizer report in an ASan
 * build is a failure of the file). */
async function stopPayd(payd) {
  const { code, signal } = await payd.stop();
  if (code !== 0) {
    throw new Error(`payd exited with code ${code} (signal ${signal}):\n${payd.log().slice(-4000)}`);
  }
}

/* A card payment method from a number, as a Stripe.js-less server would make one. */
function cardParams(number, extra = {}) {
  return { type: 'card', card: { number, exp_month: 12, exp_year: new Date().getFullYear() + 3, cvc: '123' }, ...extra };
}

/* Run @fn, which must reject; resolves the error. */
async function rejects(fn) {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to fail, it succeeded');
}

module.exports = { Stripe, startCompat, stopPayd, cardParams, rejects };
