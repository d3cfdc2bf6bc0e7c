'use strict';
/*
 * secrets.test.js - runs last in scripts/test-all (suite secrets-scan):
 * greps every payd log and database file the run left behind for what must
 * never be written down: card numbers (every Luhn-valid 13-19 digit number
 * the test sources use, plain, spaced and dashed), CVCs sent as card[cvc],
 * API secrets (sk_test_/sk_live_ + the full random part), webhook signing
 * secrets (whsec_...), JWTs, the payers' wallet numbers of the mobile money
 * tests, and (in logs only) the patient data the API tests send.
 *
 * Where: PAYD_SCAN_DIRS, colon-separated directories walked recursively:
 * the PAYD_TEST_KEEP_DIR that tests/api/lib/payd.js kept every payd's temp
 * dir in (payd.log, the SQLite file and its -wal) and the PostgreSQL
 * cluster's data directory (table files and WAL, where even rows of dropped
 * databases linger). Without PAYD_SCAN_DIRS the test is skipped.
 */
const test = require('node:test');
const { execFileSync } = require('node:child_process');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const PAYD_BIN = process.env.PAYD_BIN || path.join(ROOT, 'build', 'payd');
const FILE_BYTES_MAX = 256 * 1024 * 1024;

function luhn(digits) {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/* Every card number the tests send: Luhn-valid 13..19 digits in their sources. */
function testCardNumbers() {
  const found = new Set();
  const walk = (dir) => {
    if (!fs.existsSync(dir)) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules') walk(p);
      } else if (/\.(js|c)$/.test(e.name)) {
        for (const m of fs.readFileSync(p, 'utf8').matchAll(/\b\d{13,19}\b/g)) {
          /* Long runs of zeros are amounts or timestamps, not cards. */
          if (luhn(m[0]) && !/^10+$/.test(m[0]) && /^[3-6]/.test(m[0])) found.add(m[0]);
        }
      }
    }
  };
  walk(path.join(ROOT, 'tests', 'api'));
  walk(path.join(ROOT, 'tests', 'compat'));
  walk(path.join(ROOT, 'src', 'connectors'));
  return [...found];
}

/* The byte patterns to look for: {name, re} over latin1 text of each file. */
function patterns(cards) {
  const out = [];
  for (const c of cards) {
    const groups = c.match(/.{1,4}/g);
    out.push({ name: `card ${c.slice(0, 6)}...${c.slice(-4)}`, re: new RegExp(`${c}|${groups.join(' ')}|${groups.join('-')}`) });
  }
  out.push({ name: 'CVC parameter', re: /card\[cvc\]=\d{3,4}|card%5Bcvc%5D=\d{3,4}|"cvc"\s*:\s*"?\d{3,4}/ });
  out.push({ name: 'API secret', re: /sk_(test|live)_[0-9A-Za-z]{20,}/ });
  /* Raw bytes: in logs only. payd must keep the signing secret of each
   * webhook endpoint to sign with it; the SQLite check below allows it in
   * that table alone and finds it anywhere else. */
  out.push({ name: 'webhook secret', re: /whsec_[0-9A-Za-z+/=]{16,}/, logsOnly: true });
  /* Wallet provider credentials the tests configure (payd sim momo's
   * sandbox values, tests/api/mobile_money.test.js, providers.test.js):
   * sealed in the database, never logged, never in audit summaries. */
  out.push({ name: 'provider credential', re: /payd-sandbox-(key|subscription)|momo-api-key-[0-9a-z]{6,}/ });
  /* Payers' wallet numbers (the MTN sandbox numbers payd sim momo knows
   * and the ones tests/api/mobile_money.test.js pays from): sealed in the
   * payment method's token and the request's config, logged as ****1234.
   * 249912345678 is also a customer's phone (PHI, stored): logs only, above;
   * 46733616161 is written in clear on purpose (an older payd's row). */
  out.push({ name: 'wallet number', re: /4673312345\d|46733(999999|888888|777777|555555|626262)|249911112222/ });
  out.push({ name: 'JWT', re: /eyJ[0-9A-Za-z_-]{8,}\.eyJ[0-9A-Za-z_-]{8,}\.[0-9A-Za-z_-]{16,}/ });
  /* Patient data tests/api/audit.test.js sends: stored (in the database), never logged. */
  out.push({ name: 'patient data', re: /Secretname|amira\.secret@|249912345678|MRN-77/, logsOnly: true });
  return out;
}

function* files(dir) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (_) {
    return;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* files(p);
    else if (e.isFile()) yield p;
  }
}

/* [{file, what, context}] for every pattern found in the files under @dirs. */
function scan(dirs, pats) {
  const hits = [];
  let scanned = 0;
  let logs = 0;
  let dbs = 0;
  for (const dir of dirs) {
    for (const f of files(dir)) {
      let buf;
      try {
        const st = fs.statSync(f);
        if (st.size > FILE_BYTES_MAX) continue;
        buf = fs.readFileSync(f);
      } catch (_) {
        continue; /* a file of the live cluster vanished */
      }
      scanned++;
      if (f.endsWith('.log')) logs++;
      if (/\.db(-wal)?$/.test(f) || /\/(base|pg_wal)\//.test(f)) dbs++;
      const text = buf.toString('latin1');
      for (const p of pats) {
        if (p.logsOnly && !f.endsWith('.log')) continue;
        const m = p.re.exec(text);
        if (m) {
          hits.push({ file: f, what: p.name, context: text.slice(Math.max(0, m.index - 60), m.index + 80).replace(/[^\x20-\x7e]/g, '.') });
        }
      }
    }
  }
  return { hits, scanned, logs, dbs };
}

/*
 * Row by row in every SQLite database: every text of every table, with every
 * pattern (webhook secrets allowed in WHSEC_TABLES only). Catches what
 * the raw scan cannot tell apart (a webhook secret copied into an event, an
 * idempotent response, an audit row) and what it cannot read: the JSON
 * documents SQLite keeps compressed, which `payd query` prints as text.
 */
/*
 * payd keeps each endpoint's signing secret (sealed) to sign with; the
 * idempotency record of the response that revealed it stores
 * "whsec_redacted" instead. Anywhere else a secret is a leak.
 */
const WHSEC_TABLES = ['webhook_endpoints'];

function scanSqlite(dirs, pats) {
  const hits = [];
  let tables = 0;
  let allowed = 0;
  let documents = 0;
  for (const dir of dirs) {
    for (const f of files(dir)) {
      if (!f.endsWith('.db')) continue;
      let names;
      try {
        names = execFileSync('sqlite3', ['-cmd', '.timeout 10000', '-readonly', f, "SELECT name FROM sqlite_master WHERE type = 'table'"], { encoding: 'utf8' })
          .split('\n').filter(Boolean);
      } catch (_) {
        continue; /* not a SQLite file */
      }
      for (const t of names) {
        /* payd query prints the JSON documents SQLite keeps compressed as
         * their text (src/store/pack.c), where the sqlite3 shell shows a blob. */
        const text = execFileSync(PAYD_BIN, ['query', '--db', `sqlite:${f}`, `SELECT * FROM "${t}"`], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
        tables++;
        /* A payment intent's object, which SQLite keeps compressed, read as text. */
        if (t === 'payment_intents' && text.includes('\\"object\\":\\"payment_intent\\"')) documents++;
        for (const p of pats) {
          if (p.logsOnly && p.name !== 'webhook secret') continue;
          const m = p.re.exec(text);
          if (!m) continue;
          if (p.name === 'webhook secret' && WHSEC_TABLES.includes(t)) {
            allowed++;
            continue;
          }
          hits.push({ file: `${f} table ${t}`, what: p.name, context: text.slice(Math.max(0, m.index - 60), m.index + 80) });
        }
      }
    }
  }
  return { hits, tables, allowed, documents };
}

test('the scanner finds what it looks for (planted in a scratch directory)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'payd-scan-self-'));
  try {
    const planted = ['4242 4242 4242 4242', 'card[cvc]=314', 'sk_test_' + 'A'.repeat(32), 'whsec_' + 'b'.repeat(32), '"name":"Amira Secretname"',
      '"partyId":"46733123453"'];
    planted.forEach((s, i) => fs.writeFileSync(path.join(dir, `f${i}.log`), `x ${s} y`));
    fs.writeFileSync(path.join(dir, 'clean.log'), 'card ************4242 key sk_test_... payer ****3453 ok');
    const r = scan([dir], patterns(testCardNumbers()));
    assert.equal(r.scanned, 7);
    assert.deepEqual(r.hits.map((h) => path.basename(h.file)).sort(), ['f0.log', 'f1.log', 'f2.log', 'f3.log', 'f4.log', 'f5.log']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

const dirs = (process.env.PAYD_SCAN_DIRS || '').split(':').filter(Boolean);

test('no card number, CVC, API secret, webhook secret, JWT or wallet number in any payd log or database file of the run',
  { skip: dirs.length === 0 ? 'PAYD_SCAN_DIRS is not set (scripts/test-all sets it)' : false }, () => {
    const cards = testCardNumbers();
    assert.ok(cards.includes('4242424242424242'), 'the test card list is empty');
    const r = scan(dirs, patterns(cards));
    assert.ok(r.logs > 0, `no payd log found under ${dirs.join(', ')}`);
    assert.ok(r.dbs > 0, `no database file found under ${dirs.join(', ')}`);
    const q = scanSqlite(dirs, patterns(cards));
    assert.ok(q.tables > 0, 'no SQLite table read');
    assert.ok(q.documents > 0, 'no stored payment intent read as text');
    process.stdout.write(`# scanned ${r.scanned} files (${r.logs} logs, ${r.dbs} database files) and ${q.tables} SQLite tables `
      + `for ${cards.length} card numbers and secrets; webhook signing secrets kept in ${WHSEC_TABLES.join('/')}: ${q.allowed} tables\n`);
    const hits = [...r.hits, ...q.hits];
    assert.deepEqual(hits, [], `secrets found:\n${hits.map((h) => `${h.file}: ${h.what}: ...${h.context}...`).join('\n')}`);
  });
