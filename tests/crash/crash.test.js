'use strict';
/*
 * crash.test.js - crash safety: a mixed load against payd while payd is
 * killed with SIGKILL at random moments and restarted on the same database.
 *
 * Load (CRASH_WORKERS concurrent workers, each running one logical request at
 * a time, each with its own Idempotency-Key): customers, payment intents
 * created and confirmed at once (automatic capture), declined ones (402),
 * manual-capture intents authorized and later captured in part, and partial
 * refunds of captured intents; webhook endpoints and their deliveries when
 * payd has /v1/webhook_endpoints.
 *
 * A request is acknowledged when payd answered it with a status below 500.
 * Anything else (connection refused or reset by the kill, a timeout, a 5xx)
 * is retried, with the same Idempotency-Key and the same body bytes, until it
 * is acknowledged, on whatever payd is running then. CRASH_KILLS times, after
 * a random 50-CRASH_UPTIME_MAX_MS ms of load, payd gets SIGKILL and is started
 * again on the same database. Then every open request is finished on a last
 * payd, and the checks run:
 *   - every acknowledged answer had the expected status (no 409, no 400);
 *   - replaying every request with its key answers exactly the first
 *     acknowledged answer (no request had two effects, and no answer was
 *     forgotten);
 *   - the payment intents, refunds and customers in payd are exactly the
 *     acknowledged ones, each once (ids and counts);
 *   - each intent's amount_received and amount_refunded, and the balance,
 *     equal the acknowledged captures minus the acknowledged refunds;
 *   - `payd audit verify` passes;
 *   - (webhooks) every event was delivered to the endpoint (at least once;
 *     redeliveries after a kill are expected and counted).
 *
 * Environment: PAYD_TEST_DB (sqlite | postgres, with PAYD_TEST_PG_URL),
 * BUILD / PAYD_BIN (tests/api/lib/payd.js), CRASH_KILLS (default 30),
 * CRASH_TIME_BUDGET_MS (stop killing after this long; default 60000, 0 = no
 * bound), CRASH_WORKERS (default 6), CRASH_UPTIME_MAX_MS (default 1200),
 * CRASH_SEED (makes the kill times and the load reproducible).
 * Prints a "crash: ..." summary line with the kills survived.
 */
const { test, after } = require('node:test');
const assert = require('node:assert');
const crypto = require('node:crypto');
const http = require('node:http');
const { startPayd, freshDatabase, runPayd, encodeForm } = require('../api/lib/payd');

const KIND = process.env.PAYD_TEST_DB || 'sqlite';
const KILLS = Number(process.env.CRASH_KILLS || 30);
const BUDGET_MS = Number(process.env.CRASH_TIME_BUDGET_MS ?? 60000);
const WORKERS = Number(process.env.CRASH_WORKERS || 6);
const UPTIME_MAX_MS = Number(process.env.CRASH_UPTIME_MAX_MS || 1200);
const SEED = Number(process.env.CRASH_SEED || crypto.randomInt(1, 2 ** 31));
const REQUEST_TIMEOUT_MS = 20000;

/* mulberry32: a small seeded generator, so a failing run can be repeated. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(SEED);
const randInt = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* ---- payd's lifecycle: one instance at a time on one database -------- */

const life = {
  db: null,
  inst: null,
  adminKey: null,
  ready: null, /* promise of the running instance */
  generation: 0,
  kills: 0,
  starts: 0,
};

/* Serve flags for webhooks (when this payd has them): deliveries to the
 * harness's receiver on loopback, quick retries, short leases. */
let webhookArgs = [];

async function startOne() {
  const inst = await startPayd({ database: life.db, adminKey: false, args: webhookArgs });
  life.starts++;
  return inst;
}

/* Kill the running payd with SIGKILL and start another; requests fail meanwhile. */
async function killAndRestart() {
  const old = life.inst;
  let release;
  life.ready = new Promise((r) => { release = r; });
  old.proc.kill('SIGKILL');
  await old.exited;
  await old.stop();
  assert.equal(old.state.signal, 'SIGKILL', 'payd exited before it was killed');
  life.kills++;
  life.generation++;
  life.inst = await startOne();
  release(life.inst);
}

/* ---- requests ---------------------------------------------------------- */

/*
 * One HTTP attempt on the current payd: {status, body, replayed} or
 * {error}. A fresh connection each time (agent: false), so no request rides
 * a socket of a killed process.
 */
function attempt(inst, method, path, bodyText, idemKey) {
  return new Promise((resolve) => {
    const headers = { authorization: `Bearer ${life.adminKey}` };
    if (idemKey) headers['idempotency-key'] = idemKey;
    if (bodyText !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers['content-length'] = Buffer.byteLength(bodyText);
    }
    const req = http.request({
      host: '127.0.0.1', port: inst.port, method, path, headers, agent: false,
      timeout: REQUEST_TIMEOUT_MS,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', (e) => resolve({ error: e }));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body = null;
        try { body = JSON.parse(text); } catch (_) { /* not JSON */ }
        resolve({ status: res.statusCode, body, text, replayed: res.headers['idempotent-replayed'] === 'true' });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ error: e }));
    if (bodyText !== undefined) req.write(bodyText);
    req.end();
  });
}

const stats = { attempts: 0, retries: 0, replayedOnRetry: 0, serverErrors: 0 };

/*
 * Send until acknowledged (status < 500), retrying with the same key and
 * bytes on whatever payd runs then. Returns the acknowledged answer.
 */
async function send(method, path, form, idemKey) {
  const bodyText = form === undefined ? undefined : encodeForm(form);
  for (let tries = 0; ; tries++) {
    if (tries > 0) stats.retries++;
    const inst = await life.ready;
    stats.attempts++;
    const r = await attempt(inst, method, path, bodyText, idemKey);
    if (!r.error && r.status < 500) {
      if (tries > 0 && r.replayed) stats.replayedOnRetry++;
      return { ...r, tries };
    }
    if (!r.error) stats.serverErrors++;
    if (tries > 200) {
      throw new Error(`${method} ${path} never acknowledged: ${r.error ? r.error.message : r.status + ' ' + r.text}`);
    }
    /* Refused: wait for the next payd. A 5xx on a live payd: back off a little. */
    if (inst === life.inst) await sleep(r.error ? 20 : 50);
  }
}

/* ---- the model: what payd acknowledged --------------------------------- */

const model = {
  ops: [],          /* {method, path, form, key, expect, first} in order of acknowledgement */
  customers: new Set(),
  intents: new Map(), /* id -> {amount, received, refunded, manual, captured} */
  refunds: new Map(), /* id -> {pi, amount} */
  capturable: [],   /* manual intents waiting for a capture */
  refundable: [],   /* succeeded intents with something left to refund, not busy */
  endpoints: new Set(),
  failures: [],
};

function fail(msg) {
  model.failures.push(msg);
}

let opCounter = 0;
async function op(method, path, form, expect) {
  const key = `crash-${SEED}-${++opCounter}-${crypto.randomBytes(4).toString('hex')}`;
  const r = await send(method, path, form, key);
  const rec = { method, path, form, key, expect, first: r };
  model.ops.push(rec);
  if (r.status !== expect) {
    fail(`${method} ${path} ${JSON.stringify(form)}: status ${r.status}, expected ${expect}: ${r.text}`);
    return null;
  }
  return r.body;
}

const CURRENCY = 'usd';

async function opCustomer() {
  const c = await op('POST', '/v1/customers', { email: `crash${opCounter}@example.test`, name: 'Crash Test' }, 200);
  if (c) model.customers.add(c.id);
}

function someCustomer() {
  if (model.customers.size === 0 || rand() < 0.5) return undefined;
  const arr = [...model.customers];
  return arr[randInt(0, arr.length - 1)];
}

async function opPay() {
  const amount = randInt(100, 50000);
  const pi = await op('POST', '/v1/payment_intents', {
    amount, currency: CURRENCY, payment_method: 'pm_card_visa', confirm: 'true', customer: someCustomer(),
  }, 200);
  if (!pi) return;
  if (pi.status !== 'succeeded' || pi.amount_received !== amount) {
    fail(`automatic intent ${pi.id}: status ${pi.status}, amount_received ${pi.amount_received}`);
  }
  model.intents.set(pi.id, { amount, received: amount, refunded: 0 });
  model.refundable.push(pi.id);
}

async function opDecline() {
  const amount = randInt(100, 5000);
  const e = await op('POST', '/v1/payment_intents', {
    amount, currency: CURRENCY, payment_method: 'pm_card_chargeDeclined', confirm: 'true',
  }, 402);
  const pi = e && e.error && e.error.payment_intent;
  if (pi && pi.id) model.intents.set(pi.id, { amount, received: 0, refunded: 0 });
  else if (e) fail(`decline without error.payment_intent: ${JSON.stringify(e)}`);
}

async function opAuthorize() {
  const amount = randInt(1000, 50000);
  const pi = await op('POST', '/v1/payment_intents', {
    amount, currency: CURRENCY, payment_method: 'pm_card_visa', capture_method: 'manual', confirm: 'true',
  }, 200);
  if (!pi) return;
  if (pi.status !== 'requires_capture') fail(`manual intent ${pi.id}: status ${pi.status}`);
  model.intents.set(pi.id, { amount, received: 0, refunded: 0, manual: true });
  model.capturable.push(pi.id);
}

async function opCapture() {
  const id = model.capturable.shift();
  if (!id) return opAuthorize();
  const m = model.intents.get(id);
  const amount = randInt(1, m.amount);
  const pi = await op('POST', `/v1/payment_intents/${id}/capture`, { amount_to_capture: amount }, 200);
  if (!pi) return;
  if (pi.status !== 'succeeded' || pi.amount_received !== amount) {
    fail(`capture of ${id}: status ${pi.status}, amount_received ${pi.amount_received}, expected ${amount}`);
  }
  m.received = amount;
  model.refundable.push(id);
}

async function opRefund() {
  if (model.refundable.length === 0) return opPay();
  /* Take the intent out of the pool while its refund is in flight. */
  const id = model.refundable.splice(randInt(0, model.refundable.length - 1), 1)[0];
  const m = model.intents.get(id);
  const left = m.received - m.refunded;
  const amount = rand() < 0.3 ? left : randInt(1, left);
  const re = await op('POST', '/v1/refunds', { payment_intent: id, amount }, 200);
  if (re) {
    if (re.amount !== amount || re.status !== 'succeeded') {
      fail(`refund of ${id}: amount ${re.amount} status ${re.status}, expected ${amount}`);
    }
    model.refunds.set(re.id, { pi: id, amount });
    m.refunded += amount;
  }
  if (m.received - m.refunded > 0) model.refundable.push(id);
}

async function worker(until) {
  while (!until()) {
    const x = rand();
    if (x < 0.12) await opCustomer();
    else if (x < 0.42) await opPay();
    else if (x < 0.47) await opDecline();
    else if (x < 0.62) await opAuthorize();
    else if (x < 0.77) await opCapture();
    else await opRefund();
  }
}

/* ---- webhooks: a receiver on loopback ------------------------------------ */

const hooks = { server: null, port: 0, received: new Map() /* event id -> deliveries */ };

function startReceiver() {
  return new Promise((resolve) => {
    hooks.server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        try {
          const ev = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          if (ev && ev.id) hooks.received.set(ev.id, (hooks.received.get(ev.id) || 0) + 1);
        } catch (_) { /* counted as not delivered */ }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"received":true}');
      });
    });
    hooks.server.listen(0, '127.0.0.1', () => {
      hooks.port = hooks.server.address().port;
      resolve();
    });
  });
}

/* ---- reading payd back -------------------------------------------------- */

async function get(path) {
  const r = await send('GET', path);
  assert.equal(r.status, 200, `GET ${path}: ${r.text}`);
  return r.body;
}

async function listAll(path) {
  const out = [];
  let after = null;
  for (;;) {
    const sep = path.includes('?') ? '&' : '?';
    const page = await get(`${path}${sep}limit=100${after ? `&starting_after=${after}` : ''}`);
    out.push(...page.data);
    if (!page.has_more || page.data.length === 0) return out;
    after = page.data[page.data.length - 1].id;
  }
}

function sameIds(what, got, want) {
  const counts = new Map();
  for (const id of got) counts.set(id, (counts.get(id) || 0) + 1);
  const dup = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
  const extra = [...counts.keys()].filter((id) => !want.has(id));
  const missing = [...want].filter((id) => !counts.has(id));
  assert.deepEqual({ dup, extra, missing }, { dup: [], extra: [], missing: [] },
    `${what}: payd has ${got.length}, ${want.size} were acknowledged`);
}

/* ---- the test ------------------------------------------------------------- */

after(async () => {
  if (life.inst) await life.inst.stop();
  if (life.db) await life.db.drop();
  if (hooks.server) hooks.server.close();
});

test(`crash safety on ${KIND}: ${KILLS} SIGKILLs under load (seed ${SEED})`, async (t) => {
  life.db = await freshDatabase(KIND);
  const help = await runPayd(['serve', '--help']);
  const webhooks = /webhook-allow-http/.test(help.stdout + help.stderr);
  if (webhooks) {
    await startReceiver();
    webhookArgs = ['--webhook-allow-http', '--webhook-allow-hosts', '127.0.0.1',
      '--webhook-timeout-ms', '2000', '--webhook-connect-timeout-ms', '1000',
      '--webhook-retry-base-ms', '200', '--webhook-retry-max-delay-ms', '1000',
      '--webhook-poll-ms', '50'];
  }
  life.inst = await startOne();
  life.ready = Promise.resolve(life.inst);
  const k = await life.inst.keysCreate({ role: 'admin', name: 'crash-admin' });
  life.adminKey = k.secret;

  if (webhooks) {
    /* Setup, before any kill, and without an Idempotency-Key: payd stores an
     * idempotent request's response, and this one carries the signing secret
     * (the secrets scan would rightly find it in idempotency_keys). */
    const ep = await send('POST', '/v1/webhook_endpoints',
      { url: `http://127.0.0.1:${hooks.port}/hook`, enabled_events: ['*'] });
    assert.equal(ep.status, 200, `webhook endpoint not created: ${ep.text}`);
  }

  const t0 = Date.now();
  let stopLoad = false;
  const workers = [];
  for (let i = 0; i < WORKERS; i++) workers.push(worker(() => stopLoad));

  await t.test('load with kills', async () => {
    while (life.kills < KILLS && (BUDGET_MS === 0 || Date.now() - t0 < BUDGET_MS)) {
      await sleep(randInt(50, UPTIME_MAX_MS));
      await killAndRestart();
    }
    stopLoad = true;
    await Promise.all(workers);
    /* The acknowledgements of the last requests may be replays: one more kill
     * with nothing in flight, so the checks run on a payd that recovered. */
    await killAndRestart();
    assert.ok(life.kills >= Math.min(KILLS, 1), `only ${life.kills} kills`);
  });

  await t.test('every acknowledged answer was the expected one', () => {
    assert.deepEqual(model.failures, []);
  });

  await t.test('replaying every request answers its first acknowledged answer', async () => {
    const diffs = [];
    for (const rec of model.ops) {
      const r = await send(rec.method, rec.path, rec.form, rec.key);
      if (r.status !== rec.first.status || r.text !== rec.first.text) {
        diffs.push(`${rec.method} ${rec.path} key ${rec.key}: first ${rec.first.status} ${rec.first.text}\n  replay ${r.status} ${r.text}`);
      } else if (!r.replayed) {
        diffs.push(`${rec.method} ${rec.path} key ${rec.key}: answered again without Idempotent-Replayed`);
      }
    }
    assert.deepEqual(diffs.slice(0, 5), [], `${diffs.length} of ${model.ops.length} replays differ`);
  });

  await t.test('payment intents, refunds and customers exist exactly once', async () => {
    const intents = await listAll('/v1/payment_intents');
    sameIds('payment intents', intents.map((p) => p.id), new Set(model.intents.keys()));
    const bad = [];
    for (const p of intents) {
      const m = model.intents.get(p.id);
      if (p.amount_received !== m.received || (p.amount_refunded || 0) !== m.refunded) {
        bad.push(`${p.id}: received ${p.amount_received} refunded ${p.amount_refunded}, acknowledged ${m.received} / ${m.refunded}`);
      }
    }
    assert.deepEqual(bad, []);
    const refunds = await listAll('/v1/refunds');
    sameIds('refunds', refunds.map((r) => r.id), new Set(model.refunds.keys()));
    for (const r of refunds) assert.equal(r.amount, model.refunds.get(r.id).amount, r.id);
    const customers = await listAll('/v1/customers');
    sameIds('customers', customers.map((c) => c.id), model.customers);
  });

  await t.test('the balance is the acknowledged captures minus refunds', async () => {
    let captured = 0;
    let refunded = 0;
    for (const m of model.intents.values()) captured += m.received;
    for (const r of model.refunds.values()) refunded += r.amount;
    const bal = await get('/v1/balance');
    const sum = (arr) => (arr || []).filter((x) => x.currency === CURRENCY).reduce((s, x) => s + x.amount, 0);
    assert.equal(sum(bal.available) + sum(bal.pending), captured - refunded,
      `balance ${JSON.stringify(bal)}; captured ${captured}, refunded ${refunded}`);
  });

  await t.test('payd audit verify passes', async () => {
    const started = Date.now();
    const r = await runPayd(['audit', 'verify', '--db', life.db.url], { timeoutMs: 600000 });
    stats.auditVerifyMs = Date.now() - started;
    assert.equal(r.code, 0, `payd audit verify:\n${r.stdout}\n${r.stderr}`);
  });

  await t.test('every event was delivered to the webhook endpoint', { skip: !webhooks && 'this payd has no webhooks' }, async () => {
    const events = await listAll('/v1/events');
    assert.ok(events.length > 0, 'no events');
    const deadline = Date.now() + 60000;
    let missing;
    for (;;) {
      missing = events.map((e) => e.id).filter((id) => !hooks.received.has(id));
      if (missing.length === 0 || Date.now() > deadline) break;
      await sleep(250);
    }
    assert.deepEqual(missing.slice(0, 10), [], `${missing.length} of ${events.length} events never delivered`);
    let dups = 0;
    for (const n of hooks.received.values()) dups += n - 1;
    stats.webhookEvents = events.length;
    stats.webhookDuplicates = dups;
  });

  const elapsed = ((Date.now() - t0) / 1000).toFixed(1);
  console.log(`crash: ${KIND}: survived ${life.kills} SIGKILLs in ${elapsed} s (seed ${SEED}); ` +
    `${model.ops.length} requests acknowledged (${model.intents.size} intents, ${model.refunds.size} refunds, ` +
    `${model.customers.size} customers), ${stats.attempts} attempts, ${stats.retries} retries, ` +
    `${stats.replayedOnRetry} retries answered by a replay, ${stats.serverErrors} 5xx` +
    `; audit verify ${stats.auditVerifyMs} ms` +
    (webhooks ? `; ${stats.webhookEvents} events delivered (${stats.webhookDuplicates} redeliveries)` : '; no webhooks in this payd'));
});
