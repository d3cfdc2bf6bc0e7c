'use strict';
/*
 * payd.js - starts a real payd for API tests and talks to it over HTTP.
 *
 *   const { startPayd } = require('./lib/payd');
 *   const payd = await startPayd();          // fresh database, free port
 *   const r = await payd.api('GET', '/v1/keys');   // as the admin key
 *   assert.equal(r.status, 200);
 *   await payd.stop();
 *
 * Each startPayd() gets its own database: a SQLite file in a new temp dir, or
 * (PAYD_TEST_DB=postgres) a new database created with psql in the cluster at
 * PAYD_TEST_PG_URL. payd runs as `$BUILD/payd serve --listen 127.0.0.1:0`
 * (PAYD_BIN overrides the binary) with PAYD_JWT_SECRET=TEST_JWT_SECRET; its
 * stdout and stderr go to a log file that is printed when the test file
 * fails. Only Node's built-ins are used.
 */
const assert = require('node:assert');
const { spawn, execFile } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const BUILD = process.env.BUILD || 'build';
const PAYD = process.env.PAYD_BIN || path.resolve(ROOT, BUILD, 'payd');
const TEST_JWT_SECRET = 'payd-test-jwt-secret-0123456789abcdef';
/* Sanitizer builds start and answer slowly; everything waits this long at most. */
const START_TIMEOUT_MS = Number(process.env.PAYD_TEST_START_TIMEOUT_MS || 30000);
const STOP_TIMEOUT_MS = 15000;

const running = new Set();
const everStarted = [];
let dbCounter = 0;

/* Run a payd CLI command; resolves {code, stdout, stderr}, never rejects on exit status. */
function runPayd(args, opts = {}) {
  return new Promise((resolve, reject) => {
    execFile(PAYD, args, {
      env: { ...process.env, ...(opts.env || {}) },
      timeout: opts.timeoutMs || START_TIMEOUT_MS,
      maxBuffer: 16 * 1024 * 1024,
    }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(new Error(`payd ${args.join(' ')}: ${err.message}\n${stderr}`));
        return;
      }
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
  });
}

/* Like runPayd, but a non-zero exit is an error. */
async function runPaydOk(args, opts) {
  const r = await runPayd(args, opts);
  if (r.code !== 0) {
    throw new Error(`payd ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
  return r;
}

function psql(url, sql) {
  return new Promise((resolve, reject) => {
    execFile('psql', [url, '-v', 'ON_ERROR_STOP=1', '-qAtc', sql], { timeout: 30000 },
      (err, stdout, stderr) => (err ? reject(new Error(`psql: ${err.message}\n${stderr}`)) : resolve(stdout)));
  });
}

/* A new empty database: {url, kind, dir, drop()}. */
async function freshDatabase(kind) {
  /* PAYD_TEST_KEEP_DIR: make temp dirs there and keep them (scripts/test-all
   * scans every log and database file of the run for secrets at the end). */
  const dir = fs.mkdtempSync(path.join(process.env.PAYD_TEST_KEEP_DIR || os.tmpdir(), 'payd-api-'));
  if (kind === 'postgres') {
    const base = process.env.PAYD_TEST_PG_URL;
    if (!base) throw new Error('PAYD_TEST_DB=postgres needs PAYD_TEST_PG_URL');
    const name = `payd_t${process.pid}_${++dbCounter}_${crypto.randomBytes(3).toString('hex')}`;
    await psql(base, `CREATE DATABASE "${name}"`);
    const u = new URL(base);
    u.pathname = '/' + name;
    return {
      url: u.toString(), kind, dir,
      drop: () => psql(base, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => {}),
    };
  }
  return { url: `sqlite:${path.join(dir, 'payd.db')}`, kind: 'sqlite', dir, drop: async () => {} };
}

/* Stripe's bracket notation: {metadata: {k: 'v'}, items: [{price: 'p'}]} -> metadata[k]=v&items[0][price]=p */
function encodeForm(obj) {
  const parts = [];
  const walk = (prefix, v) => {
    if (v === undefined) return;
    if (v === null) {
      parts.push([prefix, '']);
    } else if (Array.isArray(v)) {
      v.forEach((x, i) => walk(`${prefix}[${typeof x === 'object' && x !== null ? i : ''}]`, x));
    } else if (typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) walk(prefix ? `${prefix}[${k}]` : k, x);
    } else {
      parts.push([prefix, String(v)]);
    }
  };
  walk('', obj);
  return parts.map(([k, v]) => `${encodeURIComponent(k).replace(/%5B/g, '[').replace(/%5D/g, ']')}=${encodeURIComponent(v)}`).join('&');
}

/* An HS256 JWT over @claims signed with @secret, made here (not by payd) so tests can forge bad ones. */
function signJwt(claims, secret = TEST_JWT_SECRET, header = { alg: 'HS256', typ: 'JWT' }) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${b64(header)}.${b64(claims)}`;
  if (header.alg === 'none') return `${input}.`;
  const sig = crypto.createHmac('sha256', secret).update(input).digest('base64url');
  return `${input}.${sig}`;
}

/*
 * Start payd. @opts: {db: 'sqlite'|'postgres' (default PAYD_TEST_DB or sqlite),
 * env: {...extra environment}, args: [...extra serve flags], adminKey: false to skip
 * creating the admin key, database: a freshDatabase() result to serve (restarts
 * on the same data; the caller owns it and drops it, stop() does not)}.
 * Returns {url, port, dbUrl, adminKey, adminKeyId, logFile, proc, api(), cli(),
 * createKey(), keysCreate(), revokeKey(), mintToken(), stop(), log()}.
 */
async function startPayd(opts = {}) {
  const kind = opts.database ? opts.database.kind : (opts.db || process.env.PAYD_TEST_DB || 'sqlite');
  const db = opts.database || await freshDatabase(kind);
  const logFile = path.join(db.dir, 'payd.log');
  const logFd = fs.openSync(logFile, 'a');
  /* Rate limits off unless a test sets them: suites fire requests far faster than clients do. */
  const env = {
    ...process.env, PAYD_JWT_SECRET: TEST_JWT_SECRET, PAYD_LOG_LEVEL: 'info',
    PAYD_RATE_LIMIT_PER_KEY: '0', PAYD_RATE_LIMIT_PER_SUBJECT: '0', PAYD_RATE_LIMIT_PER_ADDRESS: '0',
    ...(opts.env || {}),
  };
  const proc = spawn(PAYD, ['serve', '--db', db.url, '--listen', '127.0.0.1:0', ...(opts.args || [])], {
    env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const state = { exited: false, code: null, signal: null, lines: [] };
  /* 'close', not 'exit': the output pipes are drained by then. */
  const exitPromise = new Promise((resolve) => {
    proc.on('close', (code, signal) => {
      Object.assign(state, { exited: true, code, signal });
      resolve({ code, signal });
    });
  });

  const listening = new Promise((resolve, reject) => {
    let buf = '';
    const onData = (chunk) => {
      fs.writeSync(logFd, chunk);
      buf += chunk.toString('utf8');
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        state.lines.push(line);
        if (state.lines.length > 10000) state.lines.shift();
        try {
          const j = JSON.parse(line);
          if (j && j.msg === 'listening' && j.addr) resolve(j);
        } catch (_) { /* not JSON: plain output */ }
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('error', reject);
    exitPromise.then(({ code, signal }) => reject(new Error(
      `payd serve exited (code ${code}, signal ${signal}) before listening:\n${readLog(logFile)}`)));
    setTimeout(() => reject(new Error(`payd serve did not log "listening" within ${START_TIMEOUT_MS} ms:\n${readLog(logFile)}`)),
      START_TIMEOUT_MS).unref();
  });

  const inst = {
    kind, dbUrl: db.url, dir: db.dir, logFile, proc, state, exited: exitPromise,
    url: null, port: null, adminKey: null, adminKeyId: null,
  };
  running.add(inst);
  everStarted.push(inst);
  let info;
  try {
    info = await listening;
  } catch (e) {
    proc.kill('SIGKILL');
    throw e;
  }
  inst.port = Number(String(info.addr).split(':').pop());
  inst.url = `http://127.0.0.1:${inst.port}`;
  inst.listening = info;

  /* payd CLI against this instance's database. */
  inst.cli = (args, o = {}) => runPayd(args, { ...o, env: { PAYD_DB: db.url, ...(o.env || {}) } });

  /* Create a key: {id, secret, stdout}. The secret is the last line of stdout. */
  inst.keysCreate = async ({ role = 'admin', name } = {}) => {
    const r = await runPaydOk(['keys', 'create', '--db', db.url, '--name', name || `test-${role}`, '--role', role]);
    const lines = r.stdout.trimEnd().split('\n');
    const secret = lines[lines.length - 1];
    const idMatch = r.stdout.match(/\bkey_[0-9A-Za-z]+/);
    assert.match(secret, /^sk_test_[0-9A-Za-z]+$/, `keys create printed no secret last:\n${r.stdout}`);
    return { id: idMatch ? idMatch[0] : null, secret, stdout: r.stdout };
  };
  inst.createKey = async (role = 'admin', name) => (await inst.keysCreate({ role, name })).secret;
  inst.revokeKey = async (id) => runPaydOk(['keys', 'revoke', id, '--db', db.url]);

  /* A JWT from `payd token` with the server's secret. */
  inst.mintToken = async ({ sub = 'user_1', role = 'staff', customer, ttl, issuer, audience, secret = TEST_JWT_SECRET } = {}) => {
    const args = ['token', '--secret', secret, '--sub', sub, '--role', role];
    if (customer) args.push('--customer', customer);
    if (ttl !== undefined) args.push('--ttl', String(ttl));
    if (issuer) args.push('--issuer', issuer);
    if (audience) args.push('--audience', audience);
    /* Minted on payd's own clock, so a shifted payd (PAYD_CLOCK_OFFSET) accepts it. */
    const clock = env.PAYD_CLOCK_OFFSET === undefined ? {} : { PAYD_CLOCK_OFFSET: env.PAYD_CLOCK_OFFSET };
    const r = await runPaydOk(args, { env: clock });
    return r.stdout.trim();
  };

  /*
   * One request. @o: {body (JSON-encoded), form (object in bracket notation, or a
   * string sent as is), raw (string/Buffer sent as is), key (default the admin
   * key; null for none), token (a JWT instead of a key), basic (true: send the
   * key as HTTP Basic), headers, idempotencyKey}.
   * Resolves {status, headers, body (parsed JSON or null), text}.
   */
  inst.api = async (method, urlPath, o = {}) => {
    const headers = { ...(o.headers || {}) };
    const key = o.key === undefined ? inst.adminKey : o.key;
    if (o.token) {
      headers.authorization = `Bearer ${o.token}`;
    } else if (key && o.basic) {
      headers.authorization = `Basic ${Buffer.from(`${key}:`).toString('base64')}`;
    } else if (key) {
      headers.authorization = `Bearer ${key}`;
    }
    if (o.idempotencyKey) headers['idempotency-key'] = o.idempotencyKey;
    let body;
    if (o.body !== undefined) {
      body = JSON.stringify(o.body);
      headers['content-type'] = headers['content-type'] || 'application/json';
    } else if (o.form !== undefined) {
      body = typeof o.form === 'string' ? o.form : encodeForm(o.form);
      headers['content-type'] = headers['content-type'] || 'application/x-www-form-urlencoded';
    } else if (o.raw !== undefined) {
      body = o.raw;
    }
    const res = await fetch(inst.url + urlPath, { method, headers, body, redirect: 'manual' });
    const text = await res.text();
    let parsed = null;
    if ((res.headers.get('content-type') || '').includes('json')) {
      try { parsed = JSON.parse(text); } catch (_) { parsed = null; }
    }
    return { status: res.status, headers: res.headers, body: parsed, text };
  };

  /* SIGTERM, wait for the exit: resolves {code, signal}. */
  inst.stop = async () => {
    if (!state.exited) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exitPromise;
      clearTimeout(timer);
    }
    if (running.delete(inst)) {
      fs.closeSync(logFd);
      if (!opts.database) await db.drop();
    }
    return { code: state.code, signal: state.signal };
  };
  inst.log = () => readLog(logFile);

  if (opts.adminKey !== false) {
    const k = await inst.keysCreate({ role: 'admin', name: 'test-admin' });
    inst.adminKey = k.secret;
    inst.adminKeyId = k.id;
  }
  return inst;
}

function readLog(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (_) {
    return '(no log)';
  }
}

/*
 * When this test file fails (node:test sets a non-zero exit code), show what
 * every payd it started logged. A payd whose test forgot stop() is killed.
 */
process.on('exit', (code) => {
  for (const inst of running) {
    if (!inst.state.exited) inst.proc.kill('SIGKILL');
  }
  if (code === 0 && !(process.exitCode > 0)) {
    if (process.env.PAYD_TEST_KEEP_DIR) return;
    for (const inst of everStarted) fs.rmSync(inst.dir, { recursive: true, force: true });
    return;
  }
  for (const inst of everStarted) {
    process.stderr.write(`\n----- log of payd on ${inst.kind} (${inst.logFile}) -----\n${readLog(inst.logFile)}\n`);
  }
});

module.exports = {
  startPayd, freshDatabase, runPayd, runPaydOk, signJwt, encodeForm,
  TEST_JWT_SECRET, PAYD, ROOT,
};
