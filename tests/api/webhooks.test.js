'use strict';
/*
 * webhooks.test.js - outbound webhooks end to end: endpoint CRUD (the secret
 * only at creation), delivery of real events to receivers on 127.0.0.1
 * that verify Stripe-Signature with node:crypto and with the official
 * `stripe` package, wildcard subscriptions, retries while a receiver is
 * down, at-least-once delivery across a SIGKILL (before the worker ran, and
 * in the middle of a call), secret rotation overlap, redelivery, the
 * delivery log, auto-disable, the SSRF guard (refusals at registration and
 * at delivery time, with listeners proving no connection was made), and on
 * PostgreSQL two payd processes sharing the outbox under load.
 *
 * Traffic goes only to 127.0.0.1 (and listeners on 127.0.0.2 / ::1 that
 * must never be reached).
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { startPayd, freshDatabase, ROOT, PAYD } = require('./lib/payd');
const { ok, expectError, newCustomer, intent } = require('./lib/intents');

const KIND = process.env.PAYD_TEST_DB || 'sqlite';
const STRIPE_DIR = path.join(ROOT, 'node_modules', 'stripe');
const stripe = fs.existsSync(STRIPE_DIR) ? require(STRIPE_DIR)('sk_test_webhooks') : null;

/* Fast, loopback-only delivery for tests. */
const FAST = [
  '--webhook-allow-http', '--webhook-allow-hosts', '127.0.0.1',
  '--webhook-poll-ms', '50', '--webhook-retry-base-ms', '200', '--webhook-retry-max-delay-ms', '800',
  '--webhook-timeout-ms', '3000', '--quiet-access-log',
];

/* SIGKILL: a crash; the database stays for the next process. */
async function crash(inst) {
  inst.proc.kill('SIGKILL');
  await inst.exited;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, fn, timeoutMs = 20000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/*
 * A webhook receiver on 127.0.0.1. @status(req) gives the answer (default
 * 200; 'hang' never answers). Records every request, and counts requests of
 * one event that overlap in time.
 */
async function receiver({ status = () => 200, delayMs = 0, host = '127.0.0.1', port = 0 } = {}) {
  const r = { got: [], overlaps: 0, maxInFlight: 0, connections: 0, hanging: [] };
  const inFlight = new Map();
  let now = 0;
  const srv = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const id = req.headers['payd-event-id'];
      const n = (inFlight.get(id) || 0) + 1;
      inFlight.set(id, n);
      if (n > 1) r.overlaps++;
      now++;
      r.maxInFlight = Math.max(r.maxInFlight, now);
      let body = null;
      try { body = JSON.parse(raw); } catch (_) { /* recorded as null */ }
      const entry = { headers: req.headers, raw, body, id, method: req.method, url: req.url };
      r.got.push(entry);
      const code = status(entry);
      if (code === 'hang') {
        r.hanging.push(res);
        return;
      }
      if (delayMs) await sleep(delayMs);
      inFlight.set(id, inFlight.get(id) - 1);
      now--;
      res.writeHead(code, { 'content-type': 'text/plain' });
      res.end(code >= 200 && code < 300 ? 'thanks' : 'not now');
    });
  });
  srv.on('connection', () => { r.connections++; });
  await new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, host, resolve);
  });
  r.port = srv.address().port;
  r.url = `http://${host.includes(':') ? `[${host}]` : host}:${r.port}/hook`;
  r.close = () => new Promise((resolve) => {
    for (const res of r.hanging) res.destroy();
    srv.closeAllConnections();
    srv.close(() => resolve());
  });
  r.of = (type) => r.got.filter((g) => g.body && g.body.type === type);
  return r;
}

/* Stripe's scheme, independently: every v1 in the header, and whether one matches @secret. */
function verify(entry, secret, toleranceS = 300) {
  const header = entry.headers['stripe-signature'];
  assert.ok(header, 'Stripe-Signature is present');
  const parts = header.split(',').map((p) => p.split('='));
  const t = parts.filter(([k]) => k === 't').map(([, v]) => v);
  const v1 = parts.filter(([k]) => k === 'v1').map(([, v]) => v);
  assert.equal(t.length, 1, header);
  assert.ok(Math.abs(Number(t[0]) - Date.now() / 1000) < toleranceS, `t=${t[0]} is recent`);
  const want = crypto.createHmac('sha256', secret).update(`${t[0]}.${entry.raw}`).digest('hex');
  return { v1, matches: v1.includes(want) };
}

/* The stored secret columns of every endpoint, read from the database itself. */
function storedSecrets(payd) {
  const sql = 'SELECT secret, old_secret FROM webhook_endpoints';
  if (payd.kind === 'postgres') {
    return execFileSync('psql', [payd.dbUrl, '-qAtc', sql], { encoding: 'utf8' });
  }
  return execFileSync('sqlite3', ['-cmd', '.timeout 10000', payd.dbUrl.replace(/^sqlite:/, ''), sql], { encoding: 'utf8' });
}

async function createEndpoint(payd, url, events = ['*'], extra = {}) {
  return ok(await payd.api('POST', '/v1/webhook_endpoints', {
    form: { url, enabled_events: events, ...extra },
  }), 'create webhook endpoint');
}

async function succeededIntent(payd) {
  return intent(payd, { payment_method: 'pm_card_visa', confirm: true });
}

async function eventOf(payd, type, objectId) {
  return waitFor(`event ${type} of ${objectId}`, async () => {
    const r = ok(await payd.api('GET', `/v1/events?type=${encodeURIComponent(type)}&limit=100`));
    return r.data.find((e) => e.data.object.id === objectId);
  });
}

async function noPending(payd) {
  return waitFor('no pending deliveries', async () => {
    const r = ok(await payd.api('GET', '/v1/webhook_deliveries?status=pending&limit=1'));
    return r.data.length === 0;
  });
}

test('endpoints: create shows the secret once; retrieve, list, update, delete; admin only', async () => {
  const payd = await startPayd({ args: FAST });
  try {
    const we = await createEndpoint(payd, 'http://127.0.0.1:9/hook', ['payment_intent.succeeded', 'charge.*'],
      { description: 'orders', metadata: { team: 'billing' } });
    assert.match(we.id, /^we_/);
    assert.equal(we.object, 'webhook_endpoint');
    assert.match(we.secret, /^whsec_[0-9A-Za-z]{20,}$/);
    assert.deepEqual(we.enabled_events, ['payment_intent.succeeded', 'charge.*']);
    assert.equal(we.status, 'enabled');
    assert.equal(we.description, 'orders');
    assert.deepEqual(we.metadata, { team: 'billing' });
    assert.equal(we.livemode, false);

    const got = ok(await payd.api('GET', `/v1/webhook_endpoints/${we.id}`));
    assert.equal(got.secret, undefined, 'retrieve never shows the secret');
    assert.equal(got.url, 'http://127.0.0.1:9/hook');
    const list = ok(await payd.api('GET', '/v1/webhook_endpoints'));
    assert.equal(list.object, 'list');
    assert.deepEqual(list.data.map((e) => e.id), [we.id]);
    assert.ok(!JSON.stringify(list).includes(we.secret), 'the list never shows the secret');

    const up = ok(await payd.api('POST', `/v1/webhook_endpoints/${we.id}`, {
      body: { url: 'http://127.0.0.1:10/other', enabled_events: ['*'], description: '', metadata: { team: '', k: 'v' }, disabled: true },
    }));
    assert.equal(up.url, 'http://127.0.0.1:10/other');
    assert.deepEqual(up.enabled_events, ['*']);
    assert.equal(up.description, null);
    assert.deepEqual(up.metadata, { k: 'v' });
    assert.equal(up.status, 'disabled');
    assert.equal(up.secret, undefined);
    const again = ok(await payd.api('POST', `/v1/webhook_endpoints/${we.id}`, { form: { disabled: 'false' } }));
    assert.equal(again.status, 'enabled');

    expectError(await payd.api('POST', '/v1/webhook_endpoints', { form: { enabled_events: ['*'] } }), 400, { param: 'url' });
    expectError(await payd.api('POST', '/v1/webhook_endpoints', { form: { url: 'http://127.0.0.1:9/' } }), 400, { param: 'enabled_events' });
    expectError(await payd.api('POST', '/v1/webhook_endpoints', { form: { url: 'http://127.0.0.1:9/', enabled_events: ['Bad Type'] } }), 400, { param: 'enabled_events' });
    expectError(await payd.api('POST', '/v1/webhook_endpoints', { form: { url: 'http://127.0.0.1:9/', enabled_events: ['*'], secret: 'x' } }), 400, { code: 'parameter_unknown' });
    expectError(await payd.api('GET', '/v1/webhook_endpoints/we_000000000000000000000000'), 404, { param: 'id' });

    const staff = await payd.createKey('staff');
    expectError(await payd.api('GET', '/v1/webhook_endpoints', { key: staff }), 403);
    expectError(await payd.api('POST', '/v1/webhook_endpoints', { key: staff, form: { url: 'http://127.0.0.1:9/', enabled_events: ['*'] } }), 403);
    expectError(await payd.api('GET', '/v1/webhook_deliveries', { key: staff }), 403);

    /* At rest the secret is sealed (AES-256-GCM), not stored as given. */
    const stored = storedSecrets(payd);
    assert.match(stored, /enc1:[0-9a-f]+/);
    assert.ok(!stored.includes(we.secret), 'the database does not hold the secret in clear');

    const del = ok(await payd.api('DELETE', `/v1/webhook_endpoints/${we.id}`));
    assert.deepEqual(del, { id: we.id, object: 'webhook_endpoint', deleted: true });
    expectError(await payd.api('GET', `/v1/webhook_endpoints/${we.id}`), 404);
    assert.doesNotMatch(fs.readFileSync(payd.logFile, 'utf8'), new RegExp(we.secret), 'the secret is never logged');
  } finally {
    await payd.stop();
  }
});

/*
 * tests/fakes/dns_gate.c, preloaded into payd: a lookup of a name ending in
 * ".gate.test" waits until the test creates the file @gate, then finds
 * nothing. No resolver is asked and nothing leaves the machine.
 */
function dnsGate() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'payd-dns-gate-'));
  const gate = path.join(dir, 'open');
  const asan = process.env.ASAN_OPTIONS ? `${process.env.ASAN_OPTIONS}:` : '';
  const shim = path.join(path.dirname(PAYD), 'tests', 'fakes', 'dns_gate.so');
  assert.ok(fs.existsSync(shim), `the DNS shim is built beside payd: ${shim}`);
  return {
    gate,
    env: {
      LD_PRELOAD: shim,
      PAYD_TEST_DNS_GATE: gate,
      /* The shim is not instrumented; under ASan it loads before the runtime. */
      ASAN_OPTIONS: `${asan}verify_asan_link_order=0`,
    },
    waiting: () => fs.existsSync(`${gate}.waiting`),
    open: () => fs.writeFileSync(gate, ''),
    /* Lookups wait again, and waiting() tells of the next one only. */
    close: () => { fs.rmSync(gate, { force: true }); fs.rmSync(`${gate}.waiting`, { force: true }); },
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

test("an endpoint's slow DNS lookup does not hold payments back; its verdict still decides", async () => {
  const dns = dnsGate();
  const payd = await startPayd({ args: FAST, env: dns.env });
  try {
    let answered = false;
    const create = payd.api('POST', '/v1/webhook_endpoints', {
      form: { url: 'https://hooks.gate.test/payd', enabled_events: ['*'] },
    }).then((r) => { answered = true; return r; });
    await waitFor('payd to look the host up', dns.waiting);
    /* Writes go on while the lookup waits: on SQLite there is one writer,
     * and a lookup inside its transaction would stop every one of them. */
    const c = await newCustomer(payd);
    const pi = await intent(payd, { customer: c.id, payment_method: 'pm_card_visa', confirm: true });
    assert.equal(pi.status, 'succeeded');
    assert.equal(answered, false, 'the payment was answered while the lookup still waited');
    dns.open();
    const r = await create;
    expectError(r, 400, { param: 'url' });
    assert.match(r.body.error.message, /does not resolve/);
    /* An update's new URL is looked up the same way, and refused alike. */
    const we = ok(await payd.api('POST', '/v1/webhook_endpoints', {
      form: { url: 'http://127.0.0.1:9/hook', enabled_events: ['*'] },
    }));
    const up = await payd.api('POST', `/v1/webhook_endpoints/${we.id}`, { form: { url: 'https://other.gate.test/' } });
    expectError(up, 400, { param: 'url' });
    assert.match(up.body.error.message, /other\.gate\.test' does not resolve/);
    const list = ok(await payd.api('GET', '/v1/webhook_endpoints'));
    assert.deepEqual(list.data.map((e) => e.url), ['http://127.0.0.1:9/hook'], 'nothing of the refused URLs was kept');
  } finally {
    await payd.stop();
    dns.remove();
  }
});

test("an Idempotency-Key replay of an endpoint's create is answered without looking its host up again", async () => {
  const dns = dnsGate();
  const payd = await startPayd({ args: FAST, env: dns.env });
  try {
    dns.open(); /* hooks.ok.gate.test resolves to 127.0.0.1 */
    const form = { url: 'http://hooks.ok.gate.test:9/hook', enabled_events: ['*'] };
    const first = ok(await payd.api('POST', '/v1/webhook_endpoints', { form, idempotencyKey: 'we-dns-1' }));
    assert.ok(dns.waiting(), 'the create looked the host up');
    dns.close();
    /* Were the replay to look the host up, it would wait for the gate (30 s). */
    const again = await payd.api('POST', '/v1/webhook_endpoints', { form, idempotencyKey: 'we-dns-1' });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.equal(again.body.id, first.id);
    assert.equal(dns.waiting(), false, 'the replay looked nothing up');
    /* A new key is a new request: its host is looked up again. */
    dns.open();
    ok(await payd.api('POST', '/v1/webhook_endpoints', { form, idempotencyKey: 'we-dns-2' }));
    assert.ok(dns.waiting(), 'the new request looked the host up');
  } finally {
    await payd.stop();
    dns.remove();
  }
});

test('an Idempotency-Key replay of the create does not show the secret again, nor store it', async () => {
  const payd = await startPayd({ args: FAST });
  try {
    const form = { url: 'http://127.0.0.1:9/hook', enabled_events: ['*'] };
    const first = await payd.api('POST', '/v1/webhook_endpoints', { form, idempotencyKey: 'we-once' });
    const we = ok(first);
    assert.match(we.secret, /^whsec_[0-9A-Za-z]{20,}$/);
    const again = await payd.api('POST', '/v1/webhook_endpoints', { form, idempotencyKey: 'we-once' });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.equal(again.body.id, we.id, 'the same endpoint, not a second one');
    assert.equal(again.body.secret, 'whsec_redacted');
    const list = ok(await payd.api('GET', '/v1/webhook_endpoints'));
    assert.equal(list.data.length, 1);
  } finally {
    await payd.stop();
  }
});

test('payment_intent.succeeded reaches a receiver; the signature verifies (node:crypto and stripe)', async (t) => {
  const rx = await receiver();
  const payd = await startPayd({ args: FAST });
  try {
    const we = await createEndpoint(payd, rx.url, ['payment_intent.succeeded']);
    const pi = await succeededIntent(payd);
    const ev = await eventOf(payd, 'payment_intent.succeeded', pi.id);
    const entry = await waitFor('the delivery', () => rx.of('payment_intent.succeeded')[0]);
    assert.equal(entry.method, 'POST');
    assert.equal(entry.url, '/hook');
    assert.equal(entry.headers['payd-event-id'], ev.id);
    assert.match(entry.headers['user-agent'], /^payd\/\d+\.\d+/);
    assert.match(entry.headers['content-type'], /^application\/json/);
    assert.equal(entry.body.id, ev.id);
    assert.equal(entry.body.object, 'event');
    assert.equal(entry.body.data.object.id, pi.id);
    assert.equal(entry.body.data.object.status, 'succeeded');
    const v = verify(entry, we.secret);
    assert.equal(v.v1.length, 1);
    assert.ok(v.matches, 'v1 is HMAC-SHA256(secret, "t.body")');
    assert.ok(!verify(entry, 'whsec_wrong').matches);
    if (stripe) {
      const e = stripe.webhooks.constructEvent(entry.raw, entry.headers['stripe-signature'], we.secret);
      assert.equal(e.id, ev.id);
      assert.equal(e.type, 'payment_intent.succeeded');
      assert.throws(() => stripe.webhooks.constructEvent(entry.raw, entry.headers['stripe-signature'], 'whsec_wrong'));
      assert.throws(() => stripe.webhooks.constructEvent(entry.raw.replace('succeeded', 'failed'), entry.headers['stripe-signature'], we.secret));
    } else {
      t.diagnostic('node_modules/stripe is absent: verified with node:crypto only');
    }

    /* The delivery log. */
    await noPending(payd);
    const log = ok(await payd.api('GET', `/v1/events/${ev.id}/deliveries`));
    assert.equal(log.data.length, 1);
    const d = log.data[0];
    assert.equal(d.object, 'webhook_delivery');
    assert.equal(d.endpoint, we.id);
    assert.equal(d.status, 'succeeded');
    assert.equal(d.attempt_count, 1);
    assert.equal(d.attempts.length, 1);
    assert.equal(d.attempts[0].status_code, 200);
    assert.equal(d.attempts[0].succeeded, true);
    assert.equal(d.attempts[0].response, 'thanks');
    assert.equal(typeof d.attempts[0].latency_ms, 'number');
    const byEndpoint = ok(await payd.api('GET', `/v1/webhook_deliveries?endpoint=${we.id}&status=succeeded`));
    assert.ok(byEndpoint.data.some((x) => x.id === d.id));
    const failed = ok(await payd.api('GET', `/v1/webhook_deliveries?endpoint=${we.id}&status=failed`));
    assert.equal(failed.data.length, 0);
    expectError(await payd.api('GET', '/v1/webhook_deliveries?status=lost'), 400, { param: 'status' });
    /* Exactly once: nothing else arrives. */
    await sleep(300);
    assert.equal(rx.of('payment_intent.succeeded').length, 1);
  } finally {
    await payd.stop();
    await rx.close();
  }
});

test('wildcards: *, prefix.* and exact names each get exactly their events', async () => {
  const rxAll = await receiver();
  const rxPi = await receiver();
  const rxExact = await receiver();
  const rxCus = await receiver();
  const payd = await startPayd({ args: FAST });
  try {
    await createEndpoint(payd, rxAll.url, ['*']);
    await createEndpoint(payd, rxPi.url, ['payment_intent.*']);
    await createEndpoint(payd, rxExact.url, ['payment_intent.succeeded']);
    await createEndpoint(payd, rxCus.url, ['customer.created']);
    await newCustomer(payd);
    await succeededIntent(payd);
    await noPending(payd);
    const types = (rx) => [...new Set(rx.got.map((g) => g.body.type))].sort();
    assert.ok(types(rxAll).includes('customer.created') && types(rxAll).includes('payment_intent.succeeded'), types(rxAll).join());
    assert.ok(types(rxPi).length >= 2, types(rxPi).join());
    assert.ok(types(rxPi).every((t) => t.startsWith('payment_intent.')), types(rxPi).join());
    assert.deepEqual(types(rxExact), ['payment_intent.succeeded']);
    assert.deepEqual(types(rxCus), ['customer.created']);
    /* Every event once per subscriber. */
    for (const rx of [rxAll, rxPi, rxExact, rxCus]) {
      const ids = rx.got.map((g) => g.id);
      assert.equal(new Set(ids).size, ids.length);
    }
  } finally {
    await payd.stop();
    for (const rx of [rxAll, rxPi, rxExact, rxCus]) await rx.close();
  }
});

test('receiver down, then up: retried with backoff, then delivered once', async () => {
  const probe = await receiver();
  const port = probe.port;
  await probe.close(); /* down: connections are refused */
  const payd = await startPayd({ args: FAST });
  let rx;
  try {
    const we = await createEndpoint(payd, `http://127.0.0.1:${port}/hook`, ['customer.created']);
    const cus = await newCustomer(payd);
    const ev = await eventOf(payd, 'customer.created', cus.id);
    const failing = await waitFor('two failed attempts', async () => {
      const d = ok(await payd.api('GET', `/v1/events/${ev.id}/deliveries`)).data[0];
      return d && d.attempt_count >= 2 ? d : null;
    });
    assert.equal(failing.status, 'pending');
    assert.ok(failing.next_attempt_at !== null);
    assert.ok(failing.attempts.every((a) => a.succeeded === false && a.status_code === null && a.error), JSON.stringify(failing.attempts));
    rx = await receiver({ port });
    const entry = await waitFor('the delivery after the receiver came back', () => rx.got[0]);
    assert.equal(entry.id, ev.id);
    assert.ok(verify(entry, we.secret).matches);
    await noPending(payd);
    await sleep(500);
    assert.equal(rx.got.length, 1, 'delivered once');
    const d = ok(await payd.api('GET', `/v1/events/${ev.id}/deliveries`)).data[0];
    assert.equal(d.status, 'succeeded');
    assert.equal(d.attempts.length, d.attempt_count);
    assert.equal(d.attempts[0].succeeded, true, 'the newest attempt succeeded');
    assert.ok(d.attempts.slice(1).every((a) => !a.succeeded));
    /* Backoff: the failed attempts are spaced out, not hammered. */
    assert.ok(d.attempt_count < 20, `${d.attempt_count} attempts`);
  } finally {
    await payd.stop();
    if (rx) await rx.close();
  }
});

test('a 500 and a timeout are failures; the response excerpt is capped', async () => {
  let n = 0;
  const rx = await receiver({ status: () => (++n === 1 ? 500 : n === 2 ? 'hang' : 200) });
  const payd = await startPayd({ args: [...FAST, '--webhook-timeout-ms', '700'] });
  try {
    await createEndpoint(payd, rx.url, ['customer.created']);
    const cus = await newCustomer(payd);
    const ev = await eventOf(payd, 'customer.created', cus.id);
    const d = await waitFor('success after a 500 and a timeout', async () => {
      const x = ok(await payd.api('GET', `/v1/events/${ev.id}/deliveries`)).data[0];
      return x && x.status === 'succeeded' ? x : null;
    });
    assert.equal(d.attempt_count, 3);
    const [third, second, first] = d.attempts;
    assert.equal(first.status_code, 500);
    assert.equal(first.response, 'not now');
    assert.match(first.error, /500/);
    assert.equal(second.status_code, null);
    assert.match(second.error, /timeout|timed out/i);
    assert.ok(second.latency_ms >= 600, `${second.latency_ms} ms`);
    assert.equal(third.status_code, 200);
  } finally {
    await payd.stop();
    await rx.close();
  }
});

test('killed (SIGKILL) after the commit, before delivery: delivered after restart', async () => {
  const rx = await receiver();
  const db = await freshDatabase(KIND);
  let a;
  let b;
  try {
    a = await startPayd({ database: db, args: [...FAST, '--no-worker'] });
    const we = await createEndpoint(a, rx.url, ['payment_intent.succeeded']);
    const pi = await succeededIntent(a);
    const ev = await eventOf(a, 'payment_intent.succeeded', pi.id);
    const pending = ok(await a.api('GET', `/v1/events/${ev.id}/deliveries`)).data[0];
    assert.equal(pending.status, 'pending', 'the outbox row committed with the event');
    await crash(a);
    assert.equal(rx.got.length, 0);
    b = await startPayd({ database: db, args: FAST });
    const entry = await waitFor('delivery after the restart', () => rx.of('payment_intent.succeeded')[0]);
    assert.equal(entry.id, ev.id);
    assert.ok(verify(entry, we.secret).matches);
    await noPending(b);
    assert.equal(rx.of('payment_intent.succeeded').length, 1);
  } finally {
    if (b) await b.stop();
    if (a) await a.stop();
    await db.drop();
    await rx.close();
  }
});

test('killed in the middle of a call: the lease expires and another process delivers', async () => {
  let n = 0;
  const rx = await receiver({ status: () => (++n === 1 ? 'hang' : 200) });
  const db = await freshDatabase(KIND);
  let a;
  let b;
  try {
    a = await startPayd({ database: db, args: [...FAST, '--webhook-timeout-ms', '1500'] });
    await createEndpoint(a, rx.url, ['customer.created']);
    const cus = await newCustomer(a);
    const ev = await eventOf(a, 'customer.created', cus.id);
    await waitFor('the call in flight', () => rx.got.length === 1);
    await crash(a);
    b = await startPayd({ database: db, args: [...FAST, '--webhook-timeout-ms', '1500'] });
    await waitFor('redelivery once the lease expired', () => rx.got.length === 2, 30000);
    assert.equal(rx.got[1].id, ev.id);
    const d = await waitFor('success recorded', async () => {
      const x = ok(await b.api('GET', `/v1/events/${ev.id}/deliveries`)).data[0];
      return x.status === 'succeeded' ? x : null;
    });
    assert.equal(d.attempt_count, 1, 'the killed attempt left no record, the second one did');
  } finally {
    if (b) await b.stop();
    if (a) await a.stop();
    await db.drop();
    await rx.close();
  }
});

test('SIGTERM during a call: the call is aborted, the delivery handed back, the next process delivers at once', async () => {
  let n = 0;
  const rx = await receiver({ status: () => (++n === 1 ? 'hang' : 200) });
  const db = await freshDatabase(KIND);
  let a;
  let b;
  try {
    /* A long timeout and lease: only the hand-back can make the next delivery prompt. */
    const args = [...FAST, '--webhook-timeout-ms', '30000'];
    a = await startPayd({ database: db, args });
    await createEndpoint(a, rx.url, ['customer.created']);
    const cus = await newCustomer(a);
    const ev = await eventOf(a, 'customer.created', cus.id);
    await waitFor('the call in flight', () => rx.got.length === 1);
    const t0 = Date.now();
    const stopped = await a.stop();
    assert.equal(stopped.code, 0);
    assert.ok(Date.now() - t0 < 5000, `stopped in ${Date.now() - t0} ms`);
    b = await startPayd({ database: db, args });
    await waitFor('delivery by the next process', () => rx.got.length === 2, 10000);
    const d = await waitFor('success recorded', async () => {
      const x = ok(await b.api('GET', `/v1/events/${ev.id}/deliveries`)).data[0];
      return x.status === 'succeeded' ? x : null;
    });
    assert.equal(d.attempt_count, 1, 'the aborted call is not counted as a failure');
  } finally {
    if (b) await b.stop();
    if (a) await a.stop();
    await db.drop();
    await rx.close();
  }
});

test('secret rotation: old and new secrets both sign during the overlap, then only the new', async () => {
  const rx = await receiver();
  const payd = await startPayd({ args: FAST });
  try {
    const we = await createEndpoint(payd, rx.url, ['customer.created']);
    const rot = ok(await payd.api('POST', `/v1/webhook_endpoints/${we.id}/rotate_secret`, { form: { expires_in_s: 3600 } }));
    assert.match(rot.secret, /^whsec_/);
    assert.notEqual(rot.secret, we.secret);
    assert.ok(rot.previous_secret_expires > Date.now() / 1000 + 3500);
    assert.equal(ok(await payd.api('GET', `/v1/webhook_endpoints/${we.id}`)).secret, undefined);

    await newCustomer(payd);
    const first = await waitFor('a delivery during the overlap', () => rx.got[0]);
    const vNew = verify(first, rot.secret);
    assert.equal(vNew.v1.length, 2, first.headers['stripe-signature']);
    assert.ok(vNew.matches, 'the new secret verifies');
    assert.ok(verify(first, we.secret).matches, 'the old secret still verifies');
    if (stripe) {
      stripe.webhooks.constructEvent(first.raw, first.headers['stripe-signature'], rot.secret);
      stripe.webhooks.constructEvent(first.raw, first.headers['stripe-signature'], we.secret);
    }

    const rot2 = ok(await payd.api('POST', `/v1/webhook_endpoints/${we.id}/rotate_secret`, { form: { expires_in_s: 0 } }));
    await newCustomer(payd);
    const second = await waitFor('a delivery after the overlap ended', () => rx.got[1]);
    const v2 = verify(second, rot2.secret);
    assert.equal(v2.v1.length, 1, second.headers['stripe-signature']);
    assert.ok(v2.matches);
    assert.ok(!verify(second, rot.secret).matches);
    assert.ok(!verify(second, we.secret).matches);
    if (stripe) {
      assert.throws(() => stripe.webhooks.constructEvent(second.raw, second.headers['stripe-signature'], we.secret));
    }
    expectError(await payd.api('POST', `/v1/webhook_endpoints/${we.id}/rotate_secret`, { form: { expires_in_s: 99999999 } }), 400, { param: 'expires_in_s' });
    assert.doesNotMatch(fs.readFileSync(payd.logFile, 'utf8'), new RegExp(`${rot.secret}|${rot2.secret}`));
    const stored = storedSecrets(payd);
    for (const sec of [we.secret, rot.secret, rot2.secret]) assert.ok(!stored.includes(sec));
  } finally {
    await payd.stop();
    await rx.close();
  }
});

test('redelivery: again to every endpoint that had it, or to one named endpoint', async () => {
  const rx = await receiver();
  const other = await receiver();
  const payd = await startPayd({ args: FAST });
  try {
    const we = await createEndpoint(payd, rx.url, ['customer.created']);
    const we2 = await createEndpoint(payd, other.url, ['charge.refunded']);
    const cus = await newCustomer(payd);
    const ev = await eventOf(payd, 'customer.created', cus.id);
    await waitFor('first delivery', () => rx.got.length === 1);
    await noPending(payd);
    const re = ok(await payd.api('POST', `/v1/events/${ev.id}/redeliver`));
    assert.equal(re.data.length, 1);
    assert.equal(re.data[0].endpoint, we.id);
    await waitFor('redelivery', () => rx.got.length === 2);
    assert.equal(rx.got[1].id, ev.id);
    assert.equal(other.got.length, 0);

    /* To an endpoint that did not subscribe: on request, it gets it too. */
    const re2 = ok(await payd.api('POST', `/v1/events/${ev.id}/redeliver`, { form: { endpoint: we2.id } }));
    assert.deepEqual(re2.data.map((d) => d.endpoint), [we2.id]);
    await waitFor('delivery to the named endpoint', () => other.got.length === 1);
    assert.ok(verify(other.got[0], we2.secret).matches);
    await noPending(payd);
    const log = ok(await payd.api('GET', `/v1/events/${ev.id}/deliveries`));
    const mine = log.data.find((d) => d.endpoint === we.id);
    assert.equal(mine.attempt_count, 2);
    assert.equal(mine.attempts.length, 2);
    assert.equal(rx.got.length, 2);

    expectError(await payd.api('POST', '/v1/events/evt_000000000000000000000000/redeliver'), 404, { param: 'id' });
    expectError(await payd.api('POST', `/v1/events/${ev.id}/redeliver`, { form: { endpoint: 'we_000000000000000000000000' } }), 404, { param: 'endpoint' });
    expectError(await payd.api('GET', '/v1/events/evt_000000000000000000000000/deliveries'), 404);
  } finally {
    await payd.stop();
    await rx.close();
    await other.close();
  }
});

test('an endpoint failing continuously is disabled, with a webhook_endpoint.disabled event', async () => {
  const bad = await receiver({ status: () => 503 });
  const watcher = await receiver();
  const payd = await startPayd({ args: [...FAST, '--webhook-disable-after-s', '1', '--webhook-retry-base-ms', '100', '--webhook-retry-max-delay-ms', '300'] });
  try {
    const we = await createEndpoint(payd, bad.url, ['customer.created']);
    const w = await createEndpoint(payd, watcher.url, ['webhook_endpoint.disabled']);
    await newCustomer(payd);
    const off = await waitFor('the endpoint disabled', async () => {
      const e = ok(await payd.api('GET', `/v1/webhook_endpoints/${we.id}`));
      return e.status === 'disabled' ? e : null;
    });
    assert.equal(off.status, 'disabled');
    const ev = await eventOf(payd, 'webhook_endpoint.disabled', we.id);
    assert.equal(ev.data.object.status, 'disabled');
    assert.equal(ev.data.object.secret, undefined, 'the event never carries the secret');
    const note = await waitFor('the watcher told', () => watcher.got[0]);
    assert.equal(note.body.type, 'webhook_endpoint.disabled');
    assert.ok(verify(note, w.secret).matches);
    assert.ok(bad.got.length >= 2, `${bad.got.length} attempts before disabling`);
    /* Disabled: no more attempts. */
    await sleep(300);
    const count = bad.got.length;
    await newCustomer(payd);
    await sleep(700);
    assert.equal(bad.got.length, count, 'a disabled endpoint is not called');
  } finally {
    await payd.stop();
    await bad.close();
    await watcher.close();
  }
});

test('SSRF guard: refused at registration, naming url, without a connection', async () => {
  const rx = await receiver();
  const trap2 = await receiver({ host: '127.0.0.2' });
  let trap6 = null;
  try { trap6 = await receiver({ host: '::1', port: rx.port }); } catch (_) { trap6 = null; }
  const payd = await startPayd({ args: FAST });
  const strict = await startPayd({ args: ['--quiet-access-log'] });
  try {
    const refused = [
      `http://127.0.0.2:${trap2.port}/hook`,
      'http://10.0.0.1/hook',
      'http://169.254.169.254/latest/meta-data/',
      `http://[::1]:${rx.port}/hook`,
      `http://[::ffff:127.0.0.1]:${rx.port}/hook`,
      `http://user:secret@127.0.0.1:${rx.port}/hook`,
      'http://100.64.0.1/hook',
      'http://0.0.0.0/hook',
      'http://224.0.0.1/hook',
      'http://[fd00::1]/hook',
      'http://[fe80::1]/hook',
      'ftp://127.0.0.1/hook',
      'not a url',
    ];
    for (const url of refused) {
      const r = await payd.api('POST', '/v1/webhook_endpoints', { form: { url, enabled_events: ['*'] } });
      expectError(r, 400, { param: 'url' });
    }
    /* Without --webhook-allow-http and an allow-list: https only, loopback refused. */
    expectError(await strict.api('POST', '/v1/webhook_endpoints', { form: { url: rx.url, enabled_events: ['*'] } }), 400, { param: 'url', message: /https/ });
    expectError(await strict.api('POST', '/v1/webhook_endpoints', { form: { url: `https://127.0.0.1:${rx.port}/hook`, enabled_events: ['*'] } }), 400, { param: 'url', message: /loopback/ });
    /* Updates too. */
    const we = await createEndpoint(payd, rx.url, ['customer.created']);
    expectError(await payd.api('POST', `/v1/webhook_endpoints/${we.id}`, { form: { url: 'http://10.1.2.3/hook' } }), 400, { param: 'url' });
    assert.equal(ok(await payd.api('GET', `/v1/webhook_endpoints/${we.id}`)).url, rx.url);
    assert.equal(ok(await payd.api('GET', '/v1/webhook_endpoints')).data.length, 1);
    await sleep(200);
    assert.equal(trap2.connections, 0, 'nothing connected to 127.0.0.2');
    if (trap6) assert.equal(trap6.connections, 0, 'nothing connected to [::1]');
    assert.equal(rx.connections, 0, 'nothing connected to the receiver either');
  } finally {
    await payd.stop();
    await strict.stop();
    await rx.close();
    await trap2.close();
    if (trap6) await trap6.close();
  }
});

test('SSRF guard at delivery time: an address no longer allowed is refused without a connection', async () => {
  const rx = await receiver();
  const db = await freshDatabase(KIND);
  let a;
  let b;
  try {
    a = await startPayd({ database: db, args: [...FAST, '--no-worker'] });
    await createEndpoint(a, rx.url, ['customer.created']);
    const cus = await newCustomer(a);
    const ev = await eventOf(a, 'customer.created', cus.id);
    await a.stop();
    /* The same database served without the allow-list: 127.0.0.1 is loopback again. */
    b = await startPayd({ database: db, args: ['--webhook-allow-http', '--webhook-poll-ms', '50', '--quiet-access-log'] });
    const d = await waitFor('a refused attempt', async () => {
      const x = ok(await b.api('GET', `/v1/events/${ev.id}/deliveries`)).data[0];
      return x && x.attempt_count >= 1 ? x : null;
    });
    assert.equal(d.status, 'pending', 'kept for a retry: DNS or the configuration may change');
    assert.match(d.attempts[0].error, /refused: .*loopback/);
    assert.equal(d.attempts[0].status_code, null);
    assert.equal(rx.connections, 0);
  } finally {
    if (b) await b.stop();
    if (a) await a.stop();
    await db.drop();
    await rx.close();
  }
});

test('load: every event delivered exactly once, never two attempts at once (two processes on PostgreSQL)', async (t) => {
  const N = 300;
  const rx = await receiver({ delayMs: 3 });
  const db = await freshDatabase(KIND);
  const procs = [];
  try {
    /* debug: each process logs "webhook delivered" per delivery it made. */
    const args = [...FAST, '--webhook-workers', '4', '--webhook-poll-ms', '20', '--log-level', 'debug'];
    procs.push(await startPayd({ database: db, args }));
    /* Several processes on one SQLite file are not a supported deployment; one there. */
    if (KIND === 'postgres') procs.push(await startPayd({ database: db, args }));
    await createEndpoint(procs[0], rx.url, ['customer.created']);
    let next = 0;
    const work = async (i) => {
      while (next < N) {
        next++;
        await newCustomer(procs[(next + i) % procs.length]);
      }
    };
    await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(work));
    await waitFor(`${N} deliveries`, () => rx.got.length >= N, 60000);
    await noPending(procs[0]);
    await sleep(300);
    const ids = rx.got.map((g) => g.id);
    assert.equal(new Set(ids).size, ids.length, 'no event delivered twice');
    assert.equal(ids.length, N);
    assert.equal(rx.overlaps, 0, 'no event was in flight twice at once');
    /* Every event the API lists was delivered. */
    const seen = new Set(ids);
    let after = null;
    let count = 0;
    for (;;) {
      const q = `/v1/events?type=customer.created&limit=100${after ? `&starting_after=${after}` : ''}`;
      const page = ok(await procs[0].api('GET', q));
      for (const e of page.data) {
        assert.ok(seen.has(e.id), `event ${e.id} delivered`);
        count++;
      }
      if (!page.has_more) break;
      after = page.data[page.data.length - 1].id;
    }
    assert.equal(count, N);
    assert.ok(rx.maxInFlight > 1, 'deliveries ran concurrently');
    const delivered = procs.map((p) => p.state.lines.filter((l) => l.includes('"msg":"webhook delivered"')).length);
    assert.equal(delivered.reduce((x, y) => x + y, 0), N, `deliveries per process: ${delivered}`);
    assert.ok(delivered.every((x) => x > 0), `every process delivered some: ${delivered}`);
    t.diagnostic(`deliveries per process: ${delivered.join(', ')}`);
  } finally {
    for (const p of procs.reverse()) await p.stop();
    await db.drop();
    await rx.close();
  }
});
