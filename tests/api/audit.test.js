'use strict';
/*
 * audit.test.js - the hash-chained audit log: every committed write (and a
 * decline committed anyway, and CLI key actions) leaves one audit event
 * with who/what/where and parameter names only; rolled-back requests leave
 * none; a CLI key change and its record commit together or not at all;
 * GET /v1/audit_events for admins and auditors only, with filters and
 * cursor pagination; concurrent writes still chain; and `payd audit
 * verify` detects an edited, an inserted, a deleted and a cut-off row in a
 * tampered copy of the SQLite database (triggers dropped first: with them
 * the database refuses UPDATE and DELETE).
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { startPayd, runPayd, runPaydOk, freshDatabase } = require('./lib/payd');
const { expectError, ok, newCustomer, intent, auditVerify, listAll } = require('./lib/intents');

let payd;

test.before(async () => {
  payd = await startPayd();
});

test.after(async () => {
  if (payd) await payd.stop();
});

async function eventsOf(objectId) {
  return listAll(payd, `/v1/audit_events?object=${encodeURIComponent(objectId)}`);
}

/* The SHA-256 of the event without its hash, as documented in the OpenAPI. */
function expectedHash(ev) {
  const { hash, ...rest } = ev;
  const text = JSON.stringify(rest).replace(/[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return crypto.createHash('sha256').update(text).digest('hex');
}

test('a write is recorded with actor, role, action, object, parameter names, address, request id, status', async () => {
  const r = await payd.api('POST', '/v1/customers', {
    form: { name: 'Amira Secretname', email: 'amira.secret@example.com', phone: '+249912345678', metadata: { mrn: 'MRN-77' } },
  });
  const cus = ok(r);
  const evs = await eventsOf(cus.id);
  assert.equal(evs.length, 1);
  const ev = evs[0];
  assert.match(ev.id, /^aud_/);
  assert.equal(ev.object, 'audit_event');
  assert.equal(ev.actor, payd.adminKeyId);
  assert.equal(ev.role, 'admin');
  assert.equal(ev.action, 'POST /v1/customers');
  assert.equal(ev.object_id, cus.id);
  assert.equal(ev.summary, 'name, email, phone, metadata');
  assert.equal(ev.client_addr, '127.0.0.1');
  assert.equal(ev.request_id, r.headers.get('request-id'));
  assert.equal(ev.status, 200);
  assert.ok(Math.abs(ev.created - Date.now() / 1000) < 120);
  assert.match(ev.prev_hash, /^[0-9a-f]{64}$/);
  assert.equal(ev.hash, expectedHash(ev));
  /* Names, never values: nothing of the patient's data is in the log. */
  const all = JSON.stringify(await listAll(payd, '/v1/audit_events'));
  for (const v of ['Secretname', 'amira.secret', '912345678', 'MRN-77']) {
    assert.ok(!all.includes(v), `audit log contains ${v}`);
  }
  assert.deepEqual(ok(await payd.api('GET', `/v1/audit_events/${ev.id}`)), ev);
});

test('updates and deletes name the path id; a failed request leaves no event', async () => {
  const cus = await newCustomer(payd);
  ok(await payd.api('POST', `/v1/customers/${cus.id}`, { form: { description: 'x' } }));
  expectError(await payd.api('POST', `/v1/customers/${cus.id}`, { form: { bogus: 1 } }), 400);
  expectError(await payd.api('POST', '/v1/customers/cus_doesnotexist000000000000', { form: { description: 'x' } }), 404);
  ok(await payd.api('DELETE', `/v1/customers/${cus.id}`));
  const evs = await eventsOf(cus.id);
  assert.deepEqual(evs.map((e) => e.action), ['DELETE /v1/customers/:id', 'POST /v1/customers/:id', 'POST /v1/customers']);
  assert.equal(evs[1].summary, 'description');
  assert.equal((await eventsOf('cus_doesnotexist000000000000')).length, 0);
});

test('a decline committed anyway is recorded; an idempotent replay is not recorded twice', async () => {
  const pi = await intent(payd, { amount: 2500 });
  const r = await payd.api('POST', `/v1/payment_intents/${pi.id}/confirm`, { form: { payment_method: 'pm_card_chargeDeclined' } });
  assert.equal(r.status, 402, r.text);
  const confirms = (await eventsOf(pi.id)).filter((e) => e.action === 'POST /v1/payment_intents/:id/confirm');
  assert.equal(confirms.length, 1);
  assert.equal(confirms[0].summary, 'payment_method');

  const key = `idem-${Math.random()}`;
  const first = ok(await payd.api('POST', '/v1/customers', { form: { description: 'once' }, idempotencyKey: key }));
  const again = await payd.api('POST', '/v1/customers', { form: { description: 'once' }, idempotencyKey: key });
  assert.equal(again.headers.get('idempotent-replayed'), 'true');
  assert.equal((await eventsOf(first.id)).length, 1);
});

test('CLI and API key actions are recorded', async () => {
  const k = await payd.keysCreate({ role: 'staff', name: 'audited' });
  await payd.revokeKey(k.id);
  const evs = await eventsOf(k.id);
  assert.deepEqual(evs.map((e) => e.action), ['payd keys revoke', 'payd keys create']);
  assert.equal(evs[1].role, 'cli');
  assert.match(evs[1].actor, /^cli:/);
  assert.equal(evs[1].client_addr, 'local');
  assert.equal(evs[1].summary, 'name, role');

  const created = ok(await payd.api('POST', '/v1/keys', { form: { name: 'via-api', role: 'auditor' } }));
  ok(await payd.api('DELETE', `/v1/keys/${created.id}`));
  const apiEvs = await eventsOf(created.id);
  assert.deepEqual(apiEvs.map((e) => e.action), ['DELETE /v1/keys/:id', 'POST /v1/keys']);
  assert.equal(apiEvs[1].actor, payd.adminKeyId);
  assert.ok(!JSON.stringify(apiEvs).includes('sk_test_'));
});

/* The CLI writes a key change and its audit record in one transaction: when
 * the record cannot be written (here: the chain head removed, triggers
 * dropped), the key change is rolled back with it, as a crash between the
 * two would otherwise leave a key nobody recorded. */
test('payd keys create|revoke: no key change without its audit record', async () => {
  const db = await freshDatabase(payd.kind);
  try {
    const cli = (...args) => runPayd([...args, '--db', db.url]);
    const list = async () => JSON.parse((await runPaydOk(['keys', 'list', '--db', db.url])).stdout);
    const made = await cli('keys', 'create', '--name', 'kept', '--role', 'staff');
    assert.equal(made.code, 0, made.stderr);
    const kept = (await list()).find((k) => k.name === 'kept');
    assert.ok(kept && kept.revoked_at === null);
    const sql = db.kind === 'sqlite'
      ? (s) => execFileSync('sqlite3', ['-cmd', '.timeout 10000', db.url.replace(/^sqlite:/, ''), s], { encoding: 'utf8' })
      : (s) => execFileSync('psql', [db.url, '-v', 'ON_ERROR_STOP=1', '-qAtc', s], { encoding: 'utf8' });
    assert.equal(sql('SELECT COUNT(*) FROM audit_events').trim(), '1');
    sql('DROP TRIGGER audit_head_no_delete' + (db.kind === 'sqlite' ? '' : ' ON audit_head'));
    sql('DELETE FROM audit_head');

    const refused = await cli('keys', 'create', '--name', 'unrecorded', '--role', 'admin');
    assert.notEqual(refused.code, 0, refused.stdout);
    assert.doesNotMatch(refused.stdout, /sk_test_/, 'no secret is handed out');
    assert.equal((await list()).find((k) => k.name === 'unrecorded'), undefined, 'no key without its record');

    const notRevoked = await cli('keys', 'revoke', kept.id);
    assert.notEqual(notRevoked.code, 0, notRevoked.stdout);
    assert.equal((await list()).find((k) => k.id === kept.id).revoked_at, null, 'still active');
    assert.equal(sql('SELECT COUNT(*) FROM audit_events').trim(), '1');
  } finally {
    await db.drop();
  }
});

test('POST /v1/keys and DELETE /v1/keys/:id: no key change without its audit record', async () => {
  const own = await startPayd();
  try {
    const made = ok(await own.api('POST', '/v1/keys', { form: { name: 'kept', role: 'staff' } }), 'create');
    const records = async () => (await listAll(own, '/v1/audit_events')).filter((a) => /\/v1\/keys/.test(a.action));
    const before = await records();
    assert.deepEqual(before.map((a) => [a.action, a.object_id]), [['POST /v1/keys', made.id]], 'the create is recorded with its key');
    const sql = own.kind === 'sqlite'
      ? (q) => execFileSync('sqlite3', ['-cmd', '.timeout 10000', own.dbUrl.replace(/^sqlite:/, ''), q], { encoding: 'utf8' })
      : (q) => execFileSync('psql', [own.dbUrl, '-v', 'ON_ERROR_STOP=1', '-qAtc', q], { encoding: 'utf8' });
    const events = sql('SELECT COUNT(*) FROM audit_events').trim();
    sql('DROP TRIGGER audit_head_no_delete' + (own.kind === 'sqlite' ? '' : ' ON audit_head'));
    sql('DELETE FROM audit_head');

    const refused = await own.api('POST', '/v1/keys', { form: { name: 'unrecorded', role: 'admin' } });
    assert.ok(refused.status >= 500, `refused: ${refused.status} ${refused.text}`);
    assert.doesNotMatch(refused.text, /sk_test_/, 'no secret is handed out');
    const keys = ok(await own.api('GET', '/v1/keys')).data;
    assert.equal(keys.find((k) => k.name === 'unrecorded'), undefined, 'no key without its record');

    const notRevoked = await own.api('DELETE', `/v1/keys/${made.id}`);
    assert.ok(notRevoked.status >= 500, `not revoked: ${notRevoked.status} ${notRevoked.text}`);
    const still = ok(await own.api('GET', '/v1/keys')).data.find((k) => k.id === made.id);
    assert.equal(still.revoked_at, null, 'still active');
    assert.equal(sql('SELECT COUNT(*) FROM audit_events').trim(), events, 'nothing was recorded either');
  } finally {
    await own.stop();
  }
});

test('admins and auditors read the log; staff and patients may not; no writes', async () => {
  const auditor = await payd.createKey('auditor');
  const staff = await payd.createKey('staff');
  const cus = await newCustomer(payd);
  const patient = await payd.mintToken({ sub: 'pat_1', role: 'patient', customer: cus.id });
  ok(await payd.api('GET', '/v1/audit_events', { key: auditor }));
  expectError(await payd.api('GET', '/v1/audit_events', { key: staff }), 403);
  expectError(await payd.api('GET', '/v1/audit_events', { token: patient }), 403);
  expectError(await payd.api('GET', '/v1/audit_events', { key: null }), 401);
  const one = ok(await payd.api('GET', '/v1/audit_events?limit=1')).data[0];
  expectError(await payd.api('GET', `/v1/audit_events/${one.id}`, { key: staff }), 403);
  expectError(await payd.api('GET', '/v1/audit_events/aud_nope0000000000000000000'), 404);
  expectError(await payd.api('POST', `/v1/audit_events/${one.id}`, { form: { summary: 'x' } }), 405);
  expectError(await payd.api('DELETE', `/v1/audit_events/${one.id}`), 405);
});

test('filters (actor, action, object, created) and cursor pagination', async () => {
  const staff = await payd.keysCreate({ role: 'staff', name: 'filters' });
  for (let i = 0; i < 3; i++) {
    ok(await payd.api('POST', '/v1/customers', { form: { description: `f${i}` }, key: staff.secret }));
  }
  const mine = ok(await payd.api(`GET`, `/v1/audit_events?actor=${staff.id}&limit=100`)).data;
  assert.equal(mine.length, 3);
  assert.ok(mine.every((e) => e.role === 'staff' && e.action === 'POST /v1/customers'));
  const byAction = await listAll(payd, `/v1/audit_events?action=${encodeURIComponent('POST /v1/customers')}`);
  assert.ok(byAction.length >= 3 && byAction.every((e) => e.action === 'POST /v1/customers'));
  const page1 = ok(await payd.api('GET', `/v1/audit_events?actor=${staff.id}&limit=2`));
  assert.equal(page1.has_more, true);
  const page2 = ok(await payd.api('GET', `/v1/audit_events?actor=${staff.id}&limit=2&starting_after=${page1.data[1].id}`));
  assert.equal(page2.has_more, false);
  assert.deepEqual([...page1.data, ...page2.data].map((e) => e.id), mine.map((e) => e.id));
  const future = ok(await payd.api('GET', `/v1/audit_events?created[gt]=${Math.floor(Date.now() / 1000) + 3600}`));
  assert.equal(future.data.length, 0);
  expectError(await payd.api('GET', '/v1/audit_events?summary=x'), 400);
});

test('concurrent writes chain in order and verify', async () => {
  await Promise.all(Array.from({ length: 40 }, (_, i) => payd.api('POST', '/v1/customers', { form: { description: `c${i}` } })
    .then((r) => ok(r))));
  const all = await listAll(payd, '/v1/audit_events');
  const chron = all.slice().reverse();
  for (let i = 1; i < chron.length; i++) {
    assert.equal(chron[i].prev_hash, chron[i - 1].hash, `link broken at ${chron[i].id}`);
  }
  for (const ev of all) assert.equal(ev.hash, expectedHash(ev));
  const v = await auditVerify(payd);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  assert.match(v.stdout, /ok {3}audit chain head/);
});

/* SQLite: tamper with copies of the database, triggers dropped. */
test('payd audit verify detects an edited, inserted, deleted or cut-off row', { skip: payd && payd.kind !== 'sqlite' }, async (t) => {
  if (payd.kind !== 'sqlite') return t.skip('SQLite only');
  const src = payd.dbUrl.replace(/^sqlite:/, '');
  const sql = (db, s) => execFileSync('sqlite3', ['-cmd', '.timeout 10000', db, s], { encoding: 'utf8' });
  /* The triggers refuse changes on the live table. */
  const copy0 = path.join(payd.dir, 'tamper0.db');
  sql(src, `VACUUM INTO '${copy0}'`);
  assert.throws(() => sql(copy0, 'UPDATE audit_events SET summary = \'x\' WHERE seq = 2'), /append-only/);
  assert.throws(() => sql(copy0, 'DELETE FROM audit_events WHERE seq = 2'), /append-only/);

  const cases = {
    edited: ['UPDATE audit_events SET summary = \'amount\' WHERE seq = 3', /FAIL audit rows match their hashes/],
    edited_data: ['UPDATE audit_events SET data = replace(data, \'"status":200\', \'"status":201\') WHERE seq = 3',
      /FAIL audit rows' data equals their columns/],
    rehashed: ['UPDATE audit_events SET actor = \'key_other\' WHERE seq = 3', /FAIL audit chain links/, true],
    deleted: ['DELETE FROM audit_events WHERE seq = 3', /FAIL audit chain links/],
    inserted: ['INSERT INTO audit_events (seq, id, created, actor, role, action, object, summary, client_addr, request_id, status, prev_hash, hash, data) '
      + 'SELECT 0, \'aud_forged000000000000000000\', created, actor, role, action, object, summary, client_addr, request_id, status, prev_hash, hash, data FROM audit_events WHERE seq = 1',
    /FAIL audit chain links/],
    cut_off: ['DELETE FROM audit_events WHERE seq = (SELECT max(seq) FROM audit_events)', /FAIL audit chain head/],
  };
  let i = 0;
  for (const [name, [stmt, want, rehash]] of Object.entries(cases)) {
    const copy = path.join(payd.dir, `tamper${++i}.db`);
    sql(src, `VACUUM INTO '${copy}'`);
    sql(copy, 'DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;');
    sql(copy, stmt);
    if (rehash) {
      /* A careful forger also recomputes the row's hash and data: the next row's link still breaks. */
      const row = JSON.parse(sql(copy, 'SELECT json_object(\'id\', id, \'object\', \'audit_event\', \'created\', created, \'actor\', actor, \'role\', role, '
        + '\'action\', action, \'object_id\', object, \'summary\', summary, \'client_addr\', client_addr, \'request_id\', request_id, \'status\', status, \'prev_hash\', prev_hash) FROM audit_events WHERE seq = 3'));
      const h = expectedHash(row);
      const data = JSON.stringify({ ...row, hash: h }).replace(/'/g, '\'\'');
      sql(copy, `UPDATE audit_events SET hash = '${h}', data = '${data}' WHERE seq = 3`);
    }
    const r = await runPayd(['audit', 'verify', '--db', `sqlite:${copy}`]);
    assert.equal(r.code, 1, `${name}: verify passed:\n${r.stdout}`);
    assert.match(r.stdout, want, `${name}:\n${r.stdout}`);
    fs.rmSync(copy, { force: true });
  }
  const v = await auditVerify(payd);
  assert.equal(v.code, 0, v.stdout);
});
