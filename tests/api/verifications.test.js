'use strict';
/*
 * verifications.test.js - manual tenders (cash, cheque, bank transfer, bank
 * draft) over HTTP: each tender from requires_verification to succeeded
 * with its ledger entry and events; evidence uploads (multipart/form-data):
 * allowed types by their bytes, the size limit, SHA-256, download by role;
 * maker-checker (the recorder cannot decide, another staff member can);
 * rejection and a second attempt; refund requests approved and rejected;
 * cancel; queue filters and pagination; the audit log; and `payd audit
 * verify` on what the suite left.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { startPayd } = require('./lib/payd');
const { startFakeStripe } = require('../fakes/stripe');
const {
  expectError, ok, newCustomer, intent, getIntent, eventsFor, auditVerify, listAll,
} = require('./lib/intents');

/* Small, but above the multipart framing, so the limit is the file's. */
const EVIDENCE_MAX = 4096;

let payd;
let staff; /* tokens of two staff members, an auditor, and the admin key */

test.before(async () => {
  payd = await startPayd({ args: ['--evidence-max-bytes', String(EVIDENCE_MAX)] });
  staff = {
    alice: await payd.mintToken({ sub: 'staff_alice', role: 'staff' }),
    bob: await payd.mintToken({ sub: 'staff_bob', role: 'staff' }),
    auditor: await payd.mintToken({ sub: 'auditor_1', role: 'auditor' }),
  };
});

test.after(async () => {
  if (payd) await payd.stop();
});

const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), crypto.randomBytes(64)]);
const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), crypto.randomBytes(64)]);
const PDF = Buffer.from('%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n');

/* A manual-tender intent recorded (created and confirmed) by @token. */
async function recorded(tender, { token = staff.alice, amount = 5000, currency = 'sdg', ...params } = {}) {
  const r = await payd.api('POST', '/v1/payment_intents', {
    token, form: { amount, currency, payment_method_types: [tender], confirm: true, ...params },
  });
  const pi = ok(r, `create ${tender} intent`);
  assert.equal(pi.status, 'requires_verification', JSON.stringify(pi));
  return pi;
}

async function pendingOf(piId, kind = 'payment') {
  const list = ok(await payd.api('GET', `/v1/verifications?payment_intent=${piId}&kind=${kind}&status=pending`));
  assert.equal(list.data.length, 1, JSON.stringify(list));
  return list.data[0];
}

function upload(piId, { kind = 'receipt_photo', bytes = PNG, type = 'image/png', filename = 'receipt.png', field = 'file', token, key } = {}) {
  const form = new FormData();
  if (kind !== null) form.append('kind', kind);
  if (bytes !== null) form.append(field, new Blob([bytes], { type }), filename);
  return payd.api('POST', `/v1/payment_intents/${piId}/evidence`, token ? { token, raw: form } : { key, raw: form });
}

function decide(verId, action, token, form = {}) {
  return payd.api('POST', `/v1/verifications/${verId}/${action}`, { token, form });
}

async function sdgBalance() {
  const b = ok(await payd.api('GET', '/v1/balance'));
  const x = b.available.find((a) => a.currency === 'sdg');
  return x ? x.amount : 0;
}

/* A POST announcing @length bytes of @type, of which only the headers are sent. */
function headersOnly(urlPath, type, length) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port: payd.port, method: 'POST', path: urlPath,
      headers: { authorization: `Bearer ${staff.alice}`, 'content-type': type, 'content-length': String(length) },
    });
    req.on('response', (res) => {
      let t = '';
      res.on('data', (c) => { t += c; });
      res.on('end', () => { resolve({ status: res.statusCode, body: JSON.parse(t), text: t }); req.destroy(); });
    });
    req.on('error', reject);
    req.flushHeaders();
  });
}

const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');

test('each manual tender: requires_verification, evidence, approval by another staff member, ledger, events', async () => {
  const evidenceKind = { cash: 'cash_count', cheque: 'cheque_image', bank_transfer: 'bank_slip', bank_draft: 'bank_slip' };
  for (const tender of ['cash', 'cheque', 'bank_transfer', 'bank_draft']) {
    const before = await sdgBalance();
    const pi = await recorded(tender, { amount: 12345, facility: 'fac_khartoum' });
    assert.equal(pi.amount_received, 0);
    assert.deepEqual(pi.payment_method_types, [tender]);
    assert.equal(pi.next_action.type, 'manual_verification');
    const ver = await pendingOf(pi.id);
    assert.equal(pi.next_action.manual_verification.verification, ver.id);
    assert.equal(pi.next_action.manual_verification.evidence_upload_url, `/v1/payment_intents/${pi.id}/evidence`);
    assert.match(ver.id, /^ver_[0-9A-Za-z]{24}$/);
    assert.equal(ver.object, 'verification');
    assert.equal(ver.kind, 'payment');
    assert.equal(ver.tender, tender);
    assert.equal(ver.facility, 'fac_khartoum');
    assert.equal(ver.amount, 12345);
    assert.equal(ver.currency, 'sdg');
    assert.equal(ver.recorded_by, 'staff_alice');
    assert.equal(ver.decided_by, null);
    /* No money moved while it waits. */
    assert.equal(await sdgBalance(), before);

    const ev = ok(await upload(pi.id, { kind: evidenceKind[tender], token: staff.alice }), 'upload');
    assert.equal(ev.kind, evidenceKind[tender]);
    assert.equal(ev.verification, ver.id);

    const approved = ok(await decide(ver.id, 'approve', staff.bob), 'approve');
    assert.equal(approved.status, 'approved');
    assert.equal(approved.decided_by, 'staff_bob');
    assert.deepEqual(approved.evidence, [ev.id]);
    assert.ok(Number.isInteger(approved.decided_at));
    const after = ok(await getIntent(payd, pi.id));
    assert.equal(after.status, 'succeeded');
    assert.equal(after.amount_received, 12345);
    assert.equal(after.next_action, null);
    assert.equal(await sdgBalance(), before + 12345);
    const txns = ok(await payd.api('GET', `/v1/balance_transactions?source=${pi.id}`)).data;
    assert.equal(txns.length, 1);
    assert.equal(txns[0].type, 'charge');
    assert.equal(txns[0].amount, 12345);

    assert.equal((await eventsFor(payd, 'payment_intent.requires_verification', pi.id)).length, 1);
    assert.equal((await eventsFor(payd, 'payment_intent.succeeded', pi.id)).length, 1);
    assert.equal((await eventsFor(payd, 'verification.created', ver.id)).length, 1);
    assert.equal((await eventsFor(payd, 'verification.approved', ver.id)).length, 1);
    /* Decided once: a second approval changes nothing. */
    expectError(await decide(ver.id, 'approve', staff.bob), 400, { code: 'payment_intent_unexpected_state' });
    assert.equal(await sdgBalance(), before + 12345);
  }
});

test('maker-checker: the recorder cannot approve or reject; another staff member or admin can; auditors and patients cannot', async () => {
  const pi = await recorded('cash');
  const ver = await pendingOf(pi.id);
  const self = await decide(ver.id, 'approve', staff.alice);
  expectError(self, 403, { code: 'maker_checker_violation' });
  assert.match(self.body.error.message, /staff_alice/);
  expectError(await decide(ver.id, 'reject', staff.alice, { reason: 'no' }), 403, { code: 'maker_checker_violation' });
  expectError(await decide(ver.id, 'approve', staff.auditor), 403, { code: 'permission_denied' });
  const cus = await newCustomer(payd);
  const patient = await payd.mintToken({ sub: 'pat_1', role: 'patient', customer: cus.id });
  expectError(await decide(ver.id, 'approve', patient), 403, { code: 'permission_denied' });
  assert.equal(ok(await getIntent(payd, pi.id)).status, 'requires_verification');

  /* The admin key is a principal of its own. */
  const done = ok(await payd.api('POST', `/v1/verifications/${ver.id}/approve`, { form: {} }));
  assert.equal(done.decided_by, payd.adminKeyId);
  assert.equal(done.decided_by_role, 'admin');
  assert.equal(ok(await getIntent(payd, pi.id)).status, 'succeeded');

  /* Recorded with the admin key: the same key may not decide, a staff member may. */
  const pi2 = await recorded('cheque', { token: null });
  const ver2 = await pendingOf(pi2.id);
  assert.equal(ver2.recorded_by, payd.adminKeyId);
  expectError(await payd.api('POST', `/v1/verifications/${ver2.id}/approve`, { form: {} }), 403, { code: 'maker_checker_violation' });
  ok(await decide(ver2.id, 'approve', staff.alice));

  /* The audit log shows who decided. */
  const audit = ok(await payd.api('GET', `/v1/audit_events?object=${ver.id}&limit=10`)).data;
  const approvals = audit.filter((a) => a.action === 'POST /v1/verifications/:id/approve');
  assert.ok(approvals.some((a) => a.actor === payd.adminKeyId && a.status === 200), JSON.stringify(audit));
  assert.ok(approvals.some((a) => a.actor === 'staff_alice' && a.status === 403), JSON.stringify(audit));
});

test('reject: reason required, intent back to requires_payment_method with last_payment_error, then a new attempt', async () => {
  const before = await sdgBalance();
  const pi = await recorded('cheque', { amount: 7000 });
  const ver = await pendingOf(pi.id);
  expectError(await decide(ver.id, 'reject', staff.bob), 400, { code: 'parameter_missing', param: 'reason' });
  expectError(await decide(ver.id, 'reject', staff.bob, { reason: 'x'.repeat(501) }), 400, { param: 'reason' });
  expectError(await decide(ver.id, 'approve', staff.bob, { note: 'x' }), 400, { code: 'parameter_unknown', param: 'note' });
  const rej = ok(await decide(ver.id, 'reject', staff.bob, { reason: 'Cheque bounced' }));
  assert.equal(rej.status, 'rejected');
  assert.equal(rej.reason, 'Cheque bounced');
  const after = ok(await getIntent(payd, pi.id));
  assert.equal(after.status, 'requires_payment_method');
  assert.equal(after.amount_received, 0);
  assert.equal(after.last_payment_error.code, 'payment_method_provider_decline');
  assert.equal(after.last_payment_error.decline_code, 'verification_rejected');
  assert.match(after.last_payment_error.message, /Cheque bounced/);
  assert.equal((await eventsFor(payd, 'payment_intent.payment_failed', pi.id)).length, 1);
  assert.equal((await eventsFor(payd, 'verification.rejected', ver.id)).length, 1);
  assert.equal(await sdgBalance(), before);
  expectError(await decide(ver.id, 'approve', staff.bob), 400, { code: 'payment_intent_unexpected_state' });
  /* Evidence needs a pending verification. */
  expectError(await upload(pi.id, { token: staff.alice }), 400, { code: 'payment_intent_unexpected_state' });

  /* Paid again in cash: a new verification, approved. */
  const again = ok(await payd.api('POST', `/v1/payment_intents/${pi.id}/confirm`, {
    token: staff.alice, form: { payment_method_types: ['cash'] },
  }));
  assert.equal(again.status, 'requires_verification');
  assert.equal(again.last_payment_error, null);
  const ver2 = await pendingOf(pi.id);
  assert.notEqual(ver2.id, ver.id);
  assert.equal(ver2.tender, 'cash');
  ok(await decide(ver2.id, 'approve', staff.bob));
  assert.equal(ok(await getIntent(payd, pi.id)).amount_received, 7000);
  assert.equal(await sdgBalance(), before + 7000);
});

test('concurrent decisions: one wins, the payment is booked once', async () => {
  const before = await sdgBalance();
  const pi = await recorded('cash', { amount: 4321 });
  const ver = await pendingOf(pi.id);
  const tokens = await Promise.all(Array.from({ length: 6 }, (_, i) => payd.mintToken({ sub: `staff_c${i}`, role: 'staff' })));
  const results = await Promise.all(tokens.map((t, i) => (i % 2 === 0
    ? decide(ver.id, 'approve', t)
    : decide(ver.id, 'reject', t, { reason: 'race' }))));
  const wins = results.filter((r) => r.status === 200);
  assert.equal(wins.length, 1, results.map((r) => `${r.status} ${r.text}`).join('\n'));
  for (const r of results.filter((x) => x.status !== 200)) {
    expectError(r, 400, { code: 'payment_intent_unexpected_state' });
  }
  const after = ok(await getIntent(payd, pi.id));
  if (wins[0].body.status === 'approved') {
    assert.equal(after.status, 'succeeded');
    assert.equal(await sdgBalance(), before + 4321);
  } else {
    assert.equal(after.status, 'requires_payment_method');
    assert.equal(await sdgBalance(), before);
  }
  assert.equal(ok(await payd.api('GET', `/v1/balance_transactions?source=${pi.id}`)).data.length, after.status === 'succeeded' ? 1 : 0);
});

test('canceling a waiting intent cancels its verification', async () => {
  const pi = await recorded('bank_draft');
  const ver = await pendingOf(pi.id);
  const canceled = ok(await payd.api('POST', `/v1/payment_intents/${pi.id}/cancel`, { token: staff.bob }));
  assert.equal(canceled.status, 'canceled');
  const v = ok(await payd.api('GET', `/v1/verifications/${ver.id}`));
  assert.equal(v.status, 'canceled');
  expectError(await decide(ver.id, 'approve', staff.bob), 400, { code: 'payment_intent_unexpected_state' });
  assert.equal(ok(await getIntent(payd, pi.id)).amount_received, 0);
});

test('evidence: JPEG, PNG and PDF by their bytes, SHA-256, download intact; wrong types, empty and missing files refused', async () => {
  const pi = await recorded('bank_transfer');
  const ver = await pendingOf(pi.id);
  const ids = [];
  for (const [bytes, type, name] of [[JPEG, 'image/jpeg', 'cash.jpg'], [PNG, 'image/png', 'slip.png'], [PDF, 'application/pdf', 'slip.pdf'],
    [PDF, 'application/octet-stream', 'C:\\scans\\slip.pdf']]) {
    const ev = ok(await upload(pi.id, { kind: 'bank_slip', bytes, type, filename: name, token: staff.alice }), `upload ${name}`);
    assert.match(ev.id, /^evd_[0-9A-Za-z]{24}$/);
    assert.equal(ev.object, 'evidence');
    assert.equal(ev.payment_intent, pi.id);
    assert.equal(ev.content_type, type === 'application/octet-stream' ? 'application/pdf' : type);
    assert.equal(ev.size, bytes.length);
    assert.equal(ev.sha256, sha256(bytes));
    assert.equal(ev.uploaded_by, 'staff_alice');
    assert.equal(ev.filename, name.replace(/^.*\\/, ''));
    assert.deepEqual(ok(await payd.api('GET', `/v1/evidence/${ev.id}`, { token: staff.bob })), ev);
    const raw = await fetch(`${payd.url}${ev.url}`, { headers: { authorization: `Bearer ${staff.auditor}` } });
    assert.equal(raw.status, 200);
    assert.equal(raw.headers.get('content-type'), ev.content_type);
    const got = Buffer.from(await raw.arrayBuffer());
    assert.equal(sha256(got), sha256(bytes));
    assert.ok(got.equals(bytes));
    ids.push(ev.id);
  }
  assert.deepEqual(ok(await payd.api('GET', `/v1/verifications/${ver.id}`)).evidence, ids);

  const text = Buffer.from('just some text, not an image');
  expectError(await upload(pi.id, { bytes: text, type: 'image/png', token: staff.alice }), 400, { code: 'parameter_invalid', param: 'file' });
  expectError(await upload(pi.id, { bytes: text, type: 'text/plain', filename: 'a.txt', token: staff.alice }), 400, { param: 'file' });
  /* Declared as one type, bytes of another. */
  expectError(await upload(pi.id, { bytes: PNG, type: 'image/jpeg', token: staff.alice }), 400, { param: 'file' });
  /* An HTML page named .png is not a PNG. */
  expectError(await upload(pi.id, { bytes: Buffer.from('<html><script>alert(1)</script>'), type: 'image/png', token: staff.alice }), 400, { param: 'file' });
  expectError(await upload(pi.id, { bytes: Buffer.alloc(0), token: staff.alice }), 400, { param: 'file' });
  expectError(await upload(pi.id, { bytes: null, token: staff.alice }), 400, { code: 'parameter_missing', param: 'file' });
  expectError(await upload(pi.id, { kind: null, token: staff.alice }), 400, { code: 'parameter_missing', param: 'kind' });
  expectError(await upload(pi.id, { kind: 'selfie', token: staff.alice }), 400, { param: 'kind' });
  expectError(await upload(pi.id, { field: 'attachment', token: staff.alice }), 400, { code: 'parameter_unknown', param: 'attachment' });
  /* Not multipart at all. */
  expectError(await payd.api('POST', `/v1/payment_intents/${pi.id}/evidence`, { form: { kind: 'bank_slip' } }), 400, { param: 'file' });
  expectError(await payd.api('POST', `/v1/payment_intents/${pi.id}/evidence`, {
    raw: '--x\r\nContent-Disposition: form-data; name="kind"\r\n\r\nbank_slip\r\n--x\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\ntrunc',
    headers: { 'content-type': 'multipart/form-data; boundary=x' },
  }), 400);
  /* None of the refused uploads was stored. */
  assert.deepEqual(ok(await payd.api('GET', `/v1/verifications/${ver.id}`)).evidence, ids);
  expectError(await payd.api('GET', '/v1/evidence/evd_DoesNotExist0000000000000'), 404, { param: 'id' });
});

test('evidence size limit: --evidence-max-bytes for the file, 413 before reading a huge body', async () => {
  const pi = await recorded('cash');
  const atLimit = Buffer.concat([PNG.subarray(0, 8), crypto.randomBytes(EVIDENCE_MAX - 8)]);
  const ev = ok(await upload(pi.id, { bytes: atLimit, token: staff.alice }));
  assert.equal(ev.size, EVIDENCE_MAX);
  const over = Buffer.concat([atLimit, Buffer.from([0])]);
  expectError(await upload(pi.id, { bytes: over, token: staff.alice }), 413, { code: 'body_too_large', param: 'file' });
  /* A body far above the limit is refused from its Content-Length alone
   * (payd answers at once and closes: send the headers only). */
  expectError(await headersOnly(`/v1/payment_intents/${pi.id}/evidence`, 'multipart/form-data; boundary=x', 10 * 1024 * 1024), 413, { code: 'body_too_large' });
  /* Other routes keep the general 1 MiB body limit. */
  expectError(await headersOnly('/v1/customers', 'application/x-www-form-urlencoded', 2 * 1024 * 1024), 413, { code: 'body_too_large' });
  assert.deepEqual(ok(await payd.api('GET', `/v1/verifications/${(await pendingOf(pi.id)).id}`)).evidence, [ev.id]);
});

test('evidence default limit: 5 MiB, above the 1 MiB of other bodies', async () => {
  const p2 = await startPayd();
  try {
    const pi = ok(await p2.api('POST', '/v1/payment_intents', {
      form: { amount: 100, currency: 'usd', payment_method_types: ['cheque'], confirm: true },
    }));
    const send = (bytes) => {
      const form = new FormData();
      form.append('kind', 'cheque_image');
      form.append('file', new Blob([bytes], { type: 'image/jpeg' }), 'cheque.jpg');
      return p2.api('POST', `/v1/payment_intents/${pi.id}/evidence`, { raw: form });
    };
    const twoMiB = Buffer.concat([JPEG.subarray(0, 4), crypto.randomBytes(2 * 1024 * 1024)]);
    const ev = ok(await send(twoMiB));
    assert.equal(ev.size, twoMiB.length);
    assert.equal(ev.sha256, sha256(twoMiB));
    const raw = await fetch(`${p2.url}${ev.url}`, { headers: { authorization: `Bearer ${p2.adminKey}` } });
    assert.equal(sha256(Buffer.from(await raw.arrayBuffer())), ev.sha256);
    const tooBig = Buffer.concat([JPEG.subarray(0, 4), crypto.randomBytes(5 * 1024 * 1024 - 3)]);
    expectError(await send(tooBig), 413, { code: 'body_too_large', param: 'file' });
    /* A body over the upload's whole limit, sent at once: read to its end
     * (more than the 4 MiB dropped of other bodies) and answered, not cut off. */
    const overBody = Buffer.concat([JPEG.subarray(0, 4), crypto.randomBytes(6 * 1024 * 1024)]);
    expectError(await send(overBody), 413, { code: 'body_too_large' });
  } finally {
    await p2.stop();
  }
});

test('evidence access: staff, admin and auditors read; patients upload for their own intents only and never read', async () => {
  const cusA = await newCustomer(payd);
  const cusB = await newCustomer(payd);
  const patA = await payd.mintToken({ sub: 'pat_a', role: 'patient', customer: cusA.id });
  const patB = await payd.mintToken({ sub: 'pat_b', role: 'patient', customer: cusB.id });
  /* The patient reports a bank transfer and uploads the slip. */
  const pi = await recorded('bank_transfer', { token: patA, customer: cusA.id });
  const ver = await pendingOf(pi.id);
  assert.equal(ver.recorded_by, 'pat_a');
  assert.equal(ver.customer, cusA.id);
  const ev = ok(await upload(pi.id, { kind: 'bank_slip', bytes: PDF, type: 'application/pdf', token: patA }));
  expectError(await upload(pi.id, { kind: 'bank_slip', bytes: PDF, type: 'application/pdf', token: patB }), 404, { code: 'resource_missing' });
  const missing = await upload('pi_DoesNotExist0000000000000', { token: patB });
  expectError(missing, 404, { code: 'resource_missing' });
  expectError(await upload(pi.id, { token: staff.auditor }), 403, { code: 'permission_denied' });

  for (const path of [`/v1/evidence/${ev.id}`, `/v1/evidence/${ev.id}/content`, `/v1/verifications/${ver.id}`, '/v1/verifications']) {
    for (const tok of [patA, patB]) {
      expectError(await payd.api('GET', path, { token: tok }), 403, { code: 'permission_denied' });
    }
    for (const tok of [staff.alice, staff.auditor]) {
      assert.equal((await payd.api('GET', path, { token: tok })).status, 200, path);
    }
    assert.equal((await payd.api('GET', path)).status, 200, path);
  }
  /* A patient never decides; staff do. */
  expectError(await decide(ver.id, 'approve', patA), 403);
  ok(await decide(ver.id, 'approve', staff.bob));
  assert.equal(ok(await getIntent(payd, pi.id, { token: patA })).status, 'succeeded');
  /* Verification events are staff-only: the patient's event list has none. */
  const patEvents = ok(await payd.api('GET', '/v1/events?limit=100', { token: patA })).data;
  assert.ok(patEvents.length > 0);
  assert.ok(!patEvents.some((e) => e.type.startsWith('verification.')), JSON.stringify(patEvents.map((e) => e.type)));
});

test('refunds of manual tenders are requests: pending until approved by someone else; rejection releases the amount', async () => {
  const pi = await recorded('cash', { amount: 10000 });
  ok(await decide((await pendingOf(pi.id)).id, 'approve', staff.bob));
  const before = await sdgBalance();

  const re = ok(await payd.api('POST', '/v1/refunds', { token: staff.bob, form: { payment_intent: pi.id, amount: 3000, reason: 'requested_by_customer' } }));
  assert.equal(re.status, 'pending');
  assert.equal(re.amount, 3000);
  assert.equal(re.balance_transaction, null);
  assert.equal(ok(await getIntent(payd, pi.id)).amount_refunded, 3000, 'the amount is reserved');
  assert.equal(await sdgBalance(), before, 'no money moves before approval');
  /* The reservation counts: no refund beyond what is left. */
  expectError(await payd.api('POST', '/v1/refunds', { form: { payment_intent: pi.id, amount: 7001 } }), 400, { code: 'amount_too_large' });
  /* A pending request is decided in the queue, not canceled. */
  expectError(await payd.api('POST', `/v1/refunds/${re.id}/cancel`), 400);

  const rv = await pendingOf(pi.id, 'refund');
  assert.equal(rv.refund, re.id);
  assert.equal(rv.amount, 3000);
  assert.equal(rv.tender, 'cash');
  assert.equal(rv.recorded_by, 'staff_bob');
  expectError(await decide(rv.id, 'approve', staff.bob), 403, { code: 'maker_checker_violation' });
  const approved = ok(await decide(rv.id, 'approve', staff.alice));
  assert.equal(approved.status, 'approved');
  const reDone = ok(await payd.api('GET', `/v1/refunds/${re.id}`));
  assert.equal(reDone.status, 'succeeded');
  assert.match(reDone.balance_transaction, /^txn_/);
  const bt = ok(await payd.api('GET', `/v1/balance_transactions/${reDone.balance_transaction}`));
  assert.equal(bt.type, 'refund');
  assert.equal(bt.amount, -3000);
  assert.equal(await sdgBalance(), before - 3000);
  assert.equal((await eventsFor(payd, 'refund.updated', re.id)).at(0).data.object.status, 'succeeded');

  /* A second request, rejected: failed, amount released, no ledger movement. */
  const re2 = ok(await payd.api('POST', '/v1/refunds', { token: staff.alice, form: { payment_intent: pi.id, amount: 7000 } }));
  assert.equal(ok(await getIntent(payd, pi.id)).amount_refunded, 10000);
  const rv2 = await pendingOf(pi.id, 'refund');
  expectError(await decide(rv2.id, 'reject', staff.bob), 400, { param: 'reason' });
  ok(await decide(rv2.id, 'reject', staff.bob, { reason: 'Patient already paid back in cash' }));
  const re2Done = ok(await payd.api('GET', `/v1/refunds/${re2.id}`));
  assert.equal(re2Done.status, 'failed');
  assert.equal(re2Done.failure_reason, 'declined');
  assert.equal(re2Done.balance_transaction, null);
  const piAfter = ok(await getIntent(payd, pi.id));
  assert.equal(piAfter.amount_refunded, 3000);
  assert.equal(piAfter.status, 'succeeded');
  assert.equal(await sdgBalance(), before - 3000);
  /* What was released may be asked for again. */
  const re3 = ok(await payd.api('POST', '/v1/refunds', { token: staff.alice, form: { payment_intent: pi.id, amount: 7000 } }));
  assert.equal(re3.status, 'pending');
  const check = await auditVerify(payd);
  assert.equal(check.code, 0, check.stdout + check.stderr);
});

test('queue filters (status, kind, tender, facility, payment_intent) and cursor pagination', async () => {
  const fac = `fac_${crypto.randomBytes(4).toString('hex')}`;
  const a = await recorded('cash', { facility: fac });
  const b = await recorded('cheque', { facility: fac });
  const c = await recorded('bank_draft', { facility: fac });
  const vb = await pendingOf(b.id);
  ok(await decide(vb.id, 'reject', staff.bob, { reason: 'unsigned cheque' }));

  const all = await listAll(payd, `/v1/verifications?facility=${fac}`);
  assert.deepEqual(all.map((v) => v.payment_intent), [c.id, b.id, a.id], 'newest first');
  const pending = await listAll(payd, `/v1/verifications?facility=${fac}&status=pending`);
  assert.deepEqual(pending.map((v) => v.payment_intent).sort(), [a.id, c.id].sort());
  assert.deepEqual((await listAll(payd, `/v1/verifications?facility=${fac}&status=rejected`)).map((v) => v.id), [vb.id]);
  assert.deepEqual((await listAll(payd, `/v1/verifications?facility=${fac}&tender=cheque`)).map((v) => v.payment_intent), [b.id]);
  assert.deepEqual((await listAll(payd, `/v1/verifications?facility=${fac}&tender=cash&status=pending`)).map((v) => v.payment_intent), [a.id]);
  assert.equal((await listAll(payd, `/v1/verifications?facility=${fac}&kind=refund`)).length, 0);
  assert.deepEqual((await listAll(payd, `/v1/verifications?payment_intent=${c.id}`)).map((v) => v.tender), ['bank_draft']);
  for (const v of await listAll(payd, '/v1/verifications?tender=cash&status=pending')) {
    assert.equal(v.tender, 'cash');
    assert.equal(v.status, 'pending');
  }
  const page1 = ok(await payd.api('GET', `/v1/verifications?facility=${fac}&limit=2`, { token: staff.auditor }));
  assert.equal(page1.object, 'list');
  assert.equal(page1.url, '/v1/verifications');
  assert.equal(page1.data.length, 2);
  assert.equal(page1.has_more, true);
  const page2 = ok(await payd.api('GET', `/v1/verifications?facility=${fac}&limit=2&starting_after=${page1.data[1].id}`));
  assert.deepEqual(page2.data.map((v) => v.payment_intent), [a.id]);
  assert.equal(page2.has_more, false);
  const back = ok(await payd.api('GET', `/v1/verifications?facility=${fac}&ending_before=${page2.data[0].id}`));
  assert.deepEqual(back.data.map((v) => v.id), page1.data.map((v) => v.id));

  expectError(await payd.api('GET', '/v1/verifications?status=done'), 400, { param: 'status' });
  expectError(await payd.api('GET', '/v1/verifications?tender=gold'), 400, { param: 'tender' });
  expectError(await payd.api('GET', '/v1/verifications?kind=x'), 400, { param: 'kind' });
  expectError(await payd.api('GET', '/v1/verifications?colour=red'), 400, { code: 'parameter_unknown', param: 'colour' });
  expectError(await payd.api('GET', '/v1/verifications/ver_DoesNotExist0000000000000'), 404, { param: 'id' });
});

test('a manual provider with a fee: the fee is booked at approval as its own lines; a refund does not return it', async () => {
  const prov = ok(await payd.api('POST', '/v1/providers', {
    form: { name: `transfer_${crypto.randomBytes(3).toString('hex')}`, type: 'bank_transfer', connector: 'manual', currencies: ['kwd'], fee_bps: 100 },
  }));
  const kwd = async () => {
    const b = ok(await payd.api('GET', '/v1/balance'));
    const x = b.available.find((a) => a.currency === 'kwd');
    return x ? x.amount : 0;
  };
  const before = await kwd();
  const pi = await recorded('bank_transfer', { amount: 10050, currency: 'kwd' });
  assert.equal(pi.provider, prov.name);
  ok(await decide((await pendingOf(pi.id)).id, 'approve', staff.bob));
  const after = ok(await getIntent(payd, pi.id));
  assert.equal(after.status, 'succeeded');
  assert.equal(after.fee_amount, 100, '10050 at 1 % = 100.5 -> 100 (half-even)');
  const bt = ok(await payd.api('GET', `/v1/balance_transactions?source=${pi.id}`)).data[0];
  assert.equal(bt.amount, 10050);
  assert.equal(bt.fee, 100);
  assert.equal(bt.net, 9950);
  assert.equal(await kwd(), before + 9950);
  ok(await payd.api('POST', '/v1/refunds', { token: staff.alice, form: { payment_intent: pi.id } }));
  ok(await decide((await pendingOf(pi.id, 'refund')).id, 'approve', staff.bob));
  assert.equal(await kwd(), before + 9950 - 10050);
});

test('fraud reviews share the queue: a held card is authorized when approved, declined when rejected', async () => {
  /* Only the amount rule scores: 40 points from 5000 usd holds a card for review. */
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'payd-ver-risk-'));
  const config = path.join(dir, 'risk.json');
  fs.writeFileSync(config, JSON.stringify({
    review_score: 30, decline_score: 60, timezone: 'UTC',
    rules: {
      amount: { points: 40, from: { usd: 5000 } },
      velocity_customer: { points: 0 }, velocity_card: { points: 0 }, velocity_address: { points: 0 },
      time_of_day: { points: 0 }, recent_declines: { points: 0 }, disputes: { points: 0 }, blocklist: { points: 0 },
      card_testing: { max_cards_per_customer: 0, max_cards_per_address: 0 },
    },
  }));
  const p2 = await startPayd({ args: ['--risk-config', config] });
  try {
    const alice = await p2.mintToken({ sub: 'staff_alice', role: 'staff' });
    const bob = await p2.mintToken({ sub: 'staff_bob', role: 'staff' });
    const held = async (pm) => {
      const pi = ok(await p2.api('POST', '/v1/payment_intents', {
        token: alice, form: { amount: 6000, currency: 'usd', payment_method: pm, confirm: true },
      }));
      assert.equal(pi.status, 'requires_verification');
      assert.equal(pi.amount_received, 0);
      const list = ok(await p2.api('GET', `/v1/verifications?payment_intent=${pi.id}&status=pending`)).data;
      assert.equal(list.length, 1);
      assert.equal(list[0].kind, 'fraud_review');
      assert.equal(list[0].tender, 'card');
      return { pi, ver: list[0] };
    };
    /* Approved: the card is charged now. */
    const a = await held('pm_card_visa');
    expectError(await p2.api('POST', `/v1/verifications/${a.ver.id}/approve`, { token: alice }), 403, { code: 'maker_checker_violation' });
    ok(await p2.api('POST', `/v1/verifications/${a.ver.id}/approve`, { token: bob }));
    const aAfter = ok(await p2.api('GET', `/v1/payment_intents/${a.pi.id}`));
    assert.equal(aAfter.status, 'succeeded');
    assert.equal(aAfter.amount_received, 6000);
    assert.equal(ok(await p2.api('GET', `/v1/balance_transactions?source=${a.pi.id}`)).data[0].amount, 6000);
    /* Approved, but the card itself declines: the review is decided, the decline shows on the intent. */
    const b = await held('pm_card_chargeDeclined');
    const bVer = ok(await p2.api('POST', `/v1/verifications/${b.ver.id}/approve`, { token: bob }));
    assert.equal(bVer.status, 'approved');
    const bAfter = ok(await p2.api('GET', `/v1/payment_intents/${b.pi.id}`));
    assert.equal(bAfter.status, 'requires_payment_method');
    assert.equal(bAfter.last_payment_error.code, 'card_declined');
    assert.equal(bAfter.amount_received, 0);
    /* Rejected: declined as fraudulent, nothing charged. */
    const c = await held('pm_card_visa');
    ok(await p2.api('POST', `/v1/verifications/${c.ver.id}/reject`, { token: bob, form: { reason: 'Card not present, patient unknown' } }));
    const cAfter = ok(await p2.api('GET', `/v1/payment_intents/${c.pi.id}`));
    assert.equal(cAfter.status, 'requires_payment_method');
    assert.equal(cAfter.last_payment_error.code, 'card_declined');
    assert.equal(cAfter.last_payment_error.decline_code, 'fraudulent');
    assert.equal(ok(await p2.api('GET', `/v1/balance_transactions?source=${c.pi.id}`)).data.length, 0);
    const check = await auditVerify(p2);
    assert.equal(check.code, 0, check.stdout + check.stderr);
  } finally {
    await p2.stop();
  }

  /* On Stripe: the card is sent to Stripe only once the review is approved. */
  const fake = await startFakeStripe();
  const p3 = await startPayd({
    env: { PAYD_STRIPE_SECRET_KEY: fake.secretKey },
    args: ['--risk-config', config, '--stripe-base-url', fake.url, '--stripe-retries', '0'],
  });
  try {
    const alice = await p3.mintToken({ sub: 'staff_alice', role: 'staff' });
    const bob = await p3.mintToken({ sub: 'staff_bob', role: 'staff' });
    for (const [pm, want] of [['pm_card_visa', 'succeeded'], ['pm_card_chargeDeclined', 'requires_payment_method']]) {
      const pi = ok(await p3.api('POST', '/v1/payment_intents', {
        token: alice, form: { amount: 6000, currency: 'usd', provider: 'stripe', payment_method: pm, confirm: true },
      }));
      assert.equal(pi.status, 'requires_verification');
      assert.equal(fake.charges.filter((c) => c.payd_intent === pi.id).length, 0, 'nothing sent to Stripe while held');
      const ver = ok(await p3.api('GET', `/v1/verifications?payment_intent=${pi.id}`)).data[0];
      assert.equal(ver.kind, 'fraud_review');
      const done = ok(await p3.api('POST', `/v1/verifications/${ver.id}/approve`, { token: bob }));
      assert.equal(done.id, ver.id);
      assert.equal(done.status, 'approved');
      const after = ok(await p3.api('GET', `/v1/payment_intents/${pi.id}`));
      assert.equal(after.status, want, JSON.stringify(after));
      assert.equal(after.amount_received, want === 'succeeded' ? 6000 : 0);
      assert.equal(fake.charges.filter((c) => c.payd_intent === pi.id).length, want === 'succeeded' ? 1 : 0);
    }
    const check = await auditVerify(p3);
    assert.equal(check.code, 0, check.stdout + check.stderr);
  } finally {
    await p3.stop();
    await fake.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a card provider with requires_manual_verification holds each payment for another staff member: approved, charged once; rejected, nothing charged', async () => {
  /* A payd of its own: a card provider changes the routing of every card payment. */
  const p2 = await startPayd();
  try {
    const alice = await p2.mintToken({ sub: 'staff_alice', role: 'staff' });
    const bob = await p2.mintToken({ sub: 'staff_bob', role: 'staff' });
    const prov = (form) => p2.api('POST', '/v1/providers', { form: { type: 'card', connector: 'sandbox', ...form } });
    const held = ok(await prov({ name: 'card-held', currencies: ['usd'], fee_bps: 200, requires_manual_verification: true }));
    assert.equal(held.requires_manual_verification, true);
    const plain = ok(await prov({ name: 'card-plain', currencies: ['eur'], fee_bps: 100 }));
    assert.equal(plain.requires_manual_verification, false);
    const pay = async (pm, params = {}) => ok(await p2.api('POST', '/v1/payment_intents', {
      token: alice, form: { amount: 6000, currency: 'usd', payment_method: pm, confirm: true, ...params },
    }), `pay with ${pm}`);
    const usd = async () => {
      const x = ok(await p2.api('GET', '/v1/balance')).available.find((a) => a.currency === 'usd');
      return x ? x.amount : 0;
    };
    const charges = async (id) => ok(await p2.api('GET', `/v1/balance_transactions?source=${id}`)).data;
    const pendingReview = async (id) => {
      const list = ok(await p2.api('GET', `/v1/verifications?payment_intent=${id}&kind=provider_review&status=pending`)).data;
      assert.equal(list.length, 1, JSON.stringify(list));
      return list[0];
    };
    const decideAs = (token, ver, action, form = {}) => p2.api('POST', `/v1/verifications/${ver.id}/${action}`, { token, form });

    /* Held before the card is charged: the queue shows why. */
    const before = await usd();
    const a = await pay('pm_card_visa');
    assert.equal(a.status, 'requires_verification');
    assert.equal(a.provider, 'card-held');
    assert.equal(a.amount_received, 0);
    assert.equal(a.next_action.type, 'manual_verification');
    assert.equal(a.next_action.manual_verification.kind, 'provider_review');
    const va = await pendingReview(a.id);
    assert.equal(a.next_action.manual_verification.verification, va.id);
    assert.equal(va.kind, 'provider_review');
    assert.equal(va.tender, 'card');
    assert.equal(va.amount, 6000);
    assert.equal(va.currency, 'usd');
    assert.equal(va.recorded_by, 'staff_alice');
    assert.ok((await listAll(p2, '/v1/verifications?kind=provider_review')).some((v) => v.id === va.id));
    assert.equal((await charges(a.id)).length, 0, 'nothing charged while held');
    assert.equal(await usd(), before);
    assert.equal((await eventsFor(p2, 'payment_intent.requires_verification', a.id)).length, 1);
    /* The one who took the payment cannot approve or reject it. */
    expectError(await decideAs(alice, va, 'approve'), 403, { code: 'maker_checker_violation' });
    expectError(await decideAs(alice, va, 'reject', { reason: 'mine' }), 403, { code: 'maker_checker_violation' });
    assert.equal(ok(await getIntent(p2, a.id)).status, 'requires_verification');
    /* Another staff member approves: the card is charged now, once, at the provider's fee. */
    const done = ok(await decideAs(bob, va, 'approve'));
    assert.equal(done.status, 'approved');
    assert.equal(done.decided_by, 'staff_bob');
    const aAfter = ok(await getIntent(p2, a.id));
    assert.equal(aAfter.status, 'succeeded');
    assert.equal(aAfter.amount_received, 6000);
    assert.equal(aAfter.fee_amount, 120);
    assert.equal(aAfter.next_action, null);
    const ca = await charges(a.id);
    assert.equal(ca.length, 1);
    assert.equal(ca[0].type, 'charge');
    assert.equal(ca[0].amount, 6000);
    assert.equal(ca[0].fee, 120);
    assert.equal(await usd(), before + 5880);
    assert.equal((await eventsFor(p2, 'payment_intent.succeeded', a.id)).length, 1);
    expectError(await decideAs(bob, va, 'approve'), 400, { code: 'payment_intent_unexpected_state' });
    assert.equal((await charges(a.id)).length, 1, 'a second approval charges nothing');

    /* capture_method=manual: approval authorizes; the capture books it. */
    const m = await pay('pm_card_mastercard', { capture_method: 'manual', amount: 3000 });
    assert.equal(m.status, 'requires_verification');
    ok(await decideAs(bob, await pendingReview(m.id), 'approve'));
    const mAuth = ok(await getIntent(p2, m.id));
    assert.equal(mAuth.status, 'requires_capture');
    assert.equal(mAuth.amount_capturable, 3000);
    assert.equal((await charges(m.id)).length, 0);
    const mDone = ok(await p2.api('POST', `/v1/payment_intents/${m.id}/capture`, { token: alice }));
    assert.equal(mDone.status, 'succeeded');
    assert.equal((await charges(m.id)).length, 1);

    /* Approved, but the card declines: the decision stands, the decline shows on the intent. */
    const d = await pay('pm_card_chargeDeclined');
    const vd = ok(await decideAs(bob, await pendingReview(d.id), 'approve'));
    assert.equal(vd.status, 'approved');
    const dAfter = ok(await getIntent(p2, d.id));
    assert.equal(dAfter.status, 'requires_payment_method');
    assert.equal(dAfter.last_payment_error.code, 'card_declined');
    assert.equal((await charges(d.id)).length, 0);

    /* Rejected: fails as a manual tender does, nothing charged; a new attempt is held again. */
    const r = await pay('pm_card_visa');
    const vr = await pendingReview(r.id);
    const rej = ok(await decideAs(bob, vr, 'reject', { reason: 'Card holder not present' }));
    assert.equal(rej.status, 'rejected');
    const rAfter = ok(await getIntent(p2, r.id));
    assert.equal(rAfter.status, 'requires_payment_method');
    assert.equal(rAfter.amount_received, 0);
    assert.equal(rAfter.last_payment_error.code, 'payment_method_provider_decline');
    assert.equal(rAfter.last_payment_error.decline_code, 'verification_rejected');
    assert.match(rAfter.last_payment_error.message, /Card holder not present/);
    assert.equal((await charges(r.id)).length, 0);
    assert.equal((await eventsFor(p2, 'payment_intent.payment_failed', r.id)).length, 1);
    const again = ok(await p2.api('POST', `/v1/payment_intents/${r.id}/confirm`, { token: alice, form: { payment_method: 'pm_card_visa' } }));
    assert.equal(again.status, 'requires_verification');
    assert.notEqual((await pendingReview(r.id)).id, vr.id);
    /* Canceling a held payment cancels its verification. */
    ok(await p2.api('POST', `/v1/payment_intents/${r.id}/cancel`, { token: bob }));
    assert.equal((await listAll(p2, `/v1/verifications?payment_intent=${r.id}&status=canceled`)).length, 1);

    /* A provider without the flag is unaffected: charged at once, nothing queued. */
    const e = await pay('pm_card_visa', { currency: 'eur' });
    assert.equal(e.status, 'succeeded');
    assert.equal(e.provider, 'card-plain');
    assert.equal((await charges(e.id)).length, 1);
    assert.equal((await listAll(p2, `/v1/verifications?payment_intent=${e.id}`)).length, 0);

    /* Fallback: the first provider cannot be reached (nothing charged), the next one requires
     * verification and holds the payment; once approved it is routed again and charged through
     * it without a second hold. */
    ok(await prov({ name: 'gbp-down', currencies: ['gbp'], priority: 1, connector_config: { outage: true } }));
    ok(await prov({ name: 'gbp-held', currencies: ['gbp'], priority: 2, fee_bps: 300, requires_manual_verification: true }));
    const f = await pay('pm_card_visa', { currency: 'gbp', amount: 1000 });
    assert.equal(f.status, 'requires_verification');
    assert.equal(f.provider, 'gbp-held');
    ok(await decideAs(bob, await pendingReview(f.id), 'approve'));
    const fAfter = ok(await getIntent(p2, f.id));
    assert.equal(fAfter.status, 'succeeded', JSON.stringify(fAfter));
    assert.equal(fAfter.provider, 'gbp-held');
    assert.equal(fAfter.fee_amount, 30);
    assert.equal((await charges(f.id)).length, 1);
    assert.equal((await listAll(p2, `/v1/verifications?payment_intent=${f.id}`)).length, 1, 'held once');

    /* Every provider unreachable at approval: the approval is refused (503), nothing is
     * charged, the payment stays held; approved again once the processor is back. */
    const g = await pay('pm_card_visa', { currency: 'gbp', amount: 2000 });
    const vg = await pendingReview(g.id);
    const gbpHeld = (await listAll(p2, '/v1/providers?type=card')).find((p) => p.name === 'gbp-held');
    ok(await p2.api('POST', `/v1/providers/${gbpHeld.id}`, { form: { connector_config: { outage: true } } }));
    expectError(await decideAs(bob, vg, 'approve'), 503);
    assert.equal(ok(await getIntent(p2, g.id)).status, 'requires_verification');
    assert.equal(ok(await p2.api('GET', `/v1/verifications/${vg.id}`)).status, 'pending');
    assert.equal((await charges(g.id)).length, 0);
    ok(await p2.api('POST', `/v1/providers/${gbpHeld.id}`, { form: { connector_config: { outage: false } } }));
    ok(await decideAs(bob, vg, 'approve'));
    assert.equal(ok(await getIntent(p2, g.id)).status, 'succeeded');
    assert.equal((await charges(g.id)).length, 1);

    const check = await auditVerify(p2);
    assert.equal(check.code, 0, check.stdout + check.stderr);
  } finally {
    await p2.stop();
  }
});

test('a Stripe card provider with requires_manual_verification: the card is sent to Stripe only once another staff member approves', async () => {
  const fake = await startFakeStripe();
  const p3 = await startPayd({
    env: { PAYD_STRIPE_SECRET_KEY: fake.secretKey },
    args: ['--stripe-base-url', fake.url, '--stripe-retries', '0'],
  });
  try {
    const alice = await p3.mintToken({ sub: 'staff_alice', role: 'staff' });
    const bob = await p3.mintToken({ sub: 'staff_bob', role: 'staff' });
    ok(await p3.api('POST', '/v1/providers', {
      form: { name: 'stripe-held', type: 'card', connector: 'stripe', currencies: ['usd'], requires_manual_verification: true },
    }));
    for (const [pm, action, want] of [['pm_card_visa', 'approve', 'succeeded'], ['pm_card_visa', 'reject', 'requires_payment_method']]) {
      const pi = ok(await p3.api('POST', '/v1/payment_intents', {
        token: alice, form: { amount: 4200, currency: 'usd', provider: 'stripe', payment_method: pm, confirm: true },
      }));
      assert.equal(pi.status, 'requires_verification');
      assert.equal(pi.provider, 'stripe-held');
      const ver = ok(await p3.api('GET', `/v1/verifications?payment_intent=${pi.id}`)).data[0];
      assert.equal(ver.kind, 'provider_review');
      assert.equal(fake.charges.filter((c) => c.payd_intent === pi.id).length, 0, 'nothing sent to Stripe while held');
      expectError(await p3.api('POST', `/v1/verifications/${ver.id}/${action}`, { token: alice, form: action === 'reject' ? { reason: 'no' } : {} }), 403, { code: 'maker_checker_violation' });
      const done = ok(await p3.api('POST', `/v1/verifications/${ver.id}/${action}`, { token: bob, form: action === 'reject' ? { reason: 'Not our patient' } : {} }));
      assert.equal(done.status, action === 'approve' ? 'approved' : 'rejected');
      const after = ok(await p3.api('GET', `/v1/payment_intents/${pi.id}`));
      assert.equal(after.status, want, JSON.stringify(after));
      assert.equal(after.amount_received, want === 'succeeded' ? 4200 : 0);
      assert.equal(fake.charges.filter((c) => c.payd_intent === pi.id).length, want === 'succeeded' ? 1 : 0);
      assert.equal(ok(await p3.api('GET', `/v1/balance_transactions?source=${pi.id}`)).data.length, want === 'succeeded' ? 1 : 0);
    }
    const check = await auditVerify(p3);
    assert.equal(check.code, 0, check.stdout + check.stderr);
  } finally {
    await p3.stop();
    await fake.close();
  }
});

test('the database the suite left passes payd audit verify', async () => {
  const r = await auditVerify(payd);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /ok   refunds: each equals its ledger entries/);
});
