'use strict';
/*
 * mobile_money.test.js - mobile money payments end to end (issue 6, item 2)
 * against `payd sim momo`, which the test starts itself on a free loopback
 * port: providers on the mobile_money connector (MTN MoMo, Zain Cash with
 * OTP) configured through /v1/providers; the intent's requires_action with
 * next_action.mobile_money_request and a QR code that zbarimg decodes to the
 * reference; success by callback; each failure reason mapped to its decline
 * code; a request-to-pay that times out then succeeds through the poller;
 * callbacks racing the poller (one ledger posting); forged and contradicting
 * callbacks; a payment the payer approves after its intent was canceled
 * (booked once as unapplied money, never to the intent, by callback and by
 * the poller), and the same after payd's own expiry failed the intent's
 * attempt (callback, poller alone, racing callbacks; a request the wallet
 * failed stays failed); the simulator's 409/400/401; the OTP flow; fallback to the
 * next provider when one is down; the payer's number never in the logs, and
 * sealed in the database (a number an older payd stored in clear still pays,
 * and is sealed at the next start).
 *
 * The fraud rules run with one change (--risk-config): EUR payments from
 * 5,000.00 score 40, over a review threshold of 35, so a wallet payment can
 * be held for review and then approved.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { startPayd, freshDatabase, PAYD } = require('./lib/payd');
const { expectError, ok, eventsFor, auditVerify } = require('./lib/intents');

const SIM_USER = 'payd-sandbox-user';
const SIM_KEY = 'payd-sandbox-key';
const SIM_SUB = 'payd-sandbox-subscription';
const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let sim;
let payd;
let tmp;

/* Start `payd sim momo` on 127.0.0.1:0; resolves {url, proc, lines}. */
function startSim(args) {
  return new Promise((resolve, reject) => {
    const proc = spawn(PAYD, ['sim', 'momo', '--listen', '127.0.0.1:0', ...args],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = [];
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`sim did not start:\n${lines.join('\n')}`)), 15000);
    const onData = (chunk) => {
      buf += chunk.toString('utf8');
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        const m = line.match(/^payd sim momo listening on (http:\/\/\S+)$/);
        if (m) {
          clearTimeout(timer);
          resolve({ url: m[1], proc, lines });
        }
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => reject(new Error(`sim exited ${code}:\n${lines.join('\n')}`)));
  });
}

/* A loopback port nobody listens on. */
function closedPort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/* A wallet provider on the simulator's credentials, on @inst (default the
 * suite's payd). */
async function provider(form, inst = payd) {
  return ok(await inst.api('POST', '/v1/providers', {
    form: {
      type: 'mobile_wallet', connector: 'mobile_money', fee_bps: 100,
      credentials: { api_user: SIM_USER, api_key: SIM_KEY, subscription_key: SIM_SUB },
      ...form,
    },
  }), `create provider ${form.name}`);
}

test.before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'payd-momo-'));
  const riskConfig = path.join(tmp, 'risk.json');
  fs.writeFileSync(riskConfig, JSON.stringify({ review_score: 35, rules: { amount: { points: 40, from: { eur: 500000 } } } }));
  sim = await startSim(['--pending-ms', '1500', '--expire-ms', '1500', '--slow-ms', '2500']);
  payd = await startPayd({ args: ['--momo-poll-interval-ms', '300', '--risk-config', riskConfig] });
  const down = await closedPort();
  await provider({ name: 'mtn', currencies: ['sdg'], priority: 1, connector_config: { base_url: sim.url, wallet: 'mtn_momo' } });
  await provider({
    name: 'mtn-poll', currencies: ['sdg'], priority: 50,
    connector_config: { base_url: sim.url, wallet: 'mtn_momo', callbacks: false, timeout_ms: 700 },
  });
  await provider({ name: 'zain', currencies: ['sdg'], priority: 60, connector_config: { base_url: sim.url, wallet: 'zain_cash' } });
  await provider({ name: 'eur-down', currencies: ['eur'], priority: 1, connector_config: { base_url: `http://127.0.0.1:${down}`, wallet: 'mtn_momo' } });
  await provider({ name: 'eur-up', currencies: ['eur'], priority: 2, fee_bps: 200, connector_config: { base_url: sim.url, wallet: 'sudani_cash' } });
});

test.after(async () => {
  if (expiredSetup) {
    const x = await expiredSetup.catch(() => null);
    if (x && !x.payd.state.exited) await x.payd.stop();
  }
  if (payd) await payd.stop();
  if (sim) sim.proc.kill('SIGTERM');
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

function pay(phone, params = {}, token = undefined) {
  return payd.api('POST', '/v1/payment_intents', {
    token,
    form: {
      amount: 1500, currency: 'sdg', confirm: true,
      payment_method_data: { type: 'mobile_wallet', mobile_wallet: { phone } },
      ...params,
    },
  });
}

async function until(fn, what, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function intentWhen(id, statuses) {
  return until(async () => {
    const pi = ok(await payd.api('GET', `/v1/payment_intents/${id}`));
    return statuses.includes(pi.status) ? pi : null;
  }, `${id} to become ${statuses.join('|')}`);
}

async function simRequest(reference) {
  const r = await fetch(`${sim.url}/sim/requests/${reference}`);
  assert.equal(r.status, 200, `sim knows ${reference}`);
  return r.json();
}

/*
 * The mobile_money_request an intent waited with, from its
 * payment_intent.requires_action event: the answer to the create or confirm
 * may already show the outcome (a callback can be applied before the
 * request's own answer is).
 */
async function waitedWith(id) {
  const evs = await eventsFor(payd, 'payment_intent.requires_action', id);
  assert.ok(evs.length >= 1, `no requires_action event for ${id}`);
  const na = evs[0].data.object.next_action;
  assert.equal(na.type, 'mobile_money_request');
  return na.mobile_money_request;
}

async function charges(pi) {
  return ok(await payd.api('GET', `/v1/balance_transactions?source=${pi}&type=charge`)).data;
}

async function requests(pi) {
  return ok(await payd.api('GET', `/v1/mobile_money_requests?payment_intent=${pi}`)).data;
}

/* A query of payd's own database (the ledger has no HTTP listing of entries). */
function sql(q, on = payd) {
  if (on.kind === 'postgres') {
    return execFileSync('psql', [on.dbUrl, '-qAtF', '|', '-c', q], { encoding: 'utf8' });
  }
  return execFileSync('sqlite3', ['-cmd', '.timeout 10000', on.dbUrl.replace(/^sqlite:/, ''), q], { encoding: 'utf8' });
}

/* The ledger entries caused by @source: [{id, kind, currency, lines: {account: amount}}]. */
function ledgerEntries(source) {
  assert.match(source, /^[A-Za-z0-9_-]+$/);
  const rows = sql(`SELECT e.id, e.kind, e.currency, l.account, l.amount_minor FROM ledger_entries e
    JOIN ledger_lines l ON l.entry_id = e.id WHERE e.source_id = '${source}' ORDER BY e.seq, l.line_no`);
  const byId = new Map();
  for (const line of rows.split('\n').filter(Boolean)) {
    const [id, kind, currency, account, amount] = line.split('|');
    if (!byId.has(id)) byId.set(id, { id, kind, currency, lines: {} });
    const lines = byId.get(id).lines;
    lines[account] = (lines[account] || 0) + Number(amount);
  }
  return [...byId.values()];
}

/* The sandbox wallet approves request @ref now (test-only simulator endpoint). */
async function approveInWallet(ref) {
  const r = await fetch(`${sim.url}/sim/requests/${ref}/approve`, { method: 'POST' });
  const text = await r.text();
  assert.equal(r.status, 200, text);
  return JSON.parse(text);
}

async function requestWhen(pi, statuses) {
  return until(async () => {
    const [r] = await requests(pi);
    return statuses.includes(r.status) ? r : null;
  }, `${pi}'s request to become ${statuses.join('|')}`);
}

/*
 * What a wallet payment approved after its intent was canceled must leave:
 * the request succeeded_unapplied with the wallet's transaction id, one
 * balanced ledger entry (the wallet's clearing account against unapplied
 * receipts, nothing on the merchant balance), one event, and nothing on the
 * canceled intent.
 */
async function assertUnapplied(pi, ref, amount, balanceBefore, intentStatus = 'canceled') {
  const req = await requestWhen(pi, ['succeeded_unapplied']);
  assert.equal(req.id, ref);
  assert.equal(req.amount, amount);
  assert.equal(req.currency, 'sdg');
  assert.ok(req.financial_transaction_id, 'the wallet\'s transaction id is kept');
  await new Promise((r) => setTimeout(r, 800)); /* let the poller and any callback look again */
  const entries = ledgerEntries(ref);
  assert.equal(entries.length, 1, `exactly one ledger entry: ${JSON.stringify(entries)}`);
  assert.equal(entries[0].kind, 'unapplied_receipt');
  assert.equal(entries[0].currency, 'sdg');
  assert.deepEqual(entries[0].lines, {
    'assets:processor:mobile_money': amount,
    'liabilities:unapplied_receipts:mobile_money': -amount,
  });
  assert.equal(Object.values(entries[0].lines).reduce((a, b) => a + b, 0), 0, 'balanced');
  assert.equal(ledgerEntries(pi).length, 0, 'nothing booked to the intent');
  assert.equal((await charges(pi)).length, 0);
  const intentNow = ok(await payd.api('GET', `/v1/payment_intents/${pi}`));
  assert.equal(intentNow.status, intentStatus);
  assert.equal(intentNow.amount_received, 0);
  const evs = await eventsFor(payd, 'mobile_money_request.unapplied', ref);
  assert.equal(evs.length, 1, 'one mobile_money_request.unapplied event');
  assert.equal(evs[0].data.object.status, 'succeeded_unapplied');
  assert.equal(evs[0].data.object.payment_intent, pi);
  assert.equal(evs[0].data.object.amount, amount);
  assert.equal((await eventsFor(payd, 'payment_intent.succeeded', pi)).length, 0);
  /* Staff find it without knowing the intent. */
  const listed = ok(await payd.api('GET', '/v1/mobile_money_requests?status=succeeded_unapplied')).data;
  assert.ok(listed.some((x) => x.id === ref && x.amount === amount), 'listed by status');
  /* The payer's money is not the merchant's: the balance did not move. */
  const after = ok(await payd.api('GET', '/v1/balance')).available.find((x) => x.currency === 'sdg');
  assert.equal(after ? after.amount : 0, balanceBefore);
  const v = await auditVerify(payd);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  return req;
}

async function sdgBalance() {
  const b = ok(await payd.api('GET', '/v1/balance')).available.find((x) => x.currency === 'sdg');
  return b ? b.amount : 0;
}

test('a wallet payment: requires_action with reference, instructions and QR, then succeeded by the callback', async () => {
  const r = await pay('+46 733 999 999', { expand: ['payment_method'] });
  const pi = ok(r, 'create');
  assert.ok(['requires_action', 'succeeded'].includes(pi.status), pi.status);
  assert.equal(pi.provider, 'mtn');
  assert.equal(pi.fee_amount, 15);
  const m = await waitedWith(pi.id);
  assert.match(m.reference, UUID4);
  assert.equal(m.provider, 'mtn');
  assert.equal(m.wallet, 'mtn_momo');
  assert.equal(m.payer_phone_last4, '9999');
  assert.equal(m.amount, '15.00');
  assert.equal(m.currency, 'SDG');
  assert.equal(m.otp_required, false);
  assert.match(m.instructions, /PIN/);
  assert.match(m.qr_code.png, /^data:image\/png;base64,/);
  assert.match(m.qr_code.svg, /^<svg /);
  assert.ok(m.expires_at > pi.created);
  /* The payment method: a mobile wallet, shown by its last four digits only. */
  assert.equal(pi.payment_method.type, 'mobile_wallet');
  assert.equal(pi.payment_method.mobile_wallet.phone_last4, '9999');
  assert.ok(!r.text.includes('46733999999'), 'the full number is not in the intent');

  /* What payd sent: the amount as a decimal string of the currency, its own reference and id. */
  const sent = await simRequest(m.reference);
  assert.equal(sent.request.amount, '15.00');
  assert.equal(sent.request.currency, 'SDG');
  assert.equal(sent.request.externalId, pi.id);
  assert.deepEqual(sent.request.payer, { partyIdType: 'MSISDN', partyId: '46733999999' });
  assert.equal(sent.environment, 'sandbox');
  assert.ok(sent.callback_url.startsWith(`${payd.url}/v1/mobile_money/callbacks/${m.reference}?sig=`));

  const done = await intentWhen(pi.id, ['succeeded']);
  assert.equal(done.amount_received, 1500);
  assert.equal(done.next_action, null);
  assert.equal((await charges(pi.id)).length, 1);
  const reqs = await requests(pi.id);
  assert.equal(reqs.length, 1);
  assert.equal(reqs[0].id, m.reference);
  assert.equal(reqs[0].status, 'succeeded');
  assert.equal(reqs[0].payer_phone_last4, '9999');
  assert.ok(reqs[0].financial_transaction_id);
  assert.equal((await eventsFor(payd, 'payment_intent.succeeded', pi.id)).length, 1);
});

test('the QR code decodes (zbarimg) to a payload carrying the reference', async () => {
  const pi = ok(await pay('46733123454'), 'create');
  const m = pi.next_action.mobile_money_request;
  const png = Buffer.from(m.qr_code.png.replace(/^data:image\/png;base64,/, ''), 'base64');
  const file = path.join(tmp, 'qr.png');
  fs.writeFileSync(file, png);
  const decoded = execFileSync('zbarimg', ['--quiet', '--raw', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  assert.equal(decoded, m.qr_code.payload);
  assert.ok(decoded.includes(`reference=${m.reference}`), decoded);
  assert.ok(decoded.includes('amount=15.00'), decoded);
  ok(await payd.api('POST', `/v1/payment_intents/${pi.id}/cancel`), 'cancel');
});

test('each failure reason declines with its decline code, no money moves', async () => {
  const cases = [
    ['46733123450', 'INTERNAL_PROCESSING_ERROR', 'processing_error'],
    ['46733123451', 'APPROVAL_REJECTED', 'do_not_honor'],
    ['46733123452', 'EXPIRED', 'expired_request'],
    ['46733123455', 'PAYER_NOT_FOUND', 'invalid_account'],
    ['46733123456', 'NOT_ENOUGH_FUNDS', 'insufficient_funds'],
    ['46733123457', 'PAYER_LIMIT_REACHED', 'card_velocity_exceeded'],
    ['46733123458', 'SERVICE_UNAVAILABLE', 'issuer_not_available'],
  ];
  const created = [];
  for (const [phone, reason, decline] of cases) {
    const pi = ok(await pay(phone), `create ${phone}`);
    assert.ok(['requires_action', 'requires_payment_method'].includes(pi.status), pi.status);
    created.push([pi.id, reason, decline]);
  }
  for (const [id, reason, decline] of created) {
    const pi = await intentWhen(id, ['requires_payment_method']);
    assert.equal(pi.last_payment_error.code, 'payment_method_provider_decline', reason);
    assert.equal(pi.last_payment_error.decline_code, decline, reason);
    assert.equal(pi.last_payment_error.type, 'card_error');
    assert.equal(pi.amount_received, 0);
    assert.equal((await charges(id)).length, 0);
    const reqs = await requests(id);
    assert.equal(reqs[0].status, 'failed');
    assert.equal(reqs[0].failure_reason, reason);
    assert.equal((await eventsFor(payd, 'payment_intent.payment_failed', id)).length, 1);
  }
});

test('a request-to-pay that times out is settled by the poller: succeeded once', async () => {
  /* mtn-poll: 700 ms timeout, no callbacks; 46733123460: the simulator answers after 2.5 s. */
  const r = await pay('46733123460', { provider: 'mtn-poll' });
  const pi = ok(r, 'create');
  const m = await waitedWith(pi.id);
  const sent = await simRequest(m.reference);
  assert.equal(sent.callback_url, null);
  const done = await intentWhen(pi.id, ['succeeded']);
  assert.equal(done.amount_received, 1500);
  const reqs = await requests(pi.id);
  assert.equal(reqs.length, 1, 'the same reference, never a second request');
  assert.equal(reqs[0].status, 'succeeded');
  assert.equal(reqs[0].settled_by, 'poll');
  assert.equal((await charges(pi.id)).length, 1);
});

test('callbacks racing the poller: one posting', async () => {
  const before = ok(await payd.api('GET', '/v1/balance')).available.find((x) => x.currency === 'sdg');
  /* 46733123453: pending 1.5 s, then successful; the poller looks every 300 ms. */
  const pi = ok(await pay('46733123453', { amount: 2500 }), 'create');
  const ref = (await waitedWith(pi.id)).reference;
  const s = await until(async () => {
    const x = await simRequest(ref);
    return x.state === 'successful' ? x : null;
  }, 'the payer to approve');
  /* Eight copies of the callback at once, beside the simulator's own and the poller. */
  const hits = await Promise.all(Array.from({ length: 8 }, () => fetch(s.callback_url, {
    method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(s.status),
  })));
  for (const h of hits) assert.equal(h.status, 200, await h.text());
  const resent = await fetch(`${sim.url}/sim/requests/${ref}/callback`, { method: 'POST' });
  assert.equal((await resent.json()).http_status, 200);
  const done = await intentWhen(pi.id, ['succeeded']);
  assert.equal(done.amount_received, 2500);
  await new Promise((r) => setTimeout(r, 800)); /* let the poller look again */
  assert.equal((await charges(pi.id)).length, 1, 'exactly one ledger posting');
  assert.equal((await eventsFor(payd, 'payment_intent.succeeded', pi.id)).length, 1);
  const after = ok(await payd.api('GET', '/v1/balance')).available.find((x) => x.currency === 'sdg');
  const was = before ? before.amount : 0;
  const fee = 25; /* 1 % of 25.00 */
  assert.ok(after.amount - was >= 2500 - fee, 'the payment is on the balance');
  const v = await auditVerify(payd);
  assert.equal(v.code, 0, v.stdout + v.stderr);
});

test('forged and contradicting callbacks are refused and change nothing', async () => {
  const pi = ok(await pay('46733123454'), 'create');
  const ref = pi.next_action.mobile_money_request.reference;
  const sent = await simRequest(ref);
  const good = new URL(sent.callback_url);
  const body = { externalId: pi.id, amount: '15.00', currency: 'SDG', status: 'SUCCESSFUL', financialTransactionId: '1' };
  const forged = `${payd.url}${good.pathname}?sig=${'0'.repeat(64)}`;
  const r1 = await fetch(forged, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(r1.status, 404);
  const r2 = await fetch(`${payd.url}/v1/mobile_money/callbacks/${crypto.randomUUID()}${good.search}`,
    { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(r2.status, 404);
  const r3 = await fetch(good, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, amount: '1.00' }) });
  assert.equal(r3.status, 400);
  const r4 = await fetch(good, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'not json' });
  assert.equal(r4.status, 400);
  const still = ok(await payd.api('GET', `/v1/payment_intents/${pi.id}`));
  assert.equal(still.status, 'requires_action');
  assert.equal((await charges(pi.id)).length, 0);
  /* 46733123454 stays pending: cancel; the request is still watched, and a
   * contradicting callback is still refused. */
  ok(await payd.api('POST', `/v1/payment_intents/${pi.id}/cancel`), 'cancel');
  assert.equal((await requests(pi.id))[0].status, 'canceling');
  const r5 = await fetch(good, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, currency: 'EUR' }) });
  assert.equal(r5.status, 400);
  assert.equal((await requests(pi.id))[0].status, 'canceling');
  assert.equal(ledgerEntries(ref).length, 0);
});

test('paid after its intent was canceled, told by the callback: unapplied, booked once, never to the intent', async () => {
  const before = await sdgBalance();
  /* 46733123454: the wallet holds the request pending until the payer approves. */
  const pi = ok(await pay('46733123454', { amount: 3300 }), 'create');
  const ref = (await waitedWith(pi.id)).reference;
  await until(async () => (await simRequest(ref)).state === 'pending', 'the wallet to hold the request');
  ok(await payd.api('POST', `/v1/payment_intents/${pi.id}/cancel`), 'cancel');
  const held = await requests(pi.id);
  assert.equal(held[0].status, 'canceling', 'still watched: the prompt is on the payer\'s phone');
  /* The payer approves anyway; the wallet calls back (its own callback and
   * eight copies at once, beside the poller). */
  const approved = await approveInWallet(ref);
  assert.equal(approved.state, 'successful');
  const hits = await Promise.all(Array.from({ length: 8 }, () => fetch(approved.callback_url, {
    method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(approved.status),
  })));
  for (const h of hits) assert.equal(h.status, 200, await h.text());
  const req = await assertUnapplied(pi.id, ref, 3300, before);
  assert.ok(['callback', 'poll'].includes(req.settled_by), req.settled_by);
  assert.equal(req.financial_transaction_id, approved.status.financialTransactionId);
  /* A callback after it settled changes nothing. */
  const again = await fetch(approved.callback_url, {
    method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(approved.status),
  });
  assert.equal(again.status, 200);
  assert.equal(ledgerEntries(ref).length, 1);
  if (payd.kind === 'sqlite') {
    /* audit verify checks these books: a copy where the request claims it
     * failed while its money sits on the liability is refused. */
    const copy = path.join(payd.dir, `unapplied-${ref}.db`);
    const file = payd.dbUrl.replace(/^sqlite:/, '');
    execFileSync('sqlite3', ['-cmd', '.timeout 10000', file, `.backup ${copy}`]);
    execFileSync('sqlite3', ['-cmd', '.timeout 10000', copy,
      `UPDATE momo_requests SET status = 'failed' WHERE reference = '${ref}'`]);
    const bad = await payd.cli(['audit', 'verify', '--db', `sqlite:${copy}`]);
    assert.notEqual(bad.code, 0, bad.stdout);
    assert.match(bad.stdout, new RegExp(`FAIL mobile money: .*${ref} \\(failed, 3300\\): unapplied receipt 3300, refund 0`));
  }
});

test('paid after its intent was canceled, found by the poller: unapplied, booked once, never to the intent', async () => {
  const before = await sdgBalance();
  /* mtn-poll sends no callback URL: only the poller can learn the outcome. */
  const pi = ok(await pay('46733123454', { provider: 'mtn-poll', amount: 4100 }), 'create');
  const ref = (await waitedWith(pi.id)).reference;
  await until(async () => (await requests(pi.id))[0].status === 'pending', 'the wallet to accept the request');
  ok(await payd.api('POST', `/v1/payment_intents/${pi.id}/cancel`), 'cancel');
  assert.equal((await requests(pi.id))[0].status, 'canceling');
  const approved = await approveInWallet(ref);
  assert.equal(approved.callback_url, null);
  const req = await assertUnapplied(pi.id, ref, 4100, before);
  assert.equal(req.settled_by, 'poll');
});

test('a request superseded by a new attempt and paid anyway is unapplied; the new one pays the intent', async () => {
  const before = await sdgBalance();
  const pi = ok(await pay('46733123454', { amount: 2200 }), 'create');
  const first = (await waitedWith(pi.id)).reference;
  await until(async () => (await requests(pi.id))[0].status === 'pending', 'the wallet to accept the first request');
  /* The payer gives the number again: a second request supersedes the first. */
  const again = ok(await payd.api('POST', `/v1/payment_intents/${pi.id}/confirm`, {
    form: { payment_method_data: { type: 'mobile_wallet', mobile_wallet: { phone: '46733123454' } } },
  }), 'confirm again');
  const second = again.next_action.mobile_money_request.reference;
  assert.notEqual(second, first);
  const both = await requests(pi.id);
  assert.deepEqual(both.map((x) => x.id), [second, first]);
  assert.ok(['sending', 'pending'].includes(both[0].status), both[0].status);
  assert.equal(both[1].status, 'canceling', 'the first prompt may still be approved');
  /* The payer approves both prompts. */
  await approveInWallet(first);
  const unapplied = (await until(async () => {
    const r = (await requests(pi.id)).find((x) => x.id === first);
    return r.status === 'succeeded_unapplied' ? r : null;
  }, 'the first request to be unapplied'));
  assert.equal(unapplied.amount, 2200);
  assert.equal(ok(await payd.api('GET', `/v1/payment_intents/${pi.id}`)).status, 'requires_action', 'the intent still waits for the second');
  await approveInWallet(second);
  const done = await intentWhen(pi.id, ['succeeded']);
  assert.equal(done.amount_received, 2200);
  await new Promise((r) => setTimeout(r, 800)); /* let the poller look again */
  assert.equal((await charges(pi.id)).length, 1);
  assert.deepEqual(ledgerEntries(first).map((e) => [e.kind, e.lines['liabilities:unapplied_receipts:mobile_money']]),
    [['unapplied_receipt', -2200]]);
  assert.equal(ledgerEntries(second).length, 0, 'the paying request books to the intent');
  assert.equal(ledgerEntries(pi.id).length, 1);
  assert.equal((await eventsFor(payd, 'mobile_money_request.unapplied', first)).length, 1);
  assert.equal((await eventsFor(payd, 'mobile_money_request.unapplied', second)).length, 0);
  assert.equal(await sdgBalance(), before + 2200 - 22, 'only the intent\'s payment (less the 1 % fee) is the merchant\'s');
  const v = await auditVerify(payd);
  assert.equal(v.code, 0, v.stdout + v.stderr);
});

test('unapplied money is paid back by a second staff member: two requests of one intent, maker-checker, rejection, the reverse entry once', async () => {
  const before = await sdgBalance();
  const alice = await payd.mintToken({ sub: 'staff_alice', role: 'staff' });
  const bob = await payd.mintToken({ sub: 'staff_bob', role: 'staff' });
  const auditor = await payd.mintToken({ sub: 'auditor_ann', role: 'auditor' });
  const refund = (ref, token, form = {}) => payd.api('POST', `/v1/mobile_money_requests/${ref}/refund`, { token, form });
  const decide = (ver, action, token, form = {}) => payd.api('POST', `/v1/verifications/${ver}/${action}`, { token, form });
  const request = async (pi, ref) => (await requests(pi)).find((x) => x.id === ref);
  const liability = (ref) => ledgerEntries(ref).reduce((a, e) => a + (e.lines['liabilities:unapplied_receipts:mobile_money'] || 0), 0);

  /* Two prompts of one intent paid after it stopped waiting for them: one superseded, one canceled. */
  const pi = ok(await pay('46733123454', { amount: 1700 }), 'create');
  const first = (await waitedWith(pi.id)).reference;
  await until(async () => (await requests(pi.id))[0].status === 'pending', 'the wallet to accept the first request');
  const again = ok(await payd.api('POST', `/v1/payment_intents/${pi.id}/confirm`, {
    form: { payment_method_data: { type: 'mobile_wallet', mobile_wallet: { phone: '46733123454' } } },
  }), 'confirm again');
  const second = again.next_action.mobile_money_request.reference;
  await until(async () => (await request(pi.id, second)).status === 'pending', 'the wallet to accept the second request');
  /* Not unapplied (yet): nothing to pay back. */
  expectError(await refund(second, alice), 400, { code: 'payment_intent_unexpected_state', param: 'reference' });
  await approveInWallet(first);
  await until(async () => (await request(pi.id, first)).status === 'succeeded_unapplied', 'the first request to be unapplied');

  const v1 = ok(await refund(first, alice), 'ask to pay back the first');
  assert.equal(v1.object, 'verification');
  assert.equal(v1.kind, 'unapplied_refund');
  assert.equal(v1.status, 'pending');
  assert.equal(v1.mobile_money_request, first);
  assert.equal(v1.payment_intent, pi.id);
  assert.equal(v1.amount, 1700);
  assert.equal(v1.currency, 'sdg');
  assert.equal(v1.tender, 'mobile_wallet');
  assert.equal(v1.recorded_by, 'staff_alice');
  expectError(await refund(first, bob), 400, { param: 'reference' });
  /* Canceling the intent cancels its payment's verifications, not the payer's refund. */
  ok(await payd.api('POST', `/v1/payment_intents/${pi.id}/cancel`), 'cancel');
  assert.equal(ok(await payd.api('GET', `/v1/verifications/${v1.id}`)).status, 'pending');
  await approveInWallet(second);
  await until(async () => (await request(pi.id, second)).status === 'succeeded_unapplied', 'the second request to be unapplied');
  const v2 = ok(await refund(second, alice), 'ask to pay back the second: one intent, two pending');
  assert.equal(v2.mobile_money_request, second);
  const pending = ok(await payd.api('GET', `/v1/verifications?payment_intent=${pi.id}&kind=unapplied_refund&status=pending`)).data;
  assert.deepEqual(pending.map((v) => v.id).sort(), [v1.id, v2.id].sort());

  /* Maker-checker, and read-only roles. */
  expectError(await decide(v1.id, 'approve', alice), 403, { code: 'maker_checker_violation' });
  expectError(await refund(first, auditor), 403);
  /* A rejection moves nothing; the money stays owed and can be asked for again. */
  expectError(await decide(v2.id, 'reject', bob), 400, { param: 'reason' });
  ok(await decide(v2.id, 'reject', bob, { reason: 'The payer asked to apply it to the next visit' }), 'reject');
  assert.equal((await request(pi.id, second)).status, 'succeeded_unapplied');
  assert.deepEqual(ledgerEntries(second).map((e) => e.kind), ['unapplied_receipt']);
  assert.equal(liability(second), -1700);

  const approved = ok(await decide(v1.id, 'approve', bob), 'approve');
  assert.equal(approved.status, 'approved');
  assert.equal(approved.decided_by, 'staff_bob');
  const refunded = await request(pi.id, first);
  assert.equal(refunded.status, 'refunded');
  assert.equal(typeof refunded.refunded_at, 'number');
  const entries = ledgerEntries(first);
  assert.deepEqual(entries.map((e) => e.kind), ['unapplied_receipt', 'unapplied_refund']);
  assert.deepEqual(entries[1].lines, {
    'liabilities:unapplied_receipts:mobile_money': 1700,
    'assets:processor:mobile_money': -1700,
  });
  assert.equal(entries[1].currency, 'sdg');
  assert.equal(liability(first), 0, 'nothing owed for the first any more');
  const evs = await eventsFor(payd, 'mobile_money_request.refunded', first);
  assert.equal(evs.length, 1);
  assert.equal(evs[0].data.object.status, 'refunded');
  assert.equal(evs[0].data.object.amount, 1700);
  /* Paid back once: neither a second request nor a second approval moves money again. */
  expectError(await refund(first, alice), 400, { param: 'reference' });
  expectError(await decide(v1.id, 'approve', bob), 400);
  assert.equal(ledgerEntries(first).length, 2);
  const listed = ok(await payd.api('GET', '/v1/mobile_money_requests?status=refunded')).data;
  assert.ok(listed.some((x) => x.id === first));

  const v3 = ok(await refund(second, alice), 'ask again for the second');
  ok(await decide(v3.id, 'approve', bob), 'approve the second');
  assert.equal((await request(pi.id, second)).status, 'refunded');
  assert.equal(liability(second), 0);
  /* None of it was ever the merchant's, and the intent was never paid. */
  assert.equal(await sdgBalance(), before);
  const intentNow = ok(await payd.api('GET', `/v1/payment_intents/${pi.id}`));
  assert.equal(intentNow.status, 'canceled');
  assert.equal(intentNow.amount_received, 0);
  const v = await auditVerify(payd);
  assert.equal(v.code, 0, v.stdout + v.stderr);
});

test('listing requests by status pages with starting_after; an unknown one is a 400 naming it', async () => {
  const all = ok(await payd.api('GET', '/v1/mobile_money_requests?status=failed'));
  assert.ok(all.data.length >= 2, `failed requests: ${all.data.length}`);
  assert.equal(all.has_more, false);
  const next = ok(await payd.api('GET', `/v1/mobile_money_requests?status=failed&starting_after=${all.data[0].id}`));
  assert.deepEqual(next.data.map((r) => r.id), all.data.slice(1).map((r) => r.id));
  expectError(await payd.api('GET', `/v1/mobile_money_requests?status=failed&starting_after=${crypto.randomUUID()}`),
    400, { param: 'starting_after' });
});

test('paying back unapplied money: bad input is an error naming the parameter', async () => {
  const missing = '0b7c2a52-7a4d-4e3f-9a61-0c1d2e3f4a5b';
  expectError(await payd.api('POST', `/v1/mobile_money_requests/${missing}/refund`), 404, { param: 'reference' });
  expectError(await payd.api('POST', '/v1/mobile_money_requests/not-a-reference/refund'), 404, { param: 'reference' });
  const pi = ok(await pay('46733000001'), 'create');
  const ref = (await waitedWith(pi.id)).reference;
  await intentWhen(pi.id, ['succeeded']);
  expectError(await payd.api('POST', `/v1/mobile_money_requests/${ref}/refund`), 400, { param: 'reference' });
  expectError(await payd.api('POST', `/v1/mobile_money_requests/${ref}/refund`, { form: { amount: 5 } }), 400, { param: 'amount' });
  expectError(await payd.api('GET', '/v1/verifications?kind=unapplied_refunds'), 400, { param: 'kind' });
});

test('a request the intent stopped waiting for is never sent again, and settles canceled when the wallet fails it', async () => {
  /* 46733123452: pending, then EXPIRED at the wallet. */
  const pi = ok(await pay('46733123452', { provider: 'mtn-poll' }), 'create');
  const ref = (await waitedWith(pi.id)).reference;
  ok(await payd.api('POST', `/v1/payment_intents/${pi.id}/cancel`), 'cancel');
  const req = await requestWhen(pi.id, ['canceled']);
  assert.equal(req.failure_reason, 'EXPIRED');
  assert.equal(req.settled_by, 'poll');
  assert.equal(req.sends, 1, 'asked about, never sent again');
  assert.equal((await simRequest(ref)).state, 'failed');
  assert.equal(ledgerEntries(ref).length, 0);
  assert.equal((await eventsFor(payd, 'mobile_money_request.unapplied', ref)).length, 0);
});

/*
 * Payd's own expiry (expires_in_s, 600 s): payd fails the intent's attempt
 * (EXPIRED) but keeps asking the wallet, which has its own clock, for
 * PAY_MOMO_LATE_WATCH_S more. A payd of its own on a database of its own:
 * requests the wallet holds are made, then payd is restarted 610 s ahead
 * (PAYD_CLOCK_OFFSET), past their expiry. Made once, used by the tests below.
 */
let expiredSetup;
function expiredRequests() {
  if (!expiredSetup) {
    expiredSetup = (async () => {
      const db = await freshDatabase(payd.kind);
      const args = ['--momo-poll-interval-ms', '300'];
      let own = await startPayd({ database: db, args });
      const create = (name, config) => provider({
        name, currencies: ['sdg'], priority: name === 'mtn' ? 1 : 50,
        connector_config: { base_url: sim.url, wallet: 'mtn_momo', ...config },
      }, own);
      await create('mtn', {});
      await create('mtn-poll', { callbacks: false });
      const payOwn = async (phone, amount, prov) => ok(await own.api('POST', '/v1/payment_intents', {
        form: {
          amount, currency: 'sdg', confirm: true, provider: prov,
          payment_method_data: { type: 'mobile_wallet', mobile_wallet: { phone } },
        },
      }), `create ${phone} ${amount}`);
      /* 46733123454: the wallet holds the request until the payer approves; 46733123451: the payer rejects it. */
      const made = {
        callback: await payOwn('46733123454', 3100, 'mtn'),
        poll: await payOwn('46733123454', 4200, 'mtn-poll'),
        race: await payOwn('46733123454', 5300, 'mtn'),
        rejected: await payOwn('46733123451', 6400, 'mtn'),
      };
      const out = { db };
      const reqsOf = async (pi) => ok(await own.api('GET', `/v1/mobile_money_requests?payment_intent=${pi}`)).data;
      for (const [k, pi] of Object.entries(made)) {
        const evs = await eventsFor(own, 'payment_intent.requires_action', pi.id);
        const ref = evs[0].data.object.next_action.mobile_money_request.reference;
        const want = k === 'rejected' ? 'failed' : 'pending';
        await until(async () => (await reqsOf(pi.id))[0].status === want, `${k}'s request to be ${want}`);
        out[k] = { pi: pi.id, ref, amount: pi.amount };
      }
      await own.stop();
      own = await startPayd({ database: db, args, env: { PAYD_CLOCK_OFFSET: '610' } });
      out.payd = own;
      return out;
    })();
  }
  return expiredSetup;
}

/* Run @fn with the helpers (requests, ledgerEntries, eventsFor, ...) on @inst instead of the shared payd. */
async function onPayd(inst, fn) {
  const shared = payd;
  payd = inst;
  try {
    return await fn();
  } finally {
    payd = shared;
  }
}

/* The intent failed as EXPIRED by payd's poller; its request failed, EXPIRED, and nothing booked yet. */
async function expiredByPayd(x) {
  const pi = await intentWhen(x.pi, ['requires_payment_method']);
  assert.equal(pi.last_payment_error.decline_code, 'expired_request');
  assert.equal(pi.amount_received, 0);
  const [req] = await requests(x.pi);
  assert.equal(req.id, x.ref);
  assert.equal(req.status, 'failed');
  assert.equal(req.failure_reason, 'EXPIRED');
  assert.equal((await eventsFor(payd, 'payment_intent.payment_failed', x.pi)).length, 1);
  assert.equal(ledgerEntries(x.ref).length, 0);
  assert.equal((await simRequest(x.ref)).state, 'pending', 'the wallet still holds it');
}

/* A callback to @inst for the wallet's answer @s (the simulator called the payd that sent it). */
function lateCallback(inst, s) {
  const u = new URL(s.callback_url);
  return fetch(`${inst.url}${u.pathname}${u.search}`, {
    method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(s.status),
  });
}

test('expired by payd, then paid and told by the callback: unapplied, booked once, never to the intent', async () => {
  const x = await expiredRequests();
  await onPayd(x.payd, async () => {
    await expiredByPayd(x.callback);
    const approved = await approveInWallet(x.callback.ref);
    assert.equal(approved.state, 'successful');
    const r = await lateCallback(x.payd, approved);
    assert.equal(r.status, 200, await r.text());
    const [now] = await requests(x.callback.pi);
    assert.equal(now.status, 'succeeded_unapplied', 'applied by the time the callback is answered');
    const req = await assertUnapplied(x.callback.pi, x.callback.ref, 3100, 0, 'requires_payment_method');
    assert.ok(['callback', 'poll'].includes(req.settled_by), req.settled_by);
    assert.equal(req.financial_transaction_id, approved.status.financialTransactionId);
    assert.equal(req.failure_reason, null);
    /* Staff pay it back through the usual route (maker-checker). */
    const v = ok(await payd.api('POST', `/v1/mobile_money_requests/${x.callback.ref}/refund`), 'refund');
    assert.equal(v.kind, 'unapplied_refund');
    assert.equal(v.status, 'pending');
  });
});

test('expired by payd, then paid, found by the poller alone (no callbacks): unapplied, booked once', async () => {
  const x = await expiredRequests();
  await onPayd(x.payd, async () => {
    await expiredByPayd(x.poll);
    const approved = await approveInWallet(x.poll.ref);
    assert.equal(approved.callback_url, null);
    const req = await assertUnapplied(x.poll.pi, x.poll.ref, 4200, 0, 'requires_payment_method');
    assert.equal(req.settled_by, 'poll');
  });
});

test('expired by payd, then paid: callbacks racing each other and the poller book it once', async () => {
  const x = await expiredRequests();
  await onPayd(x.payd, async () => {
    await expiredByPayd(x.race);
    const approved = await approveInWallet(x.race.ref);
    const hits = await Promise.all(Array.from({ length: 8 }, () => lateCallback(x.payd, approved)));
    for (const h of hits) assert.equal(h.status, 200, await h.text());
    await assertUnapplied(x.race.pi, x.race.ref, 5300, 0, 'requires_payment_method');
    const again = await lateCallback(x.payd, approved);
    assert.equal(again.status, 200);
    assert.equal(ledgerEntries(x.race.ref).length, 1);
    assert.equal((await eventsFor(payd, 'mobile_money_request.unapplied', x.race.ref)).length, 1);
  });
});

test('a request the wallet failed stays failed past payd\'s expiry, whatever a callback says later', async () => {
  const x = await expiredRequests();
  await onPayd(x.payd, async () => {
    const [req] = await requests(x.rejected.pi);
    assert.equal(req.status, 'failed');
    assert.equal(req.failure_reason, 'APPROVAL_REJECTED');
    const s = await simRequest(x.rejected.ref);
    assert.equal(s.state, 'failed');
    const paid = { ...s.status, status: 'SUCCESSFUL', financialTransactionId: '99' };
    delete paid.reason;
    const r = await lateCallback(x.payd, { callback_url: s.callback_url, status: paid });
    assert.equal(r.status, 200, 'a settled request\'s callback is taken and changes nothing');
    /* The poller has looked at the expired requests again since. */
    await requestWhen(x.poll.pi, ['succeeded_unapplied']);
    const [still] = await requests(x.rejected.pi);
    assert.equal(still.status, 'failed');
    assert.equal(still.failure_reason, 'APPROVAL_REJECTED');
    assert.equal(still.settled_at, req.settled_at);
    assert.equal(ledgerEntries(x.rejected.ref).length, 0);
    assert.equal((await eventsFor(payd, 'mobile_money_request.unapplied', x.rejected.ref)).length, 0);
    const pi = ok(await payd.api('GET', `/v1/payment_intents/${x.rejected.pi}`));
    assert.equal(pi.status, 'requires_payment_method');
    assert.equal(pi.last_payment_error.decline_code, 'do_not_honor');
  });
  await x.payd.stop();
  await x.db.drop();
});

test('expired by payd, then failed by the wallet: it stays failed and is no longer watched', async () => {
  /* A wallet of its own whose pending request fails (EXPIRED) 8 s after it was made: after payd's own expiry. */
  const slow = await startSim(['--pending-ms', '1500', '--expire-ms', '8000']);
  const db = await freshDatabase(payd.kind);
  const args = ['--momo-poll-interval-ms', '300'];
  let own = await startPayd({ database: db, args });
  try {
    await provider({ name: 'mtn', currencies: ['sdg'], connector_config: { base_url: slow.url, wallet: 'mtn_momo' } }, own);
    const pi = ok(await own.api('POST', '/v1/payment_intents', {
      form: { amount: 2700, currency: 'sdg', confirm: true, payment_method_data: { type: 'mobile_wallet', mobile_wallet: { phone: '46733123452' } } },
    }), 'create');
    const evs = await eventsFor(own, 'payment_intent.requires_action', pi.id);
    const ref = evs[0].data.object.next_action.mobile_money_request.reference;
    const atWallet = async () => {
      const r = await fetch(`${slow.url}/sim/requests/${ref}`);
      assert.equal(r.status, 200);
      return r.json();
    };
    await until(async () => (await atWallet()).state === 'pending', 'the wallet to hold the request');
    await own.stop();
    own = await startPayd({ database: db, args, env: { PAYD_CLOCK_OFFSET: '610' } });
    await onPayd(own, async () => {
      const failedIntent = await intentWhen(pi.id, ['requires_payment_method']);
      assert.equal(failedIntent.last_payment_error.decline_code, 'expired_request');
      const s = await until(async () => {
        const x = await atWallet();
        return x.state === 'failed' ? x : null;
      }, 'the wallet to fail the request');
      /* The poller asks once more after the wallet failed it, finds the
       * failure and stops watching (next_poll_at 0; the late watch itself
       * lasts a day). That look may already be over by now, so a count of
       * looks read here could wait for one that never comes: wait for the
       * row instead (every 2 s at first; a loaded machine may be slower). */
      const stopped = () => sql(`SELECT next_poll_at FROM momo_requests WHERE reference = '${ref}'`, own).trim() === '0';
      await until(async () => stopped(), 'the poller to stop watching', 60000);
      const [req] = await requests(pi.id);
      assert.equal(req.status, 'failed');
      assert.equal(req.failure_reason, 'EXPIRED');
      /* Whatever a callback says now, it changes nothing. */
      const paid = { ...s.status, status: 'SUCCESSFUL', financialTransactionId: '77' };
      delete paid.reason;
      const r = await lateCallback(own, { callback_url: s.callback_url, status: paid });
      assert.equal(r.status, 200, 'a settled request\'s callback is taken and changes nothing');
      const [still] = await requests(pi.id);
      assert.equal(still.status, 'failed');
      assert.equal(still.financial_transaction_id, null);
      assert.equal(ledgerEntries(ref).length, 0);
      assert.equal((await eventsFor(payd, 'mobile_money_request.unapplied', ref)).length, 0);
      assert.equal(ok(await payd.api('GET', `/v1/payment_intents/${pi.id}`)).amount_received, 0);
    });
  } finally {
    await own.stop();
    await db.drop();
    slow.proc.kill('SIGTERM');
  }
});

test('the provider refuses a reused reference (409), a non-UUIDv4 one (400), and no token (401)', async () => {
  const pi = ok(await pay('46733123454'), 'create');
  const ref = pi.next_action.mobile_money_request.reference;
  const tok = await fetch(`${sim.url}/collection/token/`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${SIM_USER}:${SIM_KEY}`).toString('base64')}`, 'ocp-apim-subscription-key': SIM_SUB },
  });
  assert.equal(tok.status, 200);
  const { access_token: token } = await tok.json();
  const send = (reference, auth = `Bearer ${token}`) => fetch(`${sim.url}/collection/v1_0/requesttopay`, {
    method: 'POST',
    headers: {
      authorization: auth, 'ocp-apim-subscription-key': SIM_SUB, 'x-reference-id': reference,
      'x-target-environment': 'sandbox', 'content-type': 'application/json',
    },
    body: JSON.stringify({ amount: '15.00', currency: 'SDG', externalId: 'x', payer: { partyIdType: 'MSISDN', partyId: '46733999999' }, payerMessage: '', payeeNote: '' }),
  });
  const dup = await send(ref);
  assert.equal(dup.status, 409);
  assert.equal((await dup.json()).code, 'RESOURCE_ALREADY_EXIST');
  assert.equal((await send('1b4e28ba-2fa1-11d2-883f-0016d3cca427')).status, 400);
  assert.equal((await send(crypto.randomUUID(), 'Bearer nope')).status, 401);
  const other = ok(await pay('46733123454'), 'create another');
  assert.notEqual(other.next_action.mobile_money_request.reference, ref, 'a fresh reference per request');
  ok(await payd.api('POST', `/v1/payment_intents/${pi.id}/cancel`));
  ok(await payd.api('POST', `/v1/payment_intents/${other.id}/cancel`));
});

test('OTP wallet: a wrong code is refused, the right one pays', async () => {
  const pi = ok(await pay('249912345678', { provider: 'zain' }), 'create');
  assert.equal(pi.status, 'requires_action');
  const m = pi.next_action.mobile_money_request;
  assert.equal(m.wallet, 'zain_cash');
  assert.equal(m.otp_required, true);
  assert.match(m.instructions, /code/);
  const sent = await simRequest(m.reference);
  assert.equal(sent.request.orderId, pi.id);
  assert.equal(sent.request.msisdn, '249912345678');
  assert.match(sent.otp, /^[0-9]{6}$/);
  const wrong = String((Number(sent.otp) + 1) % 1000000).padStart(6, '0');
  expectError(await payd.api('POST', `/v1/payment_intents/${pi.id}/verify_otp`, { form: { otp: wrong } }),
    400, { param: 'otp', code: 'incorrect_otp' });
  expectError(await payd.api('POST', `/v1/payment_intents/${pi.id}/verify_otp`, { form: { otp: '12' } }),
    400, { param: 'otp' });
  assert.equal(ok(await payd.api('GET', `/v1/payment_intents/${pi.id}`)).status, 'requires_action');
  const r = await payd.api('POST', `/v1/payment_intents/${pi.id}/verify_otp`, { form: { otp: sent.otp } });
  const done = ok(r, 'verify_otp');
  assert.equal(done.status, 'succeeded');
  assert.equal(done.amount_received, 1500);
  assert.equal((await charges(pi.id)).length, 1);
  /* The wallet calls back as soon as the code is right, so its callback
   * may be applied a moment before the OTP's own answer: either settles it,
   * once (one charge, above). */
  assert.ok(['otp', 'callback'].includes((await requests(pi.id))[0].settled_by));
  /* Not an OTP wallet, or not waiting: refused. */
  const mtn = ok(await pay('46733123454'), 'create mtn');
  expectError(await payd.api('POST', `/v1/payment_intents/${mtn.id}/verify_otp`, { form: { otp: '123456' } }), 400, { param: 'otp' });
  expectError(await payd.api('POST', `/v1/payment_intents/${pi.id}/verify_otp`, { form: { otp: '123456' } }), 400);
  ok(await payd.api('POST', `/v1/payment_intents/${mtn.id}/cancel`));
});

test('fallback: a provider down before accepting hands the payment to the next one', async () => {
  const pi = ok(await pay('249911112222', { currency: 'eur', amount: 1000 }), 'create');
  assert.ok(['requires_action', 'succeeded'].includes(pi.status), pi.status);
  assert.equal(pi.provider, 'eur-up');
  assert.equal(pi.fee_amount, 20);
  const m = await waitedWith(pi.id);
  assert.equal(m.provider, 'eur-up');
  assert.equal(m.wallet, 'sudani_cash');
  const sent = await simRequest(m.reference);
  assert.equal(sent.request.amount, '10.00');
  assert.equal(sent.request.merchantReference, pi.id);
  const reqs = await requests(pi.id);
  assert.deepEqual(reqs.map((x) => [x.provider, x.status]).reverse(),
    [['eur-down', 'failed'], ['eur-up', reqs[0].status]]);
  assert.equal(reqs[1].failure_reason, 'SERVICE_UNAVAILABLE');
  const done = await intentWhen(pi.id, ['succeeded']);
  assert.equal(done.fee_amount, 20);
  assert.equal((await charges(pi.id)).length, 1);

  /* Every provider down (the second answers 500): declined, issuer_not_available. */
  const r = await pay('46733123459', { currency: 'eur', amount: 1000 });
  const err = expectError(r, 402, { decline_code: 'issuer_not_available' });
  assert.equal(err.payment_intent.status, 'requires_payment_method');
  const all = await requests(err.payment_intent.id);
  assert.equal(all.length, 2);
  assert.ok(all.every((x) => x.status === 'failed'));
});

test('a wallet payment held for fraud review is sent once approved', async () => {
  const pi = ok(await pay('46733555555', { currency: 'eur', amount: 600000 }), 'create');
  assert.equal(pi.status, 'requires_verification');
  assert.equal((await requests(pi.id)).length, 0, 'nothing is asked of the payer before the review');
  const ver = ok(await payd.api('GET', `/v1/verifications?payment_intent=${pi.id}&kind=fraud_review`)).data[0];
  assert.ok(ver, 'a fraud review is queued');
  const bob = await payd.mintToken({ sub: 'staff_bob', role: 'staff' });
  ok(await payd.api('POST', `/v1/verifications/${ver.id}/approve`, { token: bob }), 'approve');
  assert.match((await waitedWith(pi.id)).reference, UUID4);
  /* The poller sends it; eur-down is down, eur-up takes it. */
  const done = await intentWhen(pi.id, ['succeeded']);
  assert.equal(done.provider, 'eur-up');
  assert.equal(done.amount_received, 600000);
  assert.equal((await charges(pi.id)).length, 1);
});

test('a wallet provider with requires_manual_verification: nothing is sent until another staff member approves; a rejection sends nothing', async () => {
  /* KES only, so the other tests' routing is untouched. */
  await provider({ name: 'kes-held', currencies: ['kes'], requires_manual_verification: true, connector_config: { base_url: sim.url, wallet: 'mtn_momo' } });
  const alice = await payd.mintToken({ sub: 'staff_alice', role: 'staff' });
  const bob = await payd.mintToken({ sub: 'staff_bob', role: 'staff' });
  const held = async (phone) => {
    const pi = ok(await pay(phone, { currency: 'kes', amount: 2500 }, alice), 'create');
    assert.equal(pi.status, 'requires_verification');
    assert.equal(pi.provider, 'kes-held');
    assert.equal(pi.next_action.manual_verification.kind, 'provider_review');
    assert.equal((await requests(pi.id)).length, 0, 'nothing is asked of the payer before the approval');
    const list = ok(await payd.api('GET', `/v1/verifications?payment_intent=${pi.id}&kind=provider_review&status=pending`)).data;
    assert.equal(list.length, 1);
    assert.equal(list[0].tender, 'mobile_wallet');
    assert.equal(list[0].recorded_by, 'staff_alice');
    return { pi, ver: list[0] };
  };
  const a = await held('46733666666');
  expectError(await payd.api('POST', `/v1/verifications/${a.ver.id}/approve`, { token: alice }), 403, { code: 'maker_checker_violation' });
  ok(await payd.api('POST', `/v1/verifications/${a.ver.id}/approve`, { token: bob }), 'approve');
  const m = await waitedWith(a.pi.id);
  assert.equal(m.provider, 'kes-held');
  /* The poller sends it. */
  const done = await intentWhen(a.pi.id, ['succeeded']);
  const sent = await simRequest(m.reference);
  assert.equal(sent.request.amount, '25.00');
  assert.equal(sent.request.currency, 'KES');
  assert.equal(done.amount_received, 2500);
  assert.equal(done.fee_amount, 25);
  assert.equal((await charges(a.pi.id)).length, 1);
  assert.equal((await requests(a.pi.id)).length, 1, 'one request, after the approval');

  const r = await held('46733666667');
  ok(await payd.api('POST', `/v1/verifications/${r.ver.id}/reject`, { token: bob, form: { reason: 'Unknown payer' } }), 'reject');
  const rAfter = ok(await payd.api('GET', `/v1/payment_intents/${r.pi.id}`));
  assert.equal(rAfter.status, 'requires_payment_method');
  assert.equal(rAfter.last_payment_error.decline_code, 'verification_rejected');
  assert.equal((await requests(r.pi.id)).length, 0);
  assert.equal((await charges(r.pi.id)).length, 0);
  /* Providers without the flag still send at once. */
  const plain = ok(await pay('46733666668', {}, alice), 'create');
  assert.ok(['requires_action', 'succeeded'].includes(plain.status), plain.status);
  assert.equal((await payd.api('GET', `/v1/verifications?payment_intent=${plain.id}`)).body.data.length, 0);
  const v = await auditVerify(payd);
  assert.equal(v.code, 0, v.stdout + v.stderr);
});

test('a wallet provider down at sending falls back to one with requires_manual_verification: held until another staff member approves, then not held again', async () => {
  /* GHS only, so the other tests' routing is untouched. */
  const down = await closedPort();
  await provider({ name: 'ghs-down', currencies: ['ghs'], priority: 1, connector_config: { base_url: `http://127.0.0.1:${down}`, wallet: 'mtn_momo' } });
  await provider({ name: 'ghs-held', currencies: ['ghs'], priority: 2, requires_manual_verification: true, connector_config: { base_url: sim.url, wallet: 'mtn_momo' } });
  const alice = await payd.mintToken({ sub: 'staff_alice', role: 'staff' });
  const bob = await payd.mintToken({ sub: 'staff_bob', role: 'staff' });
  const pi = ok(await pay('46733777777', { currency: 'ghs', amount: 3000 }, alice), 'create');
  const held = await intentWhen(pi.id, ['requires_verification']);
  assert.equal(held.provider, 'ghs-held');
  assert.equal(held.next_action.manual_verification.kind, 'provider_review');
  let reqs = await requests(pi.id);
  assert.deepEqual(reqs.map((x) => [x.provider, x.status]), [['ghs-down', 'failed']], 'nothing is asked of the payer through ghs-held before the approval');
  assert.equal(reqs[0].failure_reason, 'SERVICE_UNAVAILABLE');
  const list = ok(await payd.api('GET', `/v1/verifications?payment_intent=${pi.id}&kind=provider_review&status=pending`)).data;
  assert.equal(list.length, 1);
  assert.equal(list[0].tender, 'mobile_wallet');
  assert.equal(list[0].amount, 3000);
  assert.equal((await charges(pi.id)).length, 0);

  ok(await payd.api('POST', `/v1/verifications/${list[0].id}/approve`, { token: bob }), 'approve');
  /* Routed again: ghs-down is still down, and the fallback to ghs-held sends it at once. */
  const done = await intentWhen(pi.id, ['succeeded']);
  assert.equal(done.provider, 'ghs-held');
  assert.equal(done.amount_received, 3000);
  reqs = await requests(pi.id);
  assert.deepEqual(reqs.map((x) => [x.provider, x.status]).reverse(),
    [['ghs-down', 'failed'], ['ghs-down', 'failed'], ['ghs-held', 'succeeded']]);
  const sent = await simRequest(reqs[0].id);
  assert.equal(sent.request.amount, '30.00');
  assert.equal(sent.request.currency, 'GHS');
  const all = ok(await payd.api('GET', `/v1/verifications?payment_intent=${pi.id}`)).data;
  assert.deepEqual(all.map((v) => [v.kind, v.status]), [['provider_review', 'approved']], 'one hold, not a second one');
  assert.equal((await charges(pi.id)).length, 1);
  const v = await auditVerify(payd);
  assert.equal(v.code, 0, v.stdout + v.stderr);
});

test('bad wallet input is a 400 naming the parameter', async () => {
  expectError(await pay('12ab'), 400, { param: 'payment_method_data[mobile_wallet][phone]' });
  expectError(await pay('123'), 400, { param: 'payment_method_data[mobile_wallet][phone]' });
  expectError(await payd.api('POST', '/v1/payment_intents', {
    form: { amount: 100, currency: 'sdg', payment_method_data: { type: 'card_present', mobile_wallet: { phone: '46733999999' } } },
  }), 400, { param: 'payment_method_data[type]' });
  expectError(await payd.api('POST', '/v1/payment_intents', {
    form: { amount: 100, currency: 'sdg', payment_method_data: { type: 'mobile_wallet' } },
  }), 400, { param: 'payment_method_data[mobile_wallet][phone]' });
  expectError(await payd.api('POST', '/v1/payment_intents', {
    form: { amount: 100, currency: 'sdg', payment_method: 'pm_card_visa', payment_method_data: { type: 'mobile_wallet', mobile_wallet: { phone: '46733999999' } } },
  }), 400, { param: 'payment_method_data' });
  /* No wallet provider takes USD. */
  expectError(await pay('46733999999', { currency: 'usd' }), 400, { param: 'currency' });
});

test('confirm with payment_method_data on an existing intent', async () => {
  const pi = ok(await payd.api('POST', '/v1/payment_intents', { form: { amount: 700, currency: 'sdg' } }));
  const r = await payd.api('POST', `/v1/payment_intents/${pi.id}/confirm`, {
    form: { payment_method_data: { type: 'mobile_wallet', mobile_wallet: { phone: '46733888888' } } },
  });
  const c = ok(r, 'confirm');
  assert.ok(['requires_action', 'succeeded'].includes(c.status), c.status);
  assert.equal((await waitedWith(pi.id)).amount, '7.00');
  await intentWhen(pi.id, ['succeeded']);
});

test('a refund of a wallet payment is a request a second person approves', async () => {
  const pi = ok(await pay('46733777777', { amount: 4000 }), 'create');
  await intentWhen(pi.id, ['succeeded']);
  const alice = await payd.mintToken({ sub: 'staff_alice', role: 'staff' });
  const bob = await payd.mintToken({ sub: 'staff_bob', role: 'staff' });
  const re = ok(await payd.api('POST', '/v1/refunds', { token: alice, form: { payment_intent: pi.id, amount: 1000 } }), 'refund');
  assert.equal(re.status, 'pending');
  const ver = ok(await payd.api('GET', `/v1/verifications?payment_intent=${pi.id}&kind=refund`)).data[0];
  assert.ok(ver, 'a refund verification is queued');
  expectError(await payd.api('POST', `/v1/verifications/${ver.id}/approve`, { token: alice }), 403, { code: 'maker_checker_violation' });
  ok(await payd.api('POST', `/v1/verifications/${ver.id}/approve`, { token: bob }), 'approve');
  assert.equal(ok(await payd.api('GET', `/v1/refunds/${re.id}`)).status, 'succeeded');
  assert.equal(ok(await payd.api('GET', `/v1/payment_intents/${pi.id}`)).amount_refunded, 1000);
  const v = await auditVerify(payd);
  assert.equal(v.code, 0, v.stdout + v.stderr);
});

test('the payer\'s number never reaches the logs', async () => {
  const log = fs.readFileSync(payd.logFile, 'utf8');
  for (const n of ['46733999999', '249912345678', '46733888888', '249911112222']) {
    assert.ok(!log.includes(n), `${n} is in payd's log`);
  }
  assert.ok(log.includes('****9999'), 'logged as its last four digits');
});

/* Every wallet number this file pays from with the shared payd. */
const WALLETS = ['46733999999', '46733888888', '46733777777', '46733555555', '249911112222',
  '249912345678', ...Array.from({ length: 11 }, (_, i) => String(46733123450 + i))];

/* The database's bytes: the SQLite file and its WAL, or every table's rows as text. */
function databaseText(p) {
  if (p.kind === 'sqlite') {
    const file = p.dbUrl.replace(/^sqlite:/, '');
    return [file, `${file}-wal`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f).toString('latin1')).join('\n');
  }
  const tables = execFileSync('psql', [p.dbUrl, '-qAtc',
    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"]).toString().trim().split('\n');
  return tables.map((t) => execFileSync('psql', [p.dbUrl, '-qAtc', `SELECT t::text FROM "${t}" t`]).toString()).join('\n');
}

test('the payer\'s number is sealed in the database, never stored in clear', async () => {
  const tokens = sql("SELECT token FROM payment_methods WHERE type = 'mobile_wallet'").split('\n').filter(Boolean);
  assert.ok(tokens.length >= 20, `the wallet payment methods: ${tokens.length}`);
  for (const t of tokens) assert.match(t, /^enc1:[0-9a-f]+$/);
  const dump = databaseText(payd);
  assert.ok(dump.includes('mobile_wallet'), 'read the database');
  for (const n of WALLETS) assert.ok(!dump.includes(n), `${n} is stored in clear`);
});

test('a wallet number an older payd stored in clear still pays, and is sealed at the next start', async () => {
  const db = await freshDatabase(payd.kind);
  let own = await startPayd({ database: db, args: ['--momo-poll-interval-ms', '300'] });
  try {
    await provider({ name: 'mtn', currencies: ['sdg'], connector_config: { base_url: sim.url, wallet: 'mtn_momo' } }, own);
    const first = ok(await own.api('POST', '/v1/payment_intents', {
      form: { amount: 900, currency: 'sdg', confirm: true, payment_method_data: { type: 'mobile_wallet', mobile_wallet: { phone: '46733626262' } } },
    }), 'create');
    const pm = first.payment_method;
    const q = (s) => (own.kind === 'postgres'
      ? execFileSync('psql', [own.dbUrl, '-qAtc', s], { encoding: 'utf8' })
      : execFileSync('sqlite3', ['-cmd', '.timeout 10000', own.dbUrl.replace(/^sqlite:/, ''), s], { encoding: 'utf8' })).trim();
    assert.match(q(`SELECT token FROM payment_methods WHERE id = '${pm}'`), /^enc1:/);
    /* What an older payd wrote: the number itself. */
    q(`UPDATE payment_methods SET token = '46733616161' WHERE id = '${pm}'`);
    const payWith = async () => {
      const pi = ok(await own.api('POST', '/v1/payment_intents', {
        form: { amount: 700, currency: 'sdg', confirm: true, payment_method: pm },
      }), 'pay with the stored method');
      const evs = await eventsFor(own, 'payment_intent.requires_action', pi.id);
      const ref = evs[0].data.object.next_action.mobile_money_request.reference;
      assert.equal(evs[0].data.object.next_action.mobile_money_request.payer_phone_last4, '6161');
      assert.equal((await simRequest(ref)).request.payer.partyId, '46733616161');
    };
    await payWith();
    assert.equal(q(`SELECT token FROM payment_methods WHERE id = '${pm}'`), '46733616161', 'read as it is');
    await own.stop();
    own = await startPayd({ database: db, args: ['--momo-poll-interval-ms', '300'] });
    assert.match(q(`SELECT token FROM payment_methods WHERE id = '${pm}'`), /^enc1:[0-9a-f]+$/, 'sealed at start');
    assert.ok(fs.readFileSync(own.logFile, 'utf8').includes('sealed 1 wallet numbers stored in clear'));
    await payWith();
  } finally {
    await own.stop();
    await db.drop();
  }
});
