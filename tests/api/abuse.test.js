'use strict';
/*
 * abuse.test.js - what a hostile client tries:
 *   - rate limits per API key, per token subject and per client address
 *     (a payd started with tiny limits): 429 rate_limit with Retry-After;
 *   - a JWT battery against a payd configured for RS256 (key pair made
 *     here): alg none in any casing, HS256 signed with the RS256 public key,
 *     expired, not yet valid, wrong issuer or audience, tampered payload,
 *     truncated or missing signature: all 401; a good token works;
 *   - mass assignment: on every authenticated POST route of GET
 *     /v1/openapi.json, each read-only field (one the route's request schema
 *     does not list) is a 400 parameter_unknown naming it;
 *   - a BOLA matrix: every route with an {id}, every role (admin, staff,
 *     auditor, patient A, patient B), ids of patient A's objects: patient B
 *     gets 404 for reads and writes wherever patients may go (403 where they
 *     may not), auditors get 403 for every write, and nothing of A changes;
 *   - body and list limits: size, JSON depth, array length, keys,
 *     string length, list limit, metadata, Idempotency-Key.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startPayd, signJwt } = require('./lib/payd');
const { expectError, ok, newCustomer, cardPm, intent } = require('./lib/intents');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* ---- Rate limits ----------------------------------------------------------- */

test('rate limit per API key: a burst, then 429 rate_limit with Retry-After; other keys unaffected', async () => {
  const payd = await startPayd({ env: { PAYD_RATE_LIMIT_PER_KEY: '1:3' } });
  try {
    const other = await payd.createKey('staff');
    for (let i = 0; i < 3; i++) ok(await payd.api('GET', '/v1/customers'));
    const r = await payd.api('GET', '/v1/customers');
    expectError(r, 429, { type: 'invalid_request_error', code: 'rate_limit' });
    const retry = Number(r.headers.get('retry-after'));
    assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 2, `Retry-After ${r.headers.get('retry-after')}`);
    assert.match(r.headers.get('request-id'), /^req_/);
    ok(await payd.api('GET', '/v1/customers', { key: other }), 'another key has its own bucket');
    /* Writes are limited alike and a refused write changes nothing. */
    expectError(await payd.api('POST', '/v1/customers', { form: { description: 'x' } }), 429);
    await sleep(retry * 1000 + 100);
    ok(await payd.api('GET', '/v1/customers'), 'after Retry-After the key works again');
    const list = ok(await payd.api('GET', '/v1/customers?limit=100', { key: other }));
    assert.equal(list.data.length, 0, 'the refused write created nothing');
  } finally {
    await payd.stop();
  }
});

test('rate limit per token subject and per client address', async () => {
  const payd = await startPayd({ env: { PAYD_RATE_LIMIT_PER_SUBJECT: '1:2' } });
  try {
    const a = await payd.mintToken({ sub: 'nurse_a', role: 'staff' });
    const b = await payd.mintToken({ sub: 'nurse_b', role: 'staff' });
    ok(await payd.api('GET', '/v1/customers', { token: a }));
    ok(await payd.api('GET', '/v1/customers', { token: a }));
    expectError(await payd.api('GET', '/v1/customers', { token: a }), 429, { code: 'rate_limit' });
    /* A fresh token for the same subject shares the bucket. */
    const a2 = await payd.mintToken({ sub: 'nurse_a', role: 'staff', ttl: 600 });
    expectError(await payd.api('GET', '/v1/customers', { token: a2 }), 429);
    ok(await payd.api('GET', '/v1/customers', { token: b }));
    ok(await payd.api('GET', '/v1/customers'), 'API keys are not counted per subject');
  } finally {
    await payd.stop();
  }
  const byAddr = await startPayd({ env: { PAYD_RATE_LIMIT_PER_ADDRESS: '1:4' } });
  try {
    const statuses = [];
    for (let i = 0; i < 6; i++) {
      statuses.push((await byAddr.api('GET', '/v1/customers', { key: i % 2 ? null : undefined })).status);
    }
    assert.deepEqual(statuses.slice(0, 4), [200, 401, 200, 401]);
    assert.deepEqual(statuses.slice(4), [429, 429], 'unauthenticated attempts count too');
    const h = await byAddr.api('GET', '/health', { key: null });
    assert.equal(h.status, 429);
    assert.ok(Number(h.headers.get('retry-after')) >= 1);
  } finally {
    await byAddr.stop();
  }
});

test('bad rate limit options are refused at start', async () => {
  const { runPayd } = require('./lib/payd');
  for (const v of ['x', '5:0', '-1', '1:2:3']) {
    const r = await runPayd(['serve', '--db', 'sqlite::memory:', '--listen', '127.0.0.1:0', '--rate-limit-per-key', v]);
    assert.equal(r.code, 2, `--rate-limit-per-key ${v}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, /rate-limit/);
  }
});

/* ---- JWT battery (RS256) ------------------------------------------------------ */

test('JWT battery against RS256: every forgery is a 401; a good token passes', async () => {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = publicKey.export({ type: 'spki', format: 'pem' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'payd-jwt-'));
  const keyFile = path.join(dir, 'jwt.pub');
  fs.writeFileSync(keyFile, pem);
  const payd = await startPayd({
    env: { PAYD_JWT_ALG: 'RS256', PAYD_JWT_PUBLIC_KEY: keyFile, PAYD_JWT_ISSUER: 'payd-test-idp', PAYD_JWT_AUDIENCE: 'payd-api' },
  });
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const claims = (over = {}) => ({ sub: 'dr_who', role: 'staff', iss: 'payd-test-idp', aud: 'payd-api', iat: now, exp: now + 600, ...over });
  const rs256 = (c, header = { alg: 'RS256', typ: 'JWT' }) => {
    const input = `${b64(header)}.${b64(c)}`;
    return `${input}.${crypto.sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
  };
  try {
    const good = rs256(claims());
    ok(await payd.api('GET', '/v1/customers', { token: good }), 'a valid RS256 token');

    const [h, p, s] = good.split('.');
    const forged = {
      'alg none': signJwt(claims(), '', { alg: 'none', typ: 'JWT' }),
      'alg None': `${b64({ alg: 'None', typ: 'JWT' })}.${b64(claims())}.`,
      'alg NONE': `${b64({ alg: 'NONE', typ: 'JWT' })}.${b64(claims())}.`,
      'alg nOnE with the real signature': `${b64({ alg: 'nOnE', typ: 'JWT' })}.${p}.${s}`,
      'alg none without the last dot': `${b64({ alg: 'none' })}.${b64(claims())}`,
      'HS256 signed with the RS256 public key (PEM)': signJwt(claims(), pem),
      'HS256 signed with the public key (DER)': signJwt(claims(), publicKey.export({ type: 'spki', format: 'der' })),
      'expired': rs256(claims({ iat: now - 7200, exp: now - 3600 })),
      'not yet valid': rs256(claims({ nbf: now + 3600 })),
      'no expiry': rs256((({ exp, ...c }) => c)(claims())),
      'wrong issuer': rs256(claims({ iss: 'evil-idp' })),
      'no issuer': rs256((({ iss, ...c }) => c)(claims())),
      'wrong audience': rs256(claims({ aud: 'other-api' })),
      'tampered payload (role admin)': `${h}.${b64(claims({ role: 'admin' }))}.${s}`,
      'tampered header (kid)': `${b64({ alg: 'RS256', typ: 'JWT', kid: 'x' })}.${p}.${s}`,
      'truncated signature': `${h}.${p}.${s.slice(0, s.length - 10)}`,
      'empty signature': `${h}.${p}.`,
      'signature of another key': (() => {
        const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
        const input = `${h}.${p}`;
        return `${input}.${crypto.sign('sha256', Buffer.from(input), other).toString('base64url')}`;
      })(),
      'RS512 header': rs256(claims(), { alg: 'RS512', typ: 'JWT' }),
      'two parts': `${h}.${p}`,
      'garbage': 'not.a.jwt',
    };
    for (const [name, tok] of Object.entries(forged)) {
      const r = await payd.api('GET', '/v1/customers', { token: tok });
      assert.equal(r.status, 401, `${name}: ${r.status} ${r.text.slice(0, 200)}`);
      assert.equal(r.body.error.code, 'api_key_invalid', name);
    }
  } finally {
    await payd.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/* ---- Shared fixtures for mass assignment, BOLA and limits ------------------------ */

let payd;
let fx;

/* Resolve a schema's properties through $ref and allOf. */
function schemaProps(doc, schema, depth = 0) {
  if (!schema || depth > 8) return new Set();
  if (schema.$ref) {
    const name = schema.$ref.replace('#/components/schemas/', '');
    return schemaProps(doc, doc.components.schemas[name], depth + 1);
  }
  const out = new Set(Object.keys(schema.properties || {}));
  for (const k of ['allOf', 'oneOf', 'anyOf']) {
    for (const s of schema[k] || []) for (const p of schemaProps(doc, s, depth + 1)) out.add(p);
  }
  return out;
}

function operations(doc) {
  const out = [];
  for (const [p, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!op || typeof op !== 'object' || !op.responses) continue;
      out.push({ method: method.toUpperCase(), path: p, op, roles: op['x-roles'] || null, public: Array.isArray(op.security) && op.security.length === 0 });
    }
  }
  return out;
}

test.before(async () => {
  payd = await startPayd();
  const doc = ok(await payd.api('GET', '/v1/openapi.json'));
  const cusA = await newCustomer(payd, { name: 'Patient A' });
  const cusB = await newCustomer(payd, { name: 'Patient B' });
  const pmA = await cardPm(payd, '4242424242424242');
  ok(await payd.api('POST', `/v1/payment_methods/${pmA.id}/attach`, { form: { customer: cusA.id } }));
  const piA = await intent(payd, { amount: 5000, customer: cusA.id, payment_method: pmA.id, confirm: true });
  assert.equal(piA.status, 'succeeded');
  const reA = ok(await payd.api('POST', '/v1/refunds', { form: { payment_intent: piA.id, amount: 100 } }));
  const evA = ok(await payd.api('GET', '/v1/events?limit=100')).data.find((e) => JSON.stringify(e).includes(cusA.id));
  const txnA = ok(await payd.api('GET', `/v1/balance_transactions?source=${piA.id}`)).data[0];
  const audA = ok(await payd.api('GET', `/v1/audit_events?object=${piA.id}&limit=1`)).data[0];
  const key = await payd.keysCreate({ role: 'staff', name: 'bola' });
  const paA = ok(await payd.api('GET', `/v1/payment_attempts?payment_intent=${piA.id}`)).data[0];
  const bleA = ok(await payd.api('POST', '/v1/blocklist_entries', { form: { type: 'email', value: 'bola-nobody@example.invalid' } }));
  const facA = ok(await payd.api('POST', '/v1/facilities', { form: { name: 'bola-clinic', timezone: 'Africa/Khartoum' } }));
  const provA = ok(await payd.api('POST', '/v1/providers', {
    form: { name: 'bola-cash', type: 'cash', connector: 'manual', currencies: ['usd'], credentials: { pin: 'bola-secret' } },
  }));
  /* A cash payment of A waiting in the verification queue, with evidence. */
  const cashA = await intent(payd, { amount: 700, customer: cusA.id, payment_method_types: ['cash'], confirm: true });
  const verA = ok(await payd.api('GET', `/v1/verifications?payment_intent=${cashA.id}`)).data[0];
  const evForm = new FormData();
  evForm.append('kind', 'cash_count');
  evForm.append('file', new Blob([Buffer.from('%PDF-1.4\n%%EOF\n')], { type: 'application/pdf' }), 'count.pdf');
  const evdA = ok(await payd.api('POST', `/v1/payment_intents/${cashA.id}/evidence`, { raw: evForm }));
  fx = {
    doc, cusA, cusB, pmA, piA, reA,
    ids: {
      customers: cusA.id, payment_methods: pmA.id, payment_intents: piA.id, refunds: reA.id,
      events: evA && evA.id, balance_transactions: txnA && txnA.id, audit_events: audA && audA.id, keys: key.id,
      payment_attempts: paA && paA.id, blocklist_entries: bleA.id,
      providers: provA.id, facilities: facA.id,
      verifications: verA.id, evidence: evdA.id,
    },
    tokens: {
      staff: await payd.mintToken({ sub: 'staff_1', role: 'staff' }),
      auditor: await payd.createKey('auditor'),
      patientA: await payd.mintToken({ sub: 'pat_a', role: 'patient', customer: cusA.id }),
      patientB: await payd.mintToken({ sub: 'pat_b', role: 'patient', customer: cusB.id }),
    },
  };
});

test.after(async () => {
  if (payd) await payd.stop();
});

/* The fixture id for an {id} path ("/v1/refunds/{id}/cancel" -> refund of A), or null. */
function idFor(p) {
  const m = p.match(/^\/v1\/([a-z_]+)\/\{id\}/);
  return m ? fx.ids[m[1]] || null : null;
}

function fill(p, id) {
  return p.replace('{id}', id);
}

/* ---- Mass assignment ------------------------------------------------------------- */

const READ_ONLY = ['id', 'object', 'created', 'livemode', 'status', 'amount_received', 'amount_refunded',
  'amount_capturable', 'client_secret', 'latest_charge', 'balance_transaction', 'fingerprint', 'last4'];

test('mass assignment: every POST route refuses each read-only field with 400 parameter_unknown', async (t) => {
  let checked = 0;
  const skipped = [];
  for (const o of operations(fx.doc)) {
    if (o.method !== 'POST') continue;
    if (o.public) {
      skipped.push(`${o.path} (public)`);
      continue;
    }
    const body = o.op.requestBody && o.op.requestBody.content;
    const schema = body && (body['application/x-www-form-urlencoded'] || body['application/json'] || {}).schema;
    const writable = schemaProps(fx.doc, schema);
    let url = o.path;
    if (url.includes('{id}')) {
      const id = idFor(url);
      if (!id) {
        skipped.push(`${o.path} (no fixture)`);
        continue;
      }
      url = fill(url, id);
    }
    for (const field of READ_ONLY) {
      if (writable.has(field)) continue;
      const r = await payd.api('POST', url, { form: { [field]: field === 'created' ? '1' : 'x' } });
      assert.equal(r.status, 400, `POST ${o.path} with ${field}: ${r.status} ${r.text}`);
      assert.equal(r.body.error.code, 'parameter_unknown', `POST ${o.path} with ${field}: ${r.text}`);
      assert.equal(r.body.error.param, field, `POST ${o.path} with ${field}`);
      const j = await payd.api('POST', url, { body: { [field]: 1 } });
      assert.equal(j.status, 400, `POST ${o.path} with JSON ${field}: ${j.status} ${j.text}`);
      assert.equal(j.body.error.code, 'parameter_unknown');
      checked++;
    }
  }
  t.diagnostic(`${checked} route x field pairs refused; skipped: ${skipped.join(', ') || 'none'}`);
  assert.ok(checked >= 100, `only ${checked} checks`);
  /* Nothing changed: the intent of A is still as it was. */
  const pi = ok(await payd.api('GET', `/v1/payment_intents/${fx.piA.id}`));
  assert.equal(pi.status, 'succeeded');
  assert.equal(pi.amount_received, 5000);
});

/* ---- BOLA matrix ------------------------------------------------------------------ */

const WRITE_BODIES = {
  '/v1/customers/{id}': { description: 'changed by B' },
  '/v1/payment_methods/{id}': { metadata: { by: 'B' } },
  '/v1/payment_methods/{id}/attach': { customer: 'CUS_B' },
  '/v1/payment_intents/{id}': { description: 'changed by B' },
  '/v1/payment_intents/{id}/confirm': { payment_method: 'pm_card_visa' },
  '/v1/refunds/{id}': { metadata: { by: 'B' } },
};

test('BOLA matrix: every {id} route x every role on patient A\'s objects', async (t) => {
  WRITE_BODIES['/v1/payment_methods/{id}/attach'].customer = fx.cusB.id;
  const snapshot = async () => Promise.all([
    payd.api('GET', `/v1/customers/${fx.cusA.id}`), payd.api('GET', `/v1/payment_methods/${fx.pmA.id}`),
    payd.api('GET', `/v1/payment_intents/${fx.piA.id}`), payd.api('GET', `/v1/refunds/${fx.reA.id}`),
  ].map((p) => p.then((r) => ok(r))));
  const before = await snapshot();
  let cells = 0;
  const skipped = [];
  const ops = operations(fx.doc).filter((o) => o.path.includes('{id}') && !o.public);
  for (const o of ops) {
    const id = idFor(o.path);
    if (!id) {
      skipped.push(o.path);
      continue;
    }
    const url = fill(o.path, id);
    const allowed = (role) => o.roles.includes(role);
    /* A write carries a body that would succeed on B's own objects, so only
     * the ownership check can refuse it. */
    const form = o.method === 'POST' ? (WRITE_BODIES[o.path] || {}) : undefined;
    const call = (who) => payd.api(o.method, url, who.startsWith('patient') || who === 'staff'
      ? { token: fx.tokens[who], form }
      : { key: fx.tokens[who], form });
    const where = `${o.method} ${o.path}`;

    /* Patient B: never sees or touches A's objects; 404 where patients may go. */
    const b = await call('patientB');
    const wantB = allowed('patient') ? 404 : 403;
    assert.equal(b.status, wantB, `patient B ${where}: ${b.status} ${b.text}`);
    /* Indistinguishable from an id that does not exist. */
    const none = await payd.api(o.method, fill(o.path, id.replace(/_.*/, '_DoesNotExist0000000000000')), {
      token: fx.tokens.patientB, form,
    });
    assert.equal(none.status, b.status, `patient B ${where}: A's id answers unlike a missing id`);
    assert.equal(none.body.error.code, b.body.error.code, `patient B ${where}`);
    cells++;

    /* Auditors read, never write. */
    const a = await call('auditor');
    if (o.method === 'GET') {
      assert.equal(a.status, allowed('auditor') ? 200 : 403, `auditor ${where}: ${a.status} ${a.text}`);
    } else {
      assert.ok(!allowed('auditor'), `${where} lets auditors write`);
      assert.equal(a.status, 403, `auditor ${where}: ${a.status} ${a.text}`);
    }
    cells++;

    /* Reads by everyone else follow the route's roles. */
    if (o.method === 'GET') {
      for (const who of ['admin', 'staff', 'patientA']) {
        const r = who === 'admin' ? await payd.api('GET', url) : await call(who);
        const role = who === 'patientA' ? 'patient' : who;
        assert.equal(r.status, allowed(role) ? 200 : 403, `${who} ${where}: ${r.status} ${r.text}`);
        cells++;
      }
    }
  }
  /* Lists: patient B sees none of A's objects. */
  const lists = ['/v1/payment_intents?limit=100', `/v1/payment_methods?customer=${fx.cusB.id}&limit=100`,
    '/v1/refunds?limit=100', '/v1/events?limit=100', `/v1/customers/${fx.cusA.id}/payment_methods`,
    `/v1/payment_methods?customer=${fx.cusA.id}`, `/v1/payment_intents?customer=${fx.cusA.id}`,
    `/v1/refunds?payment_intent=${fx.piA.id}`, `/v1/mobile_money_requests?payment_intent=${fx.piA.id}`];
  for (const list of lists) {
    const r = await payd.api('GET', list, { token: fx.tokens.patientB });
    assert.ok([200, 400, 403, 404].includes(r.status), `patient B GET ${list}: ${r.status} ${r.text}`);
    if (r.status === 200) assert.deepEqual(r.body.data.filter((o) => JSON.stringify(o).includes(fx.cusA.id)), [], list);
    /* An id B sent may be echoed in an error message; nothing else of A's may appear. */
    for (const id of [fx.cusA.id, fx.pmA.id, fx.piA.id, fx.reA.id].filter((x) => !list.includes(x))) {
      assert.ok(!r.text.includes(id), `patient B GET ${list} shows ${id}`);
    }
    cells++;
  }
  t.diagnostic(`${cells} cells; routes without a fixture: ${skipped.join(', ') || 'none'}`);
  assert.ok(cells >= 40, `only ${cells} cells`);
  assert.deepEqual(await snapshot(), before, 'an attempt by patient B or an auditor changed A\'s objects');
});

/* ---- Limits ------------------------------------------------------------------------- */

test('request size, JSON depth, array length, keys, strings, list limits and metadata are enforced', async () => {
  /* A body a little over the limit, sent whole (fetch does not wait for
   * "100 Continue"): payd reads it to the end, drops it and answers, so the
   * client reads the 413 instead of a reset connection. */
  const big = await payd.api('POST', '/v1/customers', {
    raw: 'email=' + 'a'.repeat(1024 * 1024 + 10), headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  expectError(big, 413, { code: 'body_too_large' });

  let deep = { v: 1 };
  for (let i = 0; i < 20; i++) deep = { a: deep };
  expectError(await payd.api('POST', '/v1/customers', { body: { metadata: deep } }), 400, { code: 'body_invalid' });
  expectError(await payd.api('POST', '/v1/customers', { raw: '[' .repeat(5000) + ']'.repeat(5000), headers: { 'content-type': 'application/json' } }), 400);
  const deepForm = 'metadata' + '[a]'.repeat(20) + '=1';
  expectError(await payd.api('POST', '/v1/customers', { form: deepForm }), 400, { code: 'body_invalid' });

  const longArray = Array.from({ length: 300 }, () => 'card');
  expectError(await payd.api('POST', '/v1/payment_intents', { body: { amount: 100, currency: 'usd', payment_method_types: longArray } }), 400, { code: 'body_invalid' });
  const manyKeys = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, 'v']));
  expectError(await payd.api('POST', '/v1/customers', { body: manyKeys }), 400);
  expectError(await payd.api('POST', '/v1/customers', { body: { description: 'x'.repeat(5001) } }), 400);

  const metadata = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v']));
  expectError(await payd.api('POST', '/v1/customers', { form: { metadata } }), 400, { param: 'metadata' });
  expectError(await payd.api('POST', '/v1/customers', { form: { metadata: { ['k'.repeat(41)]: 'v' } } }), 400);
  expectError(await payd.api('POST', '/v1/customers', { form: { metadata: { k: 'v'.repeat(501) } } }), 400);

  for (const q of ['limit=0', 'limit=101', 'limit=-1', 'limit=abc']) {
    expectError(await payd.api('GET', `/v1/customers?${q}`), 400, { param: 'limit' });
  }
  assert.equal(ok(await payd.api('GET', '/v1/customers?limit=100')).object, 'list');
  expectError(await payd.api('POST', '/v1/customers', { form: { description: 'x' }, idempotencyKey: 'k'.repeat(256) }), 400);
  const longUrl = await payd.api('GET', `/v1/customers?starting_after=${'x'.repeat(40000)}`);
  assert.ok(longUrl.status === 400 || longUrl.status === 413 || longUrl.status === 414 || longUrl.status === 431, `long URL: ${longUrl.status}`);
  /* Still alive and well. */
  ok(await payd.api('GET', '/v1/customers?limit=1'));
});
