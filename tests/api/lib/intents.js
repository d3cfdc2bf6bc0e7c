'use strict';
/*
 * intents.js - helpers for the payment intent, refund and access suites:
 * creating customers and intents, asserting Stripe's error envelope, walking
 * the sandbox's 3-D Secure page like a browser, and `payd audit verify`.
 */
const assert = require('node:assert/strict');

/* Assert a Stripe error envelope: status, and any of type/code/param/decline_code given. */
function expectError(r, status, want = {}) {
  assert.equal(r.status, status, `expected ${status}, got ${r.status}: ${r.text}`);
  assert.ok(r.body && r.body.error, `no error envelope: ${r.text}`);
  for (const [k, v] of Object.entries(want)) {
    if (v instanceof RegExp) {
      assert.match(String(r.body.error[k]), v, `error.${k}: ${r.text}`);
    } else {
      assert.equal(r.body.error[k], v, `error.${k}: ${r.text}`);
    }
  }
  return r.body.error;
}

/* Assert a 200 and return the body. */
function ok(r, what = 'request') {
  assert.equal(r.status, 200, `${what}: ${r.status} ${r.text}`);
  return r.body;
}

async function newCustomer(payd, params = {}, o = {}) {
  const r = await payd.api('POST', '/v1/customers', {
    form: { email: `c${Math.random().toString(36).slice(2)}@example.com`, ...params }, ...o,
  });
  return ok(r, 'create customer');
}

/* A payment method from raw sandbox card data (for cards without a test name). */
async function cardPm(payd, number, o = {}) {
  const r = await payd.api('POST', '/v1/payment_methods', {
    form: { type: 'card', card: { number, exp_month: 12, exp_year: new Date().getFullYear() + 2, cvc: '123' } },
    ...o,
  });
  return ok(r, `create payment method ${number}`);
}

function createIntent(payd, params, o = {}) {
  return payd.api('POST', '/v1/payment_intents', { form: { amount: 1000, currency: 'usd', ...params }, ...o });
}

async function intent(payd, params, o = {}) {
  return ok(await createIntent(payd, params, o), 'create intent');
}

function getIntent(payd, id, o = {}) {
  return payd.api('GET', `/v1/payment_intents/${id}`, o);
}

/* Events of @type whose object is @id, newest first. */
async function eventsFor(payd, type, id) {
  const r = await payd.api('GET', `/v1/events?type=${encodeURIComponent(type)}&limit=100`);
  const body = ok(r, 'list events');
  return body.data.filter((e) => e.data && e.data.object && e.data.object.id === id);
}

/*
 * Open the 3-D Secure page of a requires_action intent as a browser would
 * (no credentials) and submit the form named @action ('complete' | 'fail').
 * Resolves {page, res} with the page's response and the form's response.
 */
async function walk3ds(payd, pi, action) {
  assert.equal(pi.status, 'requires_action', JSON.stringify(pi));
  assert.equal(pi.next_action.type, 'redirect_to_url');
  const url = new URL(pi.next_action.redirect_to_url.url);
  const page = await fetch(payd.url + url.pathname + url.search);
  const html = await page.text();
  assert.equal(page.status, 200, html);
  assert.match(page.headers.get('content-type'), /text\/html/);
  const forms = [...html.matchAll(/<form method="post" action="([^"]+)"><input type="hidden" name="client_secret" value="([^"]+)">/g)];
  const form = forms.find((m) => m[1].endsWith(`/${action}`));
  assert.ok(form, `no ${action} form on the page:\n${html}`);
  const res = await fetch(payd.url + form[1], {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `client_secret=${encodeURIComponent(form[2])}`,
    redirect: 'manual',
  });
  return { page, html, res, text: await res.text() };
}

/* `payd audit verify` against @payd's database: {code, stdout, stderr}. */
function auditVerify(payd) {
  return payd.cli(['audit', 'verify', '--db', payd.dbUrl]);
}

/* Every object of a list endpoint, walking starting_after. */
async function listAll(payd, path, o = {}) {
  const out = [];
  let after = null;
  for (;;) {
    const sep = path.includes('?') ? '&' : '?';
    const r = await payd.api('GET', `${path}${sep}limit=100${after ? `&starting_after=${after}` : ''}`, o);
    const body = ok(r, `list ${path}`);
    out.push(...body.data);
    if (!body.has_more) return out;
    after = body.data[body.data.length - 1].id;
  }
}

module.exports = {
  expectError, ok, newCustomer, cardPm, createIntent, intent, getIntent, eventsFor, walk3ds,
  auditVerify, listAll,
};
