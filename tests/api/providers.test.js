'use strict';
/*
 * providers.test.js - /v1/providers and /v1/facilities over HTTP (issue 6):
 * create/retrieve/update/list/delete with every field, credentials stored
 * sealed and never shown, validation errors naming the parameter, access
 * (admin only for providers; facilities read by staff and auditors), and
 * routing through payment intents: priority, active, currency, amount
 * limits (400 naming amount), facility, card brand, a provider named at
 * create, the built-in defaults, and fallback when a provider's processor
 * cannot be reached.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { execFileSync } = require('node:child_process');
const { startPayd } = require('./lib/payd');
const { expectError, ok, listAll, auditVerify } = require('./lib/intents');

let payd;
let seq = 0;

test.before(async () => {
  payd = await startPayd();
});

test.after(async () => {
  if (payd) await payd.stop();
});

/* A name no other test uses. */
const uniq = (base) => `${base}-${++seq}-${Math.random().toString(36).slice(2, 7)}`;

function createProvider(form, o = {}) {
  return payd.api('POST', '/v1/providers', { form, ...o });
}

async function provider(form) {
  return ok(await createProvider({ currencies: ['sdg'], connector: 'sandbox', type: 'card', ...form }), 'create provider');
}

async function facility(form = {}) {
  return ok(await payd.api('POST', '/v1/facilities', { form: { name: uniq('clinic'), timezone: 'Africa/Khartoum', ...form } }), 'create facility');
}

function pay(form) {
  return payd.api('POST', '/v1/payment_intents', { form: { currency: 'sdg', confirm: true, ...form } });
}

/* Every live provider of @type is set inactive, so a test starts from a known routing table. */
async function deactivateAll(type) {
  for (const p of await listAll(payd, `/v1/providers?type=${type}&active=true`)) {
    ok(await payd.api('POST', `/v1/providers/${p.id}`, { form: { active: false } }));
  }
}

/* The database's bytes (SQLite file and WAL) or a dump of every table (PostgreSQL). */
function dumpDatabase() {
  if (payd.kind === 'sqlite') {
    const file = payd.dbUrl.replace(/^sqlite:/, '');
    return [file, `${file}-wal`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f).toString('latin1')).join('\n');
  }
  const tables = execFileSync('psql', [payd.dbUrl, '-qAtc',
    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"]).toString().trim().split('\n');
  return tables.map((t) => execFileSync('psql', [payd.dbUrl, '-qAtc', `SELECT t::text FROM "${t}" t`]).toString()).join('\n');
}

/* ---- CRUD ------------------------------------------------------------------------ */

test('a provider with every field: shape, credentials never shown, stored sealed', async () => {
  const fac = await facility({ display_name: 'Omdurman Clinic' });
  const secret = `momo-api-key-${Math.random().toString(36).slice(2)}`;
  const name = uniq('zain');
  const p = await provider({
    name, display_name: 'Zain Cash', type: 'mobile_wallet', connector: 'mobile_money',
    currencies: ['SDG', 'usd', 'sdg'], fee_bps: 100, fee_fixed: 50, min_amount: 100, max_amount: 50000000,
    supports_refunds: false, requires_manual_verification: false, active: true, priority: 7,
    facilities: [fac.id], connector_config: { base_url: 'http://127.0.0.1:8090', wallet: 'zain_cash' },
    credentials: { api_user: 'user-1', api_key: secret, subscription_key: 'sub-1' }, metadata: { region: 'omdurman' },
  });
  assert.match(p.id, /^prov_[0-9A-Za-z]{24}$/);
  assert.equal(p.object, 'provider');
  assert.equal(p.name, name);
  assert.equal(p.display_name, 'Zain Cash');
  assert.equal(p.type, 'mobile_wallet');
  assert.equal(p.connector, 'mobile_money');
  assert.deepEqual(p.currencies, ['sdg', 'usd']);
  assert.equal(p.fee_bps, 100);
  assert.equal(p.fee_fixed, 50);
  assert.equal(p.min_amount, 100);
  assert.equal(p.max_amount, 50000000);
  assert.equal(p.supports_refunds, false);
  assert.equal(p.requires_manual_verification, false);
  assert.equal(p.active, true);
  assert.equal(p.priority, 7);
  assert.deepEqual(p.facilities, [fac.id]);
  assert.deepEqual(p.connector_config, { base_url: 'http://127.0.0.1:8090', wallet: 'zain_cash' });
  assert.deepEqual(p.metadata, { region: 'omdurman' });
  assert.equal(p.credentials_set, true);
  assert.equal(p.credentials, undefined);
  assert.equal(p.livemode, false);
  assert.ok(Math.abs(p.created - Date.now() / 1000) < 120);

  const got = ok(await payd.api('GET', `/v1/providers/${p.id}`));
  assert.deepEqual(got, p);
  const listed = (await listAll(payd, '/v1/providers')).find((x) => x.id === p.id);
  assert.deepEqual(listed, p);
  for (const text of [JSON.stringify(got), JSON.stringify(listed)]) assert.ok(!text.includes(secret));
  const dump = dumpDatabase();
  assert.ok(dump.includes(p.id), 'the dump holds the provider');
  assert.ok(!dump.includes(secret), 'the credential is not stored in clear');
  assert.ok(!fs.readFileSync(payd.logFile, 'utf8').includes(secret), 'nor logged');
});

test('defaults: display_name from name, active, priority 0, manual verification for the manual connector', async () => {
  const cash = await provider({ name: uniq('cash'), type: 'cash', connector: 'manual' });
  assert.equal(cash.display_name, cash.name);
  assert.equal(cash.active, true);
  assert.equal(cash.priority, 0);
  assert.equal(cash.fee_bps, 0);
  assert.equal(cash.fee_fixed, 0);
  assert.equal(cash.min_amount, null);
  assert.equal(cash.max_amount, null);
  assert.equal(cash.supports_refunds, true);
  assert.equal(cash.requires_manual_verification, true);
  assert.equal(cash.credentials_set, false);
  assert.deepEqual(cash.facilities, []);
  assert.deepEqual(cash.card_brands, []);
  const card = await provider({ name: uniq('card') });
  assert.equal(card.requires_manual_verification, false);
  await deactivateAll('card');
  await deactivateAll('cash');
});

test('update: fields replace, limits clear with "", credentials replace or clear, metadata merges', async () => {
  const p = await provider({ name: uniq('upd'), fee_bps: 250, min_amount: 500, max_amount: 1000, metadata: { a: '1', b: '2' }, credentials: { key: 'k1' }, active: false });
  const u = ok(await payd.api('POST', `/v1/providers/${p.id}`, {
    form: { fee_bps: 150, fee_fixed: 25, min_amount: '', max_amount: 90000, priority: -3, display_name: 'Renamed', metadata: { b: '', c: '3' } },
  }));
  assert.equal(u.fee_bps, 150);
  assert.equal(u.fee_fixed, 25);
  assert.equal(u.min_amount, null);
  assert.equal(u.max_amount, 90000);
  assert.equal(u.priority, -3);
  assert.equal(u.display_name, 'Renamed');
  assert.deepEqual(u.metadata, { a: '1', c: '3' });
  assert.equal(u.credentials_set, true, 'credentials untouched when not sent');
  assert.equal(u.name, p.name);
  assert.equal(u.created, p.created);
  /* JSON null also removes a limit; credentials={} clears them. */
  const v = ok(await payd.api('POST', `/v1/providers/${p.id}`, { body: { max_amount: null, credentials: {} } }));
  assert.equal(v.max_amount, null);
  assert.equal(v.credentials_set, false);
  const w = ok(await payd.api('POST', `/v1/providers/${p.id}`, { body: { credentials: { key: 'k2' } } }));
  assert.equal(w.credentials_set, true);
  assert.deepEqual(ok(await payd.api('GET', `/v1/providers/${p.id}`)), w);
  /* A rename to a taken name is refused. */
  const other = await provider({ name: uniq('other'), active: false });
  expectError(await payd.api('POST', `/v1/providers/${p.id}`, { form: { name: other.name } }), 400, { param: 'name' });
  const renamed = ok(await payd.api('POST', `/v1/providers/${p.id}`, { form: { name: `${p.name}-x` } }));
  assert.equal(renamed.name, `${p.name}-x`);
});

test('list: newest first, filters by type and active, paginates', async () => {
  const a = await provider({ name: uniq('lst'), type: 'cheque', connector: 'manual', active: false });
  const b = await provider({ name: uniq('lst'), type: 'cheque', connector: 'manual', active: false });
  const c = await provider({ name: uniq('lst'), type: 'cheque', connector: 'manual', active: true });
  const all = await listAll(payd, '/v1/providers?type=cheque');
  assert.deepEqual(all.slice(0, 3).map((x) => x.id), [c.id, b.id, a.id]);
  assert.ok(all.every((x) => x.type === 'cheque'));
  const inactive = await listAll(payd, '/v1/providers?type=cheque&active=false');
  assert.ok(inactive.some((x) => x.id === a.id) && inactive.every((x) => x.active === false));
  const page = ok(await payd.api('GET', '/v1/providers?type=cheque&limit=1'));
  assert.equal(page.object, 'list');
  assert.equal(page.url, '/v1/providers');
  assert.equal(page.data.length, 1);
  assert.equal(page.has_more, true);
  expectError(await payd.api('GET', '/v1/providers?type=crypto'), 400, { param: 'type' });
  await deactivateAll('cheque');
});

test('delete: gone from retrieve and lists, the name is free again', async () => {
  const p = await provider({ name: uniq('del'), credentials: { key: 'x' }, active: false });
  const d = ok(await payd.api('DELETE', `/v1/providers/${p.id}`));
  assert.deepEqual(d, { id: p.id, object: 'provider', deleted: true });
  expectError(await payd.api('GET', `/v1/providers/${p.id}`), 404, { param: 'id' });
  expectError(await payd.api('DELETE', `/v1/providers/${p.id}`), 404);
  expectError(await payd.api('POST', `/v1/providers/${p.id}`, { form: { fee_bps: 1 } }), 404);
  assert.ok(!(await listAll(payd, '/v1/providers')).some((x) => x.id === p.id));
  const again = await provider({ name: p.name, active: false });
  assert.notEqual(again.id, p.id);
  expectError(await payd.api('GET', '/v1/providers/prov_000000000000000000000000'), 404, { param: 'id' });
  expectError(await payd.api('GET', '/v1/providers/nope'), 404, { param: 'id' });
});

test('validation: every bad field is a 400 naming it', async () => {
  const base = { name: uniq('val'), type: 'card', connector: 'sandbox', currencies: ['sdg'] };
  const cases = [
    [{ name: undefined }, 'name', 'parameter_missing'],
    [{ type: undefined }, 'type', 'parameter_missing'],
    [{ connector: undefined }, 'connector', 'parameter_missing'],
    [{ currencies: undefined }, 'currencies', 'parameter_missing'],
    [{ name: 'Has Spaces' }, 'name'],
    [{ name: '-dash-first' }, 'name'],
    [{ name: 'x'.repeat(64) }, 'name'],
    [{ name: 'stripe' }, 'name'],
    [{ name: 'sandbox' }, 'name'],
    [{ type: 'crypto' }, 'type'],
    [{ connector: 'paypal' }, 'connector'],
    [{ connector: 'manual' }, 'connector'],
    [{ type: 'cash', connector: 'sandbox' }, 'connector'],
    [{ type: 'mobile_wallet', connector: 'manual' }, 'connector'],
    [{ currencies: ['xxx'] }, 'currencies'],
    [{ currencies: [] }, 'currencies'],
    [{ fee_bps: 10001 }, 'fee_bps'],
    [{ fee_bps: -1 }, 'fee_bps'],
    [{ fee_bps: '2.5' }, 'fee_bps'],
    [{ fee_fixed: -5 }, 'fee_fixed'],
    [{ fee_fixed: '1000000000000' }, 'fee_fixed'],
    [{ min_amount: 0 }, 'min_amount'],
    [{ min_amount: 500, max_amount: 100 }, 'max_amount'],
    [{ priority: 1000001 }, 'priority'],
    [{ priority: 'high' }, 'priority'],
    [{ active: 'maybe' }, 'active'],
    [{ supports_refunds: 'perhaps' }, 'supports_refunds'],
    [{ facilities: ['fac_000000000000000000000000'] }, 'facilities'],
    [{ card_brands: ['diners-club'] }, 'card_brands'],
    [{ type: 'cash', connector: 'manual', card_brands: ['visa'] }, 'card_brands'],
    [{ connector_config: { base_url: 'ftp://x' } }, 'connector_config[base_url]'],
    [{ connector_config: { 'Bad Key': 'x' } }, 'connector_config'],
    [{ connector_config: 'text' }, 'connector_config'],
    [{ metadata: { k: 'x'.repeat(501) } }, 'metadata[k]'],
    [{ status: 'x' }, 'status', 'parameter_unknown'],
    [{ credentials_set: true }, 'credentials_set', 'parameter_unknown'],
  ];
  for (const [patch, param, code] of cases) {
    const form = { ...base, ...patch };
    for (const k of Object.keys(form)) if (form[k] === undefined) delete form[k];
    const r = await createProvider(form);
    expectError(r, 400, { param, ...(code ? { code } : {}) });
    assert.ok(r.body.error.message.length > 10, r.text);
  }
  /* JSON: credentials must be strings. */
  expectError(await createProvider(null, { body: { ...base, credentials: { key: 42 } } }), 400, { param: 'credentials' });
  /* A duplicate live name. */
  await provider({ ...base, active: false });
  expectError(await createProvider(base), 400, { param: 'name' });
  /* Nothing was created by the failures. */
  assert.equal((await listAll(payd, '/v1/providers')).filter((p) => p.name === base.name).length, 1);
});

test('access: providers are admin only; facilities are written by admins and read by staff and auditors', async () => {
  const p = await provider({ name: uniq('acc'), active: false });
  const fac = await facility();
  const staffKey = await payd.createKey('staff');
  const auditorKey = await payd.createKey('auditor');
  const staffJwt = await payd.mintToken({ sub: 'desk-1', role: 'staff' });
  const patient = await payd.mintToken({ sub: 'pat-1', role: 'patient', customer: 'cus_000000000000000000000000' });
  const who = { staffKey: { key: staffKey }, auditorKey: { key: auditorKey }, staffJwt: { token: staffJwt }, patient: { token: patient } };
  for (const [name, auth] of Object.entries(who)) {
    for (const [method, url, form] of [
      ['GET', '/v1/providers'], ['GET', `/v1/providers/${p.id}`],
      ['POST', '/v1/providers', { name: uniq('nope'), type: 'cash', connector: 'manual', currencies: ['sdg'] }],
      ['POST', `/v1/providers/${p.id}`, { fee_bps: 9999 }], ['DELETE', `/v1/providers/${p.id}`],
      ['POST', '/v1/facilities', { name: uniq('nope') }], ['POST', `/v1/facilities/${fac.id}`, { display_name: 'x' }],
      ['DELETE', `/v1/facilities/${fac.id}`],
    ]) {
      expectError(await payd.api(method, url, { ...auth, form }), 403);
    }
    const facilityRead = name !== 'patient';
    const r1 = await payd.api('GET', `/v1/facilities/${fac.id}`, auth);
    const r2 = await payd.api('GET', '/v1/facilities', auth);
    assert.equal(r1.status, facilityRead ? 200 : 403, `${name}: ${r1.text}`);
    assert.equal(r2.status, facilityRead ? 200 : 403, `${name}: ${r2.text}`);
    if (facilityRead) assert.deepEqual(r1.body, fac);
  }
  /* Nothing changed. */
  assert.deepEqual(ok(await payd.api('GET', `/v1/providers/${p.id}`)), p);
  expectError(await payd.api('GET', '/v1/providers', { key: null }), 401);
});

test('facilities: CRUD, IANA time zones, names, delete refused while a provider lists it', async () => {
  const f = await facility({ display_name: 'Bahri Clinic', metadata: { beds: '40' } });
  assert.match(f.id, /^fac_[0-9A-Za-z]{24}$/);
  assert.equal(f.object, 'facility');
  assert.equal(f.timezone, 'Africa/Khartoum');
  assert.equal(f.display_name, 'Bahri Clinic');
  assert.deepEqual(f.metadata, { beds: '40' });
  const plain = await facility({ timezone: undefined });
  assert.equal(plain.timezone, 'UTC');
  assert.equal(plain.display_name, plain.name);
  const u = ok(await payd.api('POST', `/v1/facilities/${f.id}`, { form: { timezone: 'America/New_York', metadata: { beds: '' } } }));
  assert.equal(u.timezone, 'America/New_York');
  assert.deepEqual(u.metadata, {});
  assert.deepEqual(ok(await payd.api('GET', `/v1/facilities/${f.id}`)), u);
  for (const tz of ['Mars/Olympus_Mons', '../../etc/passwd', '/usr/share/zoneinfo/UTC', 'Africa/Khartoum ']) {
    expectError(await payd.api('POST', '/v1/facilities', { form: { name: uniq('tz'), timezone: tz } }), 400, { param: 'timezone' });
  }
  expectError(await payd.api('POST', '/v1/facilities', { form: { timezone: 'UTC' } }), 400, { param: 'name', code: 'parameter_missing' });
  expectError(await payd.api('POST', '/v1/facilities', { form: { name: f.name } }), 400, { param: 'name' });
  expectError(await payd.api('POST', '/v1/facilities', { form: { name: 'Bad Name' } }), 400, { param: 'name' });
  expectError(await payd.api('POST', '/v1/facilities', { form: { name: uniq('x'), id: 'fac_mine' } }), 400, { code: 'parameter_unknown' });

  const p = await provider({ name: uniq('fac-user'), facilities: [f.id], active: false });
  expectError(await payd.api('DELETE', `/v1/facilities/${f.id}`), 409, { code: 'resource_conflict' });
  ok(await payd.api('POST', `/v1/providers/${p.id}`, { form: { facilities: '' } }));
  assert.deepEqual(ok(await payd.api('GET', `/v1/providers/${p.id}`)).facilities, []);
  assert.deepEqual(ok(await payd.api('DELETE', `/v1/facilities/${f.id}`)), { id: f.id, object: 'facility', deleted: true });
  expectError(await payd.api('GET', `/v1/facilities/${f.id}`), 404, { param: 'id' });
  assert.ok(!(await listAll(payd, '/v1/facilities')).some((x) => x.id === f.id));
  /* A deleted facility can no longer be given to a provider. */
  expectError(await payd.api('POST', `/v1/providers/${p.id}`, { form: { facilities: [f.id] } }), 400, { param: 'facilities' });
});

/* ---- Routing ---------------------------------------------------------------------- */

test('routing by priority and active; the intent shows provider and fee_amount', async () => {
  await deactivateAll('card');
  const slow = await provider({ name: uniq('prio-b'), priority: 20, fee_bps: 100 });
  const fast = await provider({ name: uniq('prio-a'), priority: 10, fee_bps: 200 });
  let pi = ok(await pay({ amount: 100000, payment_method: 'pm_card_visa' }));
  assert.equal(pi.status, 'succeeded');
  assert.equal(pi.provider, fast.name);
  assert.equal(pi.fee_amount, 2000);
  ok(await payd.api('POST', `/v1/providers/${fast.id}`, { form: { active: false } }));
  pi = ok(await pay({ amount: 100000, payment_method: 'pm_card_visa' }));
  assert.equal(pi.provider, slow.name);
  assert.equal(pi.fee_amount, 1000);
  /* A tie in priority goes to the older provider. */
  const tie = await provider({ name: uniq('prio-tie'), priority: 20, fee_bps: 300 });
  pi = ok(await pay({ amount: 100000, payment_method: 'pm_card_visa' }));
  assert.equal(pi.provider, slow.name);
  ok(await payd.api('POST', `/v1/providers/${slow.id}`, { form: { active: false } }));
  pi = ok(await pay({ amount: 100000, payment_method: 'pm_card_visa' }));
  assert.equal(pi.provider, tie.name);
  /* Every card provider inactive: no route, named as the tender. */
  await deactivateAll('card');
  expectError(await pay({ amount: 100000, payment_method: 'pm_card_visa' }), 400, { param: 'payment_method_types', message: /No active card provider/ });
});

test('routing by currency, amount limits (400 naming amount), facility and card brand', async () => {
  await deactivateAll('card');
  const north = await facility();
  const south = await facility();
  const visa = await provider({ name: uniq('visa'), card_brands: ['visa'], currencies: ['sdg', 'usd'], min_amount: 1000, max_amount: 500000, fee_bps: 250 });
  const mc = await provider({ name: uniq('mc'), card_brands: ['mastercard'], fee_bps: 240, facilities: [north.id] });

  assert.equal(ok(await pay({ amount: 2000, payment_method: 'pm_card_visa' })).provider, visa.name);
  assert.equal(ok(await pay({ amount: 2000, currency: 'usd', payment_method: 'pm_card_visa' })).provider, visa.name);
  expectError(await pay({ amount: 2000, currency: 'jpy', payment_method: 'pm_card_visa' }), 400, { param: 'currency' });

  /* The limits are inclusive; outside them a clear 400 names amount and the limit. */
  assert.equal(ok(await pay({ amount: 1000, payment_method: 'pm_card_visa' })).status, 'succeeded');
  assert.equal(ok(await pay({ amount: 500000, payment_method: 'pm_card_visa' })).status, 'succeeded');
  const small = expectError(await pay({ amount: 999, payment_method: 'pm_card_visa' }), 400, { param: 'amount', code: 'amount_too_small' });
  assert.match(small.message, /9\.99 SDG.*below.*minimum.*10\.00 SDG/);
  const large = expectError(await pay({ amount: 500001, payment_method: 'pm_card_visa' }), 400, { param: 'amount', code: 'amount_too_large' });
  assert.match(large.message, /5000\.01 SDG.*above.*maximum.*5000\.00 SDG/);
  /* Refused before anything was created or charged. */
  assert.ok(!(await listAll(payd, '/v1/payment_intents')).some((pi) => pi.amount === 999 || pi.amount === 500001));

  /* Mastercard only at the north clinic. */
  const atNorth = ok(await pay({ amount: 3000, payment_method: 'pm_card_mastercard', facility: north.id }));
  assert.equal(atNorth.provider, mc.name);
  assert.equal(atNorth.fee_amount, 72);
  expectError(await pay({ amount: 3000, payment_method: 'pm_card_mastercard', facility: south.id }), 400, { param: 'facility' });
  expectError(await pay({ amount: 3000, payment_method: 'pm_card_mastercard' }), 400, { param: 'facility' });
  /* Amex: no provider takes the brand. */
  expectError(await pay({ amount: 3000, payment_method: 'pm_card_amex' }), 400, { param: 'payment_method', message: /amex/ });
  /* A provider for any brand catches the rest. */
  const any = await provider({ name: uniq('any'), priority: 50, fee_bps: 150 });
  const amex = ok(await pay({ amount: 3000, payment_method: 'pm_card_amex' }));
  assert.equal(amex.provider, any.name);
  assert.equal(amex.fee_amount, 45);
  await deactivateAll('card');
});

test('a provider named at create takes the payment; unknown or inactive names are refused', async () => {
  await deactivateAll('card');
  await provider({ name: uniq('first'), priority: 1, fee_bps: 250 });
  const bank = await provider({ name: uniq('bank'), priority: 99, fee_bps: 150 });
  const pi = ok(await pay({ amount: 10000, payment_method: 'pm_card_visa', provider: bank.name }));
  assert.equal(pi.provider, bank.name);
  assert.equal(pi.fee_amount, 150);
  expectError(await pay({ amount: 10000, payment_method: 'pm_card_visa', provider: 'no-such-bank' }), 400, { param: 'provider' });
  const off = await provider({ name: uniq('off'), active: false });
  expectError(await pay({ amount: 10000, payment_method: 'pm_card_visa', provider: off.name }), 400, { param: 'provider' });
  /* Without confirm the name is shown at once; confirming later uses it. */
  const later = ok(await payd.api('POST', '/v1/payment_intents', { form: { amount: 20000, currency: 'sdg', provider: bank.name } }));
  assert.equal(later.provider, bank.name);
  const done = ok(await payd.api('POST', `/v1/payment_intents/${later.id}/confirm`, { form: { payment_method: 'pm_card_visa' } }));
  assert.equal(done.status, 'succeeded');
  assert.equal(done.provider, bank.name);
  assert.equal(done.fee_amount, 300);
  await deactivateAll('card');
});

test('no provider of a type: built-in defaults (sandbox cards, manual tenders), wallets need one', async () => {
  /* Another suite's run may have left card providers; this checks a type with none. */
  const fresh = await startPayd();
  try {
    const pi = ok(await fresh.api('POST', '/v1/payment_intents', { form: { amount: 1234, currency: 'usd', payment_method: 'pm_card_visa', confirm: true } }));
    assert.equal(pi.status, 'succeeded');
    assert.equal(pi.provider, null);
    assert.equal(pi.fee_amount, 0);
    const r = await fresh.api('POST', '/v1/payment_intents', { form: { amount: 1234, currency: 'sdg', payment_method_types: ['mobile_wallet'], confirm: true } });
    expectError(r, 400, { param: 'payment_method_types', message: /No mobile_wallet provider/ });
  } finally {
    await fresh.stop();
  }
});

test('fallback: a provider whose processor cannot be reached hands the payment to the next', async () => {
  await deactivateAll('card');
  const down = await provider({ name: uniq('down'), priority: 1, fee_bps: 100, connector_config: { outage: true } });
  const up = await provider({ name: uniq('up'), priority: 2, fee_bps: 200 });
  const before = ok(await payd.api('GET', '/v1/balance')).available.find((b) => b.currency === 'sdg');
  const pi = ok(await pay({ amount: 50000, payment_method: 'pm_card_visa' }));
  assert.equal(pi.status, 'succeeded');
  assert.equal(pi.provider, up.name);
  assert.equal(pi.fee_amount, 1000);
  const after = ok(await payd.api('GET', '/v1/balance')).available.find((b) => b.currency === 'sdg');
  assert.equal(after.amount - (before ? before.amount : 0), 50000 - 1000, 'charged once, by the second provider');
  /* With no provider left the outage is the answer, and nothing is charged. */
  ok(await payd.api('POST', `/v1/providers/${up.id}`, { form: { active: false } }));
  const r = await pay({ amount: 50000, payment_method: 'pm_card_visa' });
  expectError(r, 503, { message: new RegExp(down.name) });
  const still = ok(await payd.api('GET', '/v1/balance')).available.find((b) => b.currency === 'sdg');
  assert.equal(still.amount, after.amount);
  await deactivateAll('card');
  const v = await auditVerify(payd);
  assert.equal(v.code, 0, v.stdout + v.stderr);
});

test('manual tenders route to their provider: the intent waits for verification with the fee shown', async () => {
  await deactivateAll('bank_transfer');
  const bt = await provider({ name: uniq('transfer'), type: 'bank_transfer', connector: 'manual', fee_bps: 100 });
  const pi = ok(await pay({ amount: 250000, payment_method_types: ['bank_transfer'] }));
  assert.equal(pi.status, 'requires_verification');
  assert.equal(pi.provider, bt.name);
  assert.equal(pi.fee_amount, 2500);
  /* Named at create, the provider's type becomes the payment method type. */
  const named = ok(await pay({ amount: 1000, provider: bt.name }));
  assert.deepEqual(named.payment_method_types, ['bank_transfer']);
  assert.equal(named.status, 'requires_verification');
  assert.equal(named.provider, bt.name);
  await deactivateAll('bank_transfer');
});

test('a provider with supports_refunds=false: its payments cannot be refunded through payd', async () => {
  await deactivateAll('card');
  const noRefunds = await provider({ name: uniq('norefund'), supports_refunds: false, fee_bps: 100 });
  const pi = ok(await pay({ amount: 10000, payment_method: 'pm_card_visa' }));
  assert.equal(pi.provider, noRefunds.name);
  expectError(await payd.api('POST', '/v1/refunds', { form: { payment_intent: pi.id } }), 400, { param: 'payment_intent', message: /does not support refunds/ });
  /* Switched on, the same payment refunds. */
  ok(await payd.api('POST', `/v1/providers/${noRefunds.id}`, { form: { supports_refunds: true } }));
  const re = ok(await payd.api('POST', '/v1/refunds', { form: { payment_intent: pi.id } }));
  assert.equal(re.amount, 10000);
  await deactivateAll('card');
});

test('changing the amount after a declined attempt drops the old route; the next attempt prices the new amount', async () => {
  await deactivateAll('card');
  const p = await provider({ name: uniq('reprice'), fee_bps: 200 });
  const declined = await pay({ amount: 10000, payment_method: 'pm_card_chargeDeclined' });
  assert.equal(declined.status, 402, declined.text);
  const id = declined.body.error.payment_intent ? declined.body.error.payment_intent.id : null;
  const pi = id ? ok(await payd.api('GET', `/v1/payment_intents/${id}`))
    : (await listAll(payd, '/v1/payment_intents')).find((x) => x.amount === 10000 && x.provider === p.name);
  assert.ok(pi, declined.text);
  assert.equal(pi.status, 'requires_payment_method');
  assert.equal(pi.provider, p.name);
  assert.equal(pi.fee_amount, 200);
  const upd = ok(await payd.api('POST', `/v1/payment_intents/${pi.id}`, { form: { amount: 20000 } }));
  assert.equal(upd.provider, null);
  assert.equal(upd.fee_amount, 0);
  const done = ok(await payd.api('POST', `/v1/payment_intents/${pi.id}/confirm`, { form: { payment_method: 'pm_card_visa' } }));
  assert.equal(done.status, 'succeeded');
  assert.equal(done.provider, p.name);
  assert.equal(done.fee_amount, 400);
  await deactivateAll('card');
});
