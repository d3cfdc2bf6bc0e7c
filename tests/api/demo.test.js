'use strict';
/*
 * demo.test.js - `payd demo --db URL` (issue 6): it loads the NileCare demo
 * network (facilities, the providers of every tender with the seed's fees
 * in SDG, an admin key it prints once), running it again creates nothing,
 * and payments on the loaded database route to the seed's providers with
 * their fees: cards, manual tenders, and a wallet through `payd sim momo`
 * (the README's demo, end to end).
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startPayd, runPayd, PAYD } = require('./lib/payd');
const { ok, listAll } = require('./lib/intents');

const MOMO_URL = 'http://127.0.0.1:18090';

/* The seed (issue 6): name -> [type, connector, fee_bps]. */
const SEED = {
  visa: ['card', 'sandbox', 250],
  mastercard: ['card', 'sandbox', 250],
  bank_of_khartoum: ['card', 'sandbox', 150],
  omdurman_national_bank: ['card', 'sandbox', 150],
  faisal_islamic_bank: ['card', 'sandbox', 150],
  zain_cash: ['mobile_wallet', 'mobile_money', 100],
  mtn_momo: ['mobile_wallet', 'mobile_money', 100],
  sudani_cash: ['mobile_wallet', 'mobile_money', 100],
  bankak: ['mobile_wallet', 'mobile_money', 150],
  cash: ['cash', 'manual', 0],
  cheque: ['cheque', 'manual', 0],
  bank_transfer: ['bank_transfer', 'manual', 100],
  bank_draft: ['bank_draft', 'manual', 50],
};

let payd;

test.before(async () => {
  payd = await startPayd();
});

test.after(async () => {
  if (payd) await payd.stop();
});

function demo() {
  return payd.cli(['demo', '--db', payd.dbUrl, '--momo-url', MOMO_URL]);
}

test('payd demo before payd ever served: it makes the server key file and never stores credentials in clear', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'payd-demo-'));
  try {
    const file = path.join(dir, 'demo.db');
    const r = await runPayd(['demo', '--db', `sqlite:${file}`, '--momo-url', MOMO_URL]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Wallet credentials: sealed under payd serve's server key/);
    const key = fs.readFileSync(path.join(dir, 'fingerprint.key'), 'utf8').trim();
    assert.match(key, /^[0-9a-f]{64}$/, 'the key file payd serve reads next');
    const dump = [file, `${file}-wal`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f).toString('latin1')).join('');
    assert.ok(dump.includes('zain_cash'), 'read the database');
    assert.ok(!dump.includes('payd-sandbox-key'), 'the credentials are not stored in clear');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('payd demo loads the NileCare network once; a second run creates nothing', async () => {
  const first = await demo();
  assert.equal(first.code, 0, first.stdout + first.stderr);
  assert.match(first.stdout, /17 created, 0 already there/);
  const secret = (first.stdout.match(/\bsk_test_[0-9A-Za-z]+/) || [])[0];
  assert.ok(secret, `an admin key is printed:\n${first.stdout}`);
  for (const name of Object.keys(SEED)) assert.match(first.stdout, new RegExp(`provider ${name} `));
  /* payd serve ran first, so its server key exists and seals the wallet credentials. */
  assert.match(first.stdout, /Wallet credentials: sealed under payd serve's server key/);
  if (payd.kind === 'sqlite') {
    const file = payd.dbUrl.replace(/^sqlite:/, '');
    const dump = [file, `${file}-wal`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f).toString('latin1')).join('');
    assert.ok(dump.includes('zain_cash'), 'read the database');
    assert.ok(!dump.includes('payd-sandbox-key'), 'the credentials are not stored in clear');
  }

  /* The printed key is an admin key of this database. */
  const providers = await listAll(payd, '/v1/providers', { key: secret });
  assert.deepEqual(providers.map((p) => p.name).sort(), Object.keys(SEED).sort());
  for (const p of providers) {
    const [type, connector, bps] = SEED[p.name];
    assert.equal(p.type, type, p.name);
    assert.equal(p.connector, connector, p.name);
    assert.equal(p.fee_bps, bps, p.name);
    assert.equal(p.fee_fixed, 0, p.name);
    assert.deepEqual(p.currencies, ['sdg'], p.name);
    assert.equal(p.active, true, p.name);
    assert.equal(p.requires_manual_verification, connector === 'manual', p.name);
    if (connector === 'mobile_money') {
      assert.equal(p.connector_config.base_url, MOMO_URL, p.name);
      assert.equal(p.connector_config.wallet, p.name, p.name);
      assert.equal(p.credentials_set, true, p.name);
    }
  }
  assert.deepEqual(providers.find((p) => p.name === 'visa').card_brands, ['visa']);
  const facilities = await listAll(payd, '/v1/facilities');
  assert.equal(facilities.length, 4);
  assert.ok(facilities.every((f) => f.timezone === 'Africa/Khartoum' && /^nilecare-/.test(f.name)));

  const second = await demo();
  assert.equal(second.code, 0, second.stdout + second.stderr);
  assert.match(second.stdout, /0 created, 17 already there/);
  assert.doesNotMatch(second.stdout, /sk_test_/, 'no second key');
  assert.deepEqual((await listAll(payd, '/v1/providers')).map((p) => p.id).sort(), providers.map((p) => p.id).sort());
  assert.equal((await listAll(payd, '/v1/facilities')).length, 4);
  const keys = ok(await payd.api('GET', '/v1/keys')).data.filter((k) => k.name === 'demo-admin');
  assert.equal(keys.length, 1);
});

test('payments on the demo database route to the seed\'s providers with its fees', async () => {
  const fac = (await listAll(payd, '/v1/facilities')).find((f) => f.name === 'nilecare-khartoum');
  const pay = (form) => payd.api('POST', '/v1/payment_intents', {
    form: { amount: 100000, currency: 'sdg', confirm: true, facility: fac.id, ...form },
  });
  const cases = [
    [{ payment_method: 'pm_card_visa' }, 'visa', 2500, 'succeeded'],
    [{ payment_method: 'pm_card_mastercard' }, 'mastercard', 2500, 'succeeded'],
    [{ payment_method: 'pm_card_amex' }, 'bank_of_khartoum', 1500, 'succeeded'],
    [{ payment_method: 'pm_card_visa', provider: 'faisal_islamic_bank' }, 'faisal_islamic_bank', 1500, 'succeeded'],
    [{ payment_method: 'pm_card_visa', provider: 'omdurman_national_bank' }, 'omdurman_national_bank', 1500, 'succeeded'],
    [{ payment_method_types: ['cash'] }, 'cash', 0, 'requires_verification'],
    [{ payment_method_types: ['cheque'] }, 'cheque', 0, 'requires_verification'],
    [{ payment_method_types: ['bank_transfer'] }, 'bank_transfer', 1000, 'requires_verification'],
    [{ payment_method_types: ['bank_draft'] }, 'bank_draft', 500, 'requires_verification'],
  ];
  for (const [form, provider, fee, status] of cases) {
    const pi = ok(await pay(form), JSON.stringify(form));
    assert.equal(pi.provider, provider, JSON.stringify(form));
    assert.equal(pi.fee_amount, fee, JSON.stringify(form));
    assert.equal(pi.status, status, JSON.stringify(form));
  }
  /* The seed is in SDG: a dollar card payment finds no provider. */
  const usd = await pay({ currency: 'usd', payment_method: 'pm_card_visa' });
  assert.equal(usd.status, 400);
  assert.equal(usd.body.error.param, 'currency');
});

test('payd demo refuses a bad --momo-url', async () => {
  const r = await payd.cli(['demo', '--db', payd.dbUrl, '--momo-url', 'ftp://example']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /momo-url/);
});

/* `payd sim momo` on a free loopback port: resolves {url, proc}. */
function startSim() {
  return new Promise((resolve, reject) => {
    const proc = spawn(PAYD, ['sim', 'momo', '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => reject(new Error(`sim did not start:\n${out}`)), 15000);
    const onData = (chunk) => {
      out += chunk.toString('utf8');
      const m = out.match(/payd sim momo listening on (http:\/\/\S+)\n/);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], proc });
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => reject(new Error(`sim exited ${code}:\n${out}`)));
  });
}

test('the demo with payd sim momo: a wallet payment shows its QR code and succeeds with the wallet\'s fee', async () => {
  const sim = await startSim();
  const p = await startPayd({ args: ['--momo-poll-interval-ms', '300'] });
  try {
    const d = await p.cli(['demo', '--db', p.dbUrl, '--momo-url', sim.url]);
    assert.equal(d.code, 0, d.stdout + d.stderr);
    const before = ok(await p.api('GET', '/v1/balance')).available.find((b) => b.currency === 'sdg');
    /* MTN Mobile Money, 1 %; 46733123453 is the sandbox payer who approves after a while. */
    const pi = ok(await p.api('POST', '/v1/payment_intents', {
      form: {
        amount: 150000, currency: 'sdg', confirm: true, provider: 'mtn_momo',
        payment_method_data: { type: 'mobile_wallet', mobile_wallet: { phone: '46733123453' } },
      },
    }));
    assert.equal(pi.provider, 'mtn_momo');
    assert.equal(pi.fee_amount, 1500);
    assert.equal(pi.status, 'requires_action', JSON.stringify(pi));
    const m = pi.next_action.mobile_money_request;
    assert.equal(m.provider, 'mtn_momo');
    assert.match(m.qr_code.svg, /^<svg /);
    let done = null;
    for (let i = 0; i < 300 && !done; i++) {
      const cur = ok(await p.api('GET', `/v1/payment_intents/${pi.id}`));
      if (cur.status !== 'requires_action') done = cur;
      else await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(done, 'the wallet payment settled');
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    assert.equal(done.fee_amount, 1500);
    const bt = ok(await p.api('GET', `/v1/balance_transactions?source=${pi.id}&type=charge`)).data[0];
    assert.equal(bt.fee, 1500);
    assert.equal(bt.net, 148500);
    const after = ok(await p.api('GET', '/v1/balance')).available.find((b) => b.currency === 'sdg');
    assert.equal(after.amount - (before ? before.amount : 0), 148500);
  } finally {
    await p.stop();
    sim.proc.kill('SIGTERM');
  }
});
