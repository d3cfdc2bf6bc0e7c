'use strict';
/*
 * customers.test.js - /v1/customers over HTTP: Stripe's Customer shape
 * plus external_id and facility, create/retrieve/update/delete, metadata
 * merge and unset, the email and external_id filters, cursor pagination
 * over more than 100 customers in both directions, 404 after deletion,
 * unknown parameters, events, and who may do what (a patient's token sees
 * only its own customer; any other id answers 404).
 */
const test = require('node:test');
const assert = require('node:assert');
const { startPayd } = require('./lib/payd');

let payd;

test.before(async () => {
  payd = await startPayd();
});

test.after(async () => {
  if (payd) await payd.stop();
});

function assertError(r, status, code, param) {
  assert.equal(r.status, status, r.text);
  assert.ok(r.body && r.body.error, r.text);
  if (code) assert.equal(r.body.error.code, code, r.text);
  if (param !== undefined) assert.equal(r.body.error.param, param, r.text);
}

async function createCustomer(form = {}, o = {}) {
  const r = await payd.api('POST', '/v1/customers', { form, ...o });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

async function listAll(query, limit) {
  /* Walk a list forward to its end; returns the ids in order. */
  const ids = [];
  let after = null;
  for (let page = 0; page < 100; page++) {
    const q = `${query}&limit=${limit}${after ? `&starting_after=${after}` : ''}`;
    const r = await payd.api('GET', `/v1/customers?${q}`);
    assert.equal(r.status, 200, r.text);
    ids.push(...r.body.data.map((c) => c.id));
    if (!r.body.has_more) return ids;
    after = r.body.data[r.body.data.length - 1].id;
  }
  throw new Error('list never ended');
}

test('create returns Stripe\'s customer shape with external_id and facility', async () => {
  const c = await createCustomer({
    email: 'amna@example.com', name: 'Amna Osman', phone: '+249912345678',
    description: 'Outpatient', external_id: 'patient-1001', facility: 'fac_khartoum_north',
    metadata: { mrn: '88-1001', ward: '3' },
    address: { line1: '12 Nile St', city: 'Khartoum', country: 'SD' },
  });
  assert.match(c.id, /^cus_[0-9A-Za-z]{24}$/);
  assert.equal(c.object, 'customer');
  assert.equal(c.email, 'amna@example.com');
  assert.equal(c.name, 'Amna Osman');
  assert.equal(c.phone, '+249912345678');
  assert.equal(c.description, 'Outpatient');
  assert.equal(c.external_id, 'patient-1001');
  assert.equal(c.facility, 'fac_khartoum_north');
  assert.deepEqual(c.metadata, { mrn: '88-1001', ward: '3' });
  assert.deepEqual(c.address, {
    city: 'Khartoum', country: 'SD', line1: '12 Nile St', line2: null, postal_code: null, state: null,
  });
  assert.equal(c.balance, 0);
  assert.equal(c.currency, null);
  assert.equal(c.default_source, null);
  assert.equal(c.delinquent, false);
  assert.equal(c.discount, null);
  assert.match(c.invoice_prefix, /^[0-9A-Z]{8}$/);
  assert.deepEqual(c.invoice_settings, {
    custom_fields: null, default_payment_method: null, footer: null, rendering_options: null,
  });
  assert.equal(c.livemode, false);
  assert.deepEqual(c.preferred_locales, []);
  assert.equal(c.shipping, null);
  assert.equal(c.tax_exempt, 'none');
  assert.equal(c.test_clock, null);
  assert.ok(Math.abs(c.created - Date.now() / 1000) < 600, `created ${c.created}`);

  const g = await payd.api('GET', `/v1/customers/${c.id}`);
  assert.equal(g.status, 200, g.text);
  assert.deepEqual(g.body, c);
});

test('an empty create gives a customer with null fields; JSON bodies work too', async () => {
  const empty = await createCustomer();
  assert.equal(empty.email, null);
  assert.equal(empty.name, null);
  assert.equal(empty.address, null);
  assert.deepEqual(empty.metadata, {});

  const j = await payd.api('POST', '/v1/customers', {
    body: { email: 'json@example.com', metadata: { a: '1' }, address: { city: 'Omdurman' } },
  });
  assert.equal(j.status, 200, j.text);
  assert.equal(j.body.email, 'json@example.com');
  assert.deepEqual(j.body.metadata, { a: '1' });
  assert.equal(j.body.address.city, 'Omdurman');
});

test('update replaces fields, merges metadata, and "" unsets', async () => {
  const c = await createCustomer({
    email: 'old@example.com', name: 'Old', metadata: { keep: 'k', drop: 'd', change: '1' },
    address: { line1: 'L1', city: 'C' },
  });
  let r = await payd.api('POST', `/v1/customers/${c.id}`, {
    form: { name: 'New', email: 'new@example.com', metadata: { drop: '', change: '2', added: 'a' } },
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.name, 'New');
  assert.equal(r.body.email, 'new@example.com');
  assert.deepEqual(r.body.metadata, { keep: 'k', change: '2', added: 'a' });
  assert.equal(r.body.address.line1, 'L1', 'fields not sent stay');

  r = await payd.api('POST', `/v1/customers/${c.id}`, { form: { address: { city: 'Wad Madani' } } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.address, {
    city: 'Wad Madani', country: null, line1: null, line2: null, postal_code: null, state: null,
  }, 'an address replaces the old one whole');

  r = await payd.api('POST', `/v1/customers/${c.id}`, { form: 'name=&address=&metadata=' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.name, null);
  assert.equal(r.body.address, null);
  assert.deepEqual(r.body.metadata, {}, 'metadata= unsets every key');

  const g = await payd.api('GET', `/v1/customers/${c.id}`);
  assert.deepEqual(g.body, r.body, 'the update was stored');
});

test('metadata limits', async () => {
  const many = {};
  for (let i = 0; i < 50; i++) many[`k${i}`] = 'v';
  const c = await createCustomer({ metadata: many });
  assert.equal(Object.keys(c.metadata).length, 50);
  assertError(await payd.api('POST', `/v1/customers/${c.id}`, { form: { metadata: { one_more: 'x' } } }),
    400, 'parameter_invalid', 'metadata');
  assertError(await payd.api('POST', '/v1/customers', { form: { metadata: { ['k'.repeat(41)]: 'v' } } }),
    400, 'parameter_invalid');
  assertError(await payd.api('POST', '/v1/customers', { form: { metadata: { k: 'v'.repeat(501) } } }),
    400, 'parameter_invalid');
});

test('bad input: 400 naming the parameter, nothing created', async () => {
  const before = (await payd.api('GET', '/v1/customers?limit=100')).body.data.length;
  for (const email of ['no-at-sign', '@example.com', 'someone@', 'a b@example.com', 'a@b@c']) {
    assertError(await payd.api('POST', '/v1/customers', { form: { email } }), 400, 'parameter_invalid', 'email');
  }
  assertError(await payd.api('POST', '/v1/customers', { form: { email: `${'a'.repeat(510)}@x.y` } }),
    400, 'parameter_invalid', 'email');
  assertError(await payd.api('POST', '/v1/customers', { form: { name: 'n'.repeat(257) } }),
    400, 'parameter_invalid', 'name');
  assertError(await payd.api('POST', '/v1/customers', { form: { nickname: 'x' } }),
    400, 'parameter_unknown', 'nickname');
  assertError(await payd.api('POST', '/v1/customers', { form: { balance: '100' } }),
    400, 'parameter_unknown', 'balance');
  assertError(await payd.api('POST', '/v1/customers', { form: { address: { planet: 'Mars' } } }),
    400, 'parameter_unknown', 'address[planet]');
  assertError(await payd.api('POST', '/v1/customers', { form: { invoice_settings: { footer: 'x' } } }),
    400, 'parameter_unknown', 'invoice_settings[footer]');
  assertError(await payd.api('POST', '/v1/customers', { body: { email: 42 } }), 400, 'parameter_invalid', 'email');
  const c = await createCustomer();
  assertError(await payd.api('POST', `/v1/customers/${c.id}`, { form: { id: 'cus_x' } }),
    400, 'parameter_unknown', 'id');
  assertError(await payd.api('POST', `/v1/customers/${c.id}`, { form: { email: 'bad' } }),
    400, 'parameter_invalid', 'email');
  assertError(await payd.api('GET', '/v1/customers?colour=red'), 400, 'parameter_unknown', 'colour');
  assertError(await payd.api('GET', '/v1/customers?limit=0'), 400, undefined, 'limit');
  assertError(await payd.api('GET', '/v1/customers?limit=101'), 400, undefined, 'limit');
  const after = (await payd.api('GET', '/v1/customers?limit=100')).body.data.length;
  assert.equal(after, before + 1, 'only the one valid create made a customer');
});

test('unknown ids answer 404', async () => {
  for (const id of ['cus_000000000000000000000000', 'cus_nope', 'pi_000000000000000000000000']) {
    assertError(await payd.api('GET', `/v1/customers/${id}`), 404, 'resource_missing', 'id');
    assertError(await payd.api('POST', `/v1/customers/${id}`, { form: { name: 'x' } }), 404, 'resource_missing', 'id');
    assertError(await payd.api('DELETE', `/v1/customers/${id}`), 404, 'resource_missing', 'id');
  }
});

test('delete: the deleted answer, then 404 everywhere, left out of lists, events', async () => {
  const c = await createCustomer({ email: 'gone@example.com', external_id: 'gone-1' });
  const d = await payd.api('DELETE', `/v1/customers/${c.id}`);
  assert.equal(d.status, 200, d.text);
  assert.deepEqual(d.body, { id: c.id, object: 'customer', deleted: true });

  assertError(await payd.api('GET', `/v1/customers/${c.id}`), 404, 'resource_missing', 'id');
  assertError(await payd.api('POST', `/v1/customers/${c.id}`, { form: { name: 'back' } }), 404, 'resource_missing');
  assertError(await payd.api('DELETE', `/v1/customers/${c.id}`), 404, 'resource_missing');
  const l = await payd.api('GET', '/v1/customers?email=gone@example.com');
  assert.equal(l.status, 200, l.text);
  assert.deepEqual(l.body.data, []);
  const l2 = await payd.api('GET', '/v1/customers?limit=100');
  assert.ok(!l2.body.data.some((x) => x.id === c.id));

  const ev = await payd.api('GET', '/v1/events?type=customer.*&limit=100');
  assert.equal(ev.status, 200, ev.text);
  const mine = ev.body.data.filter((e) => e.data.object.id === c.id).map((e) => e.type);
  assert.deepEqual(mine, ['customer.deleted', 'customer.created']);
});

test('events: created and updated carry the object; a no-op update appends nothing', async () => {
  const c = await createCustomer({ name: 'Evented' });
  await payd.api('POST', `/v1/customers/${c.id}`, { form: { name: 'Evented 2' } });
  await payd.api('POST', `/v1/customers/${c.id}`, { form: { name: 'Evented 2' } });
  const ev = await payd.api('GET', '/v1/events?type=customer.*&limit=100');
  const mine = ev.body.data.filter((e) => e.data.object.id === c.id);
  assert.deepEqual(mine.map((e) => e.type), ['customer.updated', 'customer.created']);
  assert.equal(mine[0].data.object.name, 'Evented 2');
  assert.equal(mine[1].data.object.name, 'Evented');
  assert.match(mine[0].id, /^evt_/);
});

test('filters: email (exact) and external_id', async () => {
  const a = await createCustomer({ email: 'filter-a@example.com', external_id: 'ext-a' });
  const b1 = await createCustomer({ email: 'filter-b@example.com', external_id: 'ext-b' });
  const b2 = await createCustomer({ email: 'filter-b@example.com' });
  let r = await payd.api('GET', '/v1/customers?email=filter-b@example.com');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.object, 'list');
  assert.equal(r.body.url, '/v1/customers');
  assert.equal(r.body.has_more, false);
  assert.deepEqual(r.body.data.map((c) => c.id), [b2.id, b1.id], 'newest first');
  r = await payd.api('GET', `/v1/customers?email=${encodeURIComponent('FILTER-A@example.com')}`);
  assert.deepEqual(r.body.data, [], 'email is matched exactly, as Stripe does');
  r = await payd.api('GET', '/v1/customers?email=filter-a@example.com');
  assert.deepEqual(r.body.data.map((c) => c.id), [a.id]);
  r = await payd.api('GET', '/v1/customers?external_id=ext-b');
  assert.deepEqual(r.body.data.map((c) => c.id), [b1.id]);
  r = await payd.api('GET', '/v1/customers?external_id=ext-b&email=filter-a@example.com');
  assert.deepEqual(r.body.data, []);
  r = await payd.api('GET', '/v1/customers?email=filter-b@example.com&limit=1');
  assert.deepEqual(r.body.data.map((c) => c.id), [b2.id]);
  assert.equal(r.body.has_more, true);
});

test('pagination over 105 customers, forward and backward', async () => {
  const made = [];
  for (let i = 0; i < 105; i++) {
    made.push((await createCustomer({ external_id: 'page-batch', name: `P${i}` })).id);
  }
  const newestFirst = made.slice().reverse();

  let r = await payd.api('GET', '/v1/customers?external_id=page-batch&limit=100');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.data.length, 100);
  assert.equal(r.body.has_more, true);
  assert.deepEqual(r.body.data.map((c) => c.id), newestFirst.slice(0, 100));
  const last = r.body.data[99].id;

  r = await payd.api('GET', `/v1/customers?external_id=page-batch&limit=100&starting_after=${last}`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.data.map((c) => c.id), newestFirst.slice(100));
  assert.equal(r.body.has_more, false);
  const first = r.body.data[0].id;

  /* Back from the second page: the 100 before it, newest first. */
  r = await payd.api('GET', `/v1/customers?external_id=page-batch&limit=100&ending_before=${first}`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.data.map((c) => c.id), newestFirst.slice(0, 100));
  assert.equal(r.body.has_more, false);

  r = await payd.api('GET', `/v1/customers?external_id=page-batch&limit=10&ending_before=${first}`);
  assert.deepEqual(r.body.data.map((c) => c.id), newestFirst.slice(90, 100));
  assert.equal(r.body.has_more, true);

  /* Walking with small pages sees every customer once, in order. */
  assert.deepEqual(await listAll('external_id=page-batch', 7), newestFirst);

  /* Default limit is 10. */
  r = await payd.api('GET', '/v1/customers?external_id=page-batch');
  assert.equal(r.body.data.length, 10);
  assert.equal(r.body.has_more, true);

  /* Deleting from the middle leaves a hole, not a duplicate. */
  await payd.api('DELETE', `/v1/customers/${newestFirst[50]}`);
  const expected = newestFirst.filter((_, i) => i !== 50);
  assert.deepEqual(await listAll('external_id=page-batch', 25), expected);

  assertError(await payd.api('GET', '/v1/customers?starting_after=cus_000000000000000000000000'),
    400, undefined, 'starting_after');
  assertError(await payd.api('GET', `/v1/customers?starting_after=${first}&ending_before=${first}`),
    400, undefined, 'ending_before');
});

test('roles: auditors read, only admin and staff write', async () => {
  const staff = await payd.createKey('staff');
  const auditor = await payd.createKey('auditor');
  const c = await createCustomer({ name: 'By staff' }, { key: staff });
  assert.equal(c.name, 'By staff');
  const r = await payd.api('GET', `/v1/customers/${c.id}`, { key: auditor });
  assert.equal(r.status, 200, r.text);
  assert.equal((await payd.api('GET', '/v1/customers', { key: auditor })).status, 200);
  assertError(await payd.api('POST', '/v1/customers', { key: auditor, form: {} }), 403, 'permission_denied');
  assertError(await payd.api('POST', `/v1/customers/${c.id}`, { key: auditor, form: { name: 'x' } }), 403);
  assertError(await payd.api('DELETE', `/v1/customers/${c.id}`, { key: auditor }), 403);
  assertError(await payd.api('GET', `/v1/customers/${c.id}`, { key: null }), 401);
});

test('a patient\'s token sees and updates only its own customer', async () => {
  const mine = await createCustomer({ name: 'Me', external_id: 'patient-me', facility: 'fac_a' });
  const other = await createCustomer({ name: 'Someone else' });
  const token = await payd.mintToken({ sub: 'patient-me', role: 'patient', customer: mine.id });

  let r = await payd.api('GET', `/v1/customers/${mine.id}`, { token });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.name, 'Me');
  assertError(await payd.api('GET', `/v1/customers/${other.id}`, { token }), 404, 'resource_missing', 'id');
  assertError(await payd.api('GET', '/v1/customers/cus_000000000000000000000000', { token }), 404);

  r = await payd.api('POST', `/v1/customers/${mine.id}`, { token, form: { phone: '+249911111111', metadata: { pref: 'sms' } } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.phone, '+249911111111');
  assertError(await payd.api('POST', `/v1/customers/${other.id}`, { token, form: { name: 'Hijack' } }), 404);
  assert.equal((await payd.api('GET', `/v1/customers/${other.id}`)).body.name, 'Someone else');
  assertError(await payd.api('POST', `/v1/customers/${mine.id}`, { token, form: { external_id: 'x' } }),
    403, 'permission_denied', 'external_id');
  assertError(await payd.api('POST', `/v1/customers/${mine.id}`, { token, form: { facility: 'fac_b' } }),
    403, 'permission_denied', 'facility');

  assertError(await payd.api('GET', '/v1/customers', { token }), 403);
  assertError(await payd.api('POST', '/v1/customers', { token, form: {} }), 403);
  assertError(await payd.api('DELETE', `/v1/customers/${mine.id}`, { token }), 403);
  assertError(await payd.api('DELETE', `/v1/customers/${other.id}`, { token }), 403);
  assert.equal((await payd.api('GET', `/v1/customers/${mine.id}`)).status, 200, 'still there');

  r = await payd.api('GET', `/v1/customers/${mine.id}/payment_methods`, { token });
  assert.equal(r.status, 200, r.text);
  assertError(await payd.api('GET', `/v1/customers/${other.id}/payment_methods`, { token }), 404);

  /* Its events are only its own. */
  r = await payd.api('GET', '/v1/events?limit=100', { token });
  assert.equal(r.status, 200, r.text);
  assert.ok(r.body.data.length >= 1);
  for (const e of r.body.data) {
    const o = e.data.object;
    assert.ok(o.id === mine.id || o.customer === mine.id, `foreign event ${e.type} ${o.id}`);
  }
});
