'use strict';
/*
 * foundation.test.js - what issue 2 promises a user: the operations routes,
 * routing errors, authentication and roles, body decoding and limits,
 * graceful shutdown, and the payd command line.
 */
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { startPayd, runPayd, signJwt, freshDatabase, TEST_JWT_SECRET } = require('./lib/payd');

const KIND = process.env.PAYD_TEST_DB || 'sqlite';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => Math.floor(Date.now() / 1000);

function psql(url, sql) {
  return new Promise((resolve, reject) => {
    execFile('psql', [url, '-v', 'ON_ERROR_STOP=1', '-qAtc', sql], { timeout: 30000 },
      (err, stdout, stderr) => (err ? reject(new Error(`psql: ${err.message}\n${stderr}`)) : resolve(stdout)));
  });
}

function assertError(r, status, type) {
  assert.equal(r.status, status, `expected ${status}, got ${r.status}: ${r.text}`);
  assert.ok(r.body && r.body.error, `no error envelope: ${r.text}`);
  assert.equal(r.body.error.type, type || 'invalid_request_error');
  assert.equal(typeof r.body.error.code, 'string');
  assert.ok(r.body.error.message.length > 0);
  assert.match(r.headers.get('request-id') || '', /^req_/);
}

/*
 * Send @head (and optionally part of the body) on a raw connection; returns
 * {sock, response: Promise<string>} resolving with everything read until the
 * server closes.
 */
function rawRequest(port, head) {
  const sock = net.connect(port, '127.0.0.1');
  const chunks = [];
  const response = new Promise((resolve, reject) => {
    sock.on('data', (c) => chunks.push(c));
    sock.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    sock.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    sock.on('error', (e) => (chunks.length ? resolve(Buffer.concat(chunks).toString('latin1')) : reject(e)));
  });
  sock.write(head);
  return { sock, response };
}

describe('operations routes', () => {
  let payd;
  before(async () => { payd = await startPayd(); });
  after(async () => { if (payd) await payd.stop(); });

  test('GET /health needs no key and reports the version and the database', async () => {
    const r = await payd.api('GET', '/health', { key: null });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.status, 'ok');
    const v = await runPayd(['version']);
    assert.equal(`payd ${r.body.version}`, v.stdout.trim());
    assert.equal(r.body.database.kind, KIND);
    assert.equal(r.body.database.reachable, true);
    assert.ok(Number.isInteger(r.body.database.migration_level) && r.body.database.migration_level >= 1);
    assert.equal(r.body.database.migration_level, r.body.database.migrations_known);
    assert.match(r.headers.get('request-id') || '', /^req_/);
  });

  test('GET /metrics is Prometheus text counting requests by route and status', async () => {
    await payd.api('GET', '/health', { key: null });
    await payd.api('GET', '/v1/nothing_here');
    const k = await payd.api('POST', '/v1/keys', { body: { name: 'metrics', role: 'staff' } });
    assert.equal(k.status, 200, k.text);
    const r = await payd.api('GET', '/metrics', { key: null });
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
    assert.match(r.text, /^# TYPE \S+ (counter|gauge|histogram)$/m);
    assert.match(r.text, /^payd_database_up 1$/m);
    assert.match(r.text, /^payd_build_info\{version="[^"]+",database="(sqlite|postgres)"\} 1$/m);
    const healthLine = r.text.split('\n').find((l) => !l.startsWith('#') && l.includes('"/health"') && /"200"/.test(l));
    assert.ok(healthLine, `no sample for /health with status 200 in:\n${r.text}`);
    assert.match(r.text, /_bucket\{.*le="\+Inf"\} \d+/, 'a latency histogram');
    assert.match(r.text, /in_flight/, 'requests in flight');
    const writes = Number((r.text.match(/^payd_database_writes_total (\d+)$/m) || [])[1]);
    assert.ok(writes >= 1, `database writes counted (the key just created at least):\n${r.text}`);
    assert.match(r.text, /^payd_database_pool_connections \d+$/m, 'database pool size');
    assert.match(r.text, /^payd_database_pool_in_use \d+$/m, 'database pool use');
    const syncs = Number((r.text.match(/^payd_database_wal_syncs_total (\d+)$/m) || [])[1]);
    if (/database="sqlite"/.test(r.text)) {
      assert.ok(syncs >= 1, `the key's write was answered after a WAL sync:\n${r.text}`);
    } else {
      assert.equal(syncs, 0, 'PostgreSQL syncs its own WAL');
    }
    for (const by of ['checkpointer', 'writer']) {
      assert.match(r.text, new RegExp(`^payd_database_checkpoints_total\\{by="${by}"\\} \\d+$`, 'm'),
        `checkpoints by the ${by}`);
    }
  });

  test('GET /v1/openapi.json is OpenAPI 3.1 with the operations paths', async () => {
    const r = await payd.api('GET', '/v1/openapi.json', { key: null });
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get('content-type'), /^application\/json/);
    const doc = r.body;
    assert.match(doc.openapi, /^3\.1\./);
    assert.equal(typeof doc.info.title, 'string');
    for (const p of ['/health', '/metrics', '/v1/openapi.json', '/docs', '/v1/keys']) {
      assert.ok(doc.paths[p] && doc.paths[p].get, `no GET ${p}`);
    }
    assert.ok(doc.paths['/v1/keys'].post);
    assert.ok(doc.paths['/v1/keys/{id}'].delete);
    assert.deepEqual(doc.paths['/health'].get.security, []);
    assert.deepEqual(doc.paths['/v1/keys'].get['x-roles'], ['admin']);
    assert.ok(doc.components.schemas.Error);
    assert.ok(doc.components.securitySchemes.bearerAuth);
    /* Every $ref points at something that exists. */
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) || [];
    for (const ref of new Set(refs)) {
      const target = ref.slice(8, -1).replace(/^#\//, '').split('/')
        .reduce((o, k) => (o ? o[k.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined), doc);
      assert.ok(target !== undefined, `dangling ${ref}`);
    }
  });

  test('GET /docs is a self-contained page that reads the description', async () => {
    const r = await payd.api('GET', '/docs', { key: null });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/html/);
    assert.match(r.text, /<html/i);
    assert.match(r.text, /v1\/openapi\.json/);
    assert.doesNotMatch(r.text, /<(script|link|img)[^>]+(src|href)="(https?:)?\/\//i, 'no external resources');
  });
});

describe('database down', () => {
  test('GET /health answers 503 when the database is gone (PostgreSQL)', { skip: KIND !== 'postgres' && 'PostgreSQL only' }, async () => {
    const p = await startPayd({ adminKey: false });
    try {
      assert.equal((await p.api('GET', '/health', { key: null })).status, 200);
      const name = new URL(p.dbUrl).pathname.slice(1);
      await psql(process.env.PAYD_TEST_PG_URL, `DROP DATABASE "${name}" WITH (FORCE)`);
      const r = await p.api('GET', '/health', { key: null });
      assert.equal(r.status, 503, r.text);
      assert.equal(r.body.status, 'degraded');
      assert.equal(r.body.database.reachable, false);
      assert.equal(r.body.database.migration_level, null);
      const m = await p.api('GET', '/metrics', { key: null });
      assert.match(m.text, /^payd_database_up 0$/m);
    } finally {
      const { code } = await p.stop();
      assert.equal(code, 0, 'payd still shuts down cleanly');
    }
  });
});

describe('routing and authentication', () => {
  let payd;
  before(async () => { payd = await startPayd(); });
  after(async () => { if (payd) await payd.stop(); });

  test('an unknown route is a 404 in the error envelope with a Request-Id', async () => {
    const r = await payd.api('GET', '/v1/does_not_exist');
    assertError(r, 404);
    const anon = await payd.api('GET', '/nothing/at/all', { key: null });
    assertError(anon, 404);
  });

  test('a wrong method is a 405 naming the allowed ones', async () => {
    const r = await payd.api('PUT', '/v1/keys');
    assertError(r, 405);
    const allow = r.headers.get('allow') || '';
    assert.match(allow, /GET/);
    assert.match(allow, /POST/);
    assertError(await payd.api('POST', '/health', { key: null }), 405);
  });

  test('no key is a 401', async () => {
    assertError(await payd.api('GET', '/v1/keys', { key: null }), 401);
  });

  test('a bad key or a malformed Authorization header is a 401', async () => {
    assertError(await payd.api('GET', '/v1/keys', { key: 'sk_test_' + 'x'.repeat(32) }), 401);
    assertError(await payd.api('GET', '/v1/keys', { key: 'nonsense' }), 401);
    assertError(await payd.api('GET', '/v1/keys', { key: null, headers: { authorization: 'Bearer' } }), 401);
    assertError(await payd.api('GET', '/v1/keys', { key: null, headers: { authorization: 'Basic !!!' } }), 401);
  });

  test('the admin key works as Bearer and as HTTP Basic user name', async () => {
    const bearer = await payd.api('GET', '/v1/keys');
    assert.equal(bearer.status, 200, bearer.text);
    assert.equal(bearer.body.object, 'list');
    assert.equal(bearer.body.url, '/v1/keys');
    const mine = bearer.body.data.find((k) => k.id === payd.adminKeyId);
    assert.ok(mine, 'the admin key is listed');
    assert.equal(mine.role, 'admin');
    assert.equal(mine.object, 'api_key');
    assert.ok(!bearer.text.includes(payd.adminKey), 'the secret is never returned');
    const basic = await payd.api('GET', '/v1/keys', { basic: true });
    assert.equal(basic.status, 200, basic.text);
  });

  test('a key revoked with `payd keys revoke` is refused', async () => {
    const k = await payd.keysCreate({ role: 'admin', name: 'to-revoke' });
    /* Revoked before its first use, so no process has it cached. */
    const rv = await payd.revokeKey(k.id);
    assert.match(rv.stdout, new RegExp(k.id));
    assertError(await payd.api('GET', '/v1/keys', { key: k.secret }), 401);
    const list = await payd.cli(['keys', 'list']);
    assert.equal(list.code, 0, list.stderr);
    const entry = JSON.parse(list.stdout).find((x) => x.id === k.id);
    assert.ok(entry && entry.revoked_at, 'keys list shows it revoked');
    const again = await payd.cli(['keys', 'revoke', k.id]);
    assert.notEqual(again.code, 0, 'revoking twice fails');
  });

  test('a key revoked over the API is refused at once', async () => {
    const k = await payd.keysCreate({ role: 'admin', name: 'api-revoke' });
    assert.equal((await payd.api('GET', '/v1/keys', { key: k.secret })).status, 200);
    const r = await payd.api('DELETE', `/v1/keys/${k.id}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.id, k.id);
    assert.ok(r.body.revoked_at);
    assertError(await payd.api('GET', '/v1/keys', { key: k.secret }), 401);
    assertError(await payd.api('DELETE', `/v1/keys/${k.id}`), 404);
    assertError(await payd.api('DELETE', '/v1/keys/key_doesnotexist000000000000'), 404);
  });

  test('staff and auditor keys get 403 on an admin-only route', async () => {
    for (const role of ['staff', 'auditor']) {
      const key = await payd.createKey(role);
      const r = await payd.api('GET', '/v1/keys', { key });
      assertError(r, 403);
      assert.equal(r.body.error.code, 'permission_denied');
      assertError(await payd.api('POST', '/v1/keys', { key, body: { name: 'x', role: 'admin' } }), 403);
    }
  });

  test('a patient key cannot be created', async () => {
    const r = await payd.cli(['keys', 'create', '--name', 'p', '--role', 'patient']);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
  });
});

describe('JWT', () => {
  let payd;
  before(async () => { payd = await startPayd(); });
  after(async () => { if (payd) await payd.stop(); });

  test('a token from `payd token` is accepted and its role applies', async () => {
    const admin = await payd.mintToken({ sub: 'alice', role: 'admin' });
    assert.match(admin, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    const r = await payd.api('GET', '/v1/keys', { token: admin });
    assert.equal(r.status, 200, r.text);
    const staff = await payd.mintToken({ sub: 'bob', role: 'staff' });
    assertError(await payd.api('GET', '/v1/keys', { token: staff }), 403);
  });

  test('a token signed here with the shared secret is accepted', async () => {
    const t = signJwt({ sub: 'carol', role: 'admin', iat: now(), exp: now() + 300 });
    assert.equal((await payd.api('GET', '/v1/keys', { token: t })).status, 200);
  });

  test('expired, not yet valid, unsigned and badly signed tokens are 401', async () => {
    const cases = {
      expired: signJwt({ sub: 'x', role: 'admin', iat: now() - 7200, exp: now() - 3600 }),
      notYetValid: signJwt({ sub: 'x', role: 'admin', iat: now(), nbf: now() + 3600, exp: now() + 7200 }),
      algNone: signJwt({ sub: 'x', role: 'admin', iat: now(), exp: now() + 300 }, TEST_JWT_SECRET, { alg: 'none', typ: 'JWT' }),
      otherSecret: signJwt({ sub: 'x', role: 'admin', iat: now(), exp: now() + 300 }, 'not-the-secret'),
      unknownRole: signJwt({ sub: 'x', role: 'superuser', iat: now(), exp: now() + 300 }),
      tampered: (() => {
        const [h, , s] = signJwt({ sub: 'x', role: 'staff', iat: now(), exp: now() + 300 }).split('.');
        const p = Buffer.from(JSON.stringify({ sub: 'x', role: 'admin', iat: now(), exp: now() + 300 })).toString('base64url');
        return `${h}.${p}.${s}`;
      })(),
    };
    for (const [name, token] of Object.entries(cases)) {
      const r = await payd.api('GET', '/v1/keys', { token });
      assert.equal(r.status, 401, `${name}: ${r.status} ${r.text}`);
      assertError(r, 401);
    }
  });

  test('issuer and audience are checked when configured', async () => {
    const p = await startPayd({ args: ['--jwt-issuer', 'https://idp.test', '--jwt-audience', 'payd'] });
    try {
      const claims = { sub: 'dan', role: 'admin', iat: now(), exp: now() + 300 };
      const good = signJwt({ ...claims, iss: 'https://idp.test', aud: 'payd' });
      assert.equal((await p.api('GET', '/v1/keys', { token: good })).status, 200);
      assertError(await p.api('GET', '/v1/keys', { token: signJwt(claims) }), 401);
      assertError(await p.api('GET', '/v1/keys', { token: signJwt({ ...claims, iss: 'https://evil.test', aud: 'payd' }) }), 401);
      assertError(await p.api('GET', '/v1/keys', { token: signJwt({ ...claims, iss: 'https://idp.test', aud: 'other' }) }), 401);
      const minted = await p.mintToken({ sub: 'dan', role: 'admin', issuer: 'https://idp.test', audience: 'payd' });
      assert.equal((await p.api('GET', '/v1/keys', { token: minted })).status, 200);
    } finally {
      await p.stop();
    }
  });

  test('RS256 with a configured public key; the pinned algorithm refuses HS256', async () => {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'payd-rs256-'));
    const pem = path.join(dir, 'public.pem');
    fs.writeFileSync(pem, publicKey.export({ type: 'spki', format: 'pem' }));
    const p = await startPayd({ args: ['--jwt-alg', 'RS256', '--jwt-public-key', pem] });
    try {
      const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const input = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64({ sub: 'erin', role: 'admin', iat: now(), exp: now() + 300 })}`;
      const sig = crypto.sign('sha256', Buffer.from(input), privateKey).toString('base64url');
      const r = await p.api('GET', '/v1/keys', { token: `${input}.${sig}` });
      assert.equal(r.status, 200, r.text);
      assertError(await p.api('GET', '/v1/keys', { token: signJwt({ sub: 'erin', role: 'admin', iat: now(), exp: now() + 300 }) }), 401);
    } finally {
      await p.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('bodies', () => {
  let payd;
  before(async () => { payd = await startPayd(); });
  after(async () => { if (payd) await payd.stop(); });

  test('a JSON body is decoded', async () => {
    const r = await payd.api('POST', '/v1/keys', { body: { name: 'json-key', role: 'staff' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.object, 'api_key');
    assert.equal(r.body.name, 'json-key');
    assert.equal(r.body.role, 'staff');
    assert.match(r.body.secret, /^sk_test_/);
    assertError(await payd.api('GET', '/v1/keys', { key: r.body.secret }), 403);
  });

  test('a form body (Stripe style) is decoded the same way', async () => {
    const r = await payd.api('POST', '/v1/keys', { form: 'name=form%20key&role=auditor' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.name, 'form key');
    assert.equal(r.body.role, 'auditor');
    const list = await payd.api('GET', '/v1/keys');
    assert.ok(list.body.data.some((k) => k.id === r.body.id && k.name === 'form key'));
  });

  test('malformed JSON is a 400 that says what is wrong', async () => {
    const r = await payd.api('POST', '/v1/keys', { raw: '{"name": "x", ', headers: { 'content-type': 'application/json' } });
    assertError(r, 400);
    assert.match(r.body.error.message, /JSON/);
    const notObject = await payd.api('POST', '/v1/keys', { raw: '[1,2]', headers: { 'content-type': 'application/json' } });
    assertError(notObject, 400);
  });

  test('a malformed form body is a 400 naming the parameter', async () => {
    const r = await payd.api('POST', '/v1/keys', { form: 'name=x&role=staff&metadata[a=1' });
    assertError(r, 400);
    assert.ok(r.body.error.param || r.body.error.message.includes('metadata'), r.text);
  });

  test('missing, invalid and unknown parameters are 400s naming them', async () => {
    let r = await payd.api('POST', '/v1/keys', { body: { role: 'staff' } });
    assertError(r, 400);
    assert.equal(r.body.error.param, 'name');
    r = await payd.api('POST', '/v1/keys', { body: { name: 'x', role: 'wizard' } });
    assertError(r, 400);
    assert.equal(r.body.error.param, 'role');
    r = await payd.api('POST', '/v1/keys', { body: { name: 'x', role: 'staff', colour: 'red' } });
    assertError(r, 400);
    assert.equal(r.body.error.param, 'colour');
    const list = await payd.api('GET', '/v1/keys');
    assert.ok(!list.body.data.some((k) => k.name === 'x'), 'no key was left behind');
  });

  test('an unsupported content type is a 400', async () => {
    const r = await payd.api('POST', '/v1/keys', { raw: '<key/>', headers: { 'content-type': 'application/xml' } });
    assertError(r, 400);
  });

  test('a body over 1 MiB is a 413 and payd stays up', async () => {
    const big = 'name=' + 'a'.repeat(1024 * 1024 + 10) + '&role=staff';
    const head = `POST /v1/keys HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${payd.adminKey}\r\n` +
      `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${big.length}\r\n\r\n`;
    /* Sent whole, as a client that does not wait for "100 Continue" does:
     * payd reads it to the end (dropping it) and answers, so the client
     * reads the 413 rather than a reset connection. */
    const { sock, response } = rawRequest(payd.port, head);
    sock.write(big, () => {});
    const text = await response;
    sock.destroy();
    assert.match(text, /^HTTP\/1\.1 413 /);
    assert.match(text, /request-id: req_/i);
    assert.match(text, /"type":\s*"invalid_request_error"/);

    /* The same without a Content-Length (chunked): cut off at the cap. */
    const chunked = rawRequest(payd.port, `POST /v1/keys HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
      `Authorization: Bearer ${payd.adminKey}\r\nContent-Type: application/x-www-form-urlencoded\r\n` +
      `Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n`);
    const piece = 'a'.repeat(64 * 1024);
    for (let i = 0; i < 20 && !chunked.sock.destroyed; i++) {
      chunked.sock.write(`${piece.length.toString(16)}\r\n${piece}\r\n`);
    }
    if (!chunked.sock.destroyed) chunked.sock.write('0\r\n\r\n');
    const text2 = await chunked.response;
    assert.match(text2, /^HTTP\/1\.1 413 /);

    const h = await payd.api('GET', '/health', { key: null });
    assert.equal(h.status, 200);
    const list = await payd.api('GET', '/v1/keys');
    assert.ok(!list.body.data.some((k) => k.role === 'staff' && k.name.startsWith('aaaa')), 'no key was created');
  });
});

describe('shutdown', () => {
  test('SIGTERM lets a request in flight finish, then payd exits 0', async () => {
    const payd = await startPayd();
    const body = JSON.stringify({ name: 'in-flight', role: 'staff' });
    const { sock, response } = rawRequest(payd.port,
      `POST /v1/keys HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${payd.adminKey}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n` +
      body.slice(0, 10));
    /* The headers have arrived: payd counts the request as in flight. */
    await sleep(300);
    payd.proc.kill('SIGTERM');
    await sleep(700);
    assert.equal(payd.state.exited, false, 'payd waits for the request in flight');
    sock.write(body.slice(10));
    const text = await response;
    assert.match(text, /^HTTP\/1\.1 200 /, text);
    assert.match(text, /"secret":\s*"sk_test_/);
    const { code, signal } = await payd.stop();
    assert.equal(signal, null);
    assert.equal(code, 0);
    assert.match(payd.log(), /"msg":\s*"stopped"/);
  });

  test('SIGINT also stops payd cleanly', async () => {
    const payd = await startPayd({ adminKey: false });
    payd.proc.kill('SIGINT');
    const { code } = await payd.exited;
    assert.equal(code, 0);
    await payd.stop();
  });
});

describe('memory', () => {
  const environ = (pid) => fs.readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');

  test('payd serve runs with a larger glibc thread cache, unless GLIBC_TUNABLES or LD_PRELOAD is set', async () => {
    const chosen = await startPayd({ env: { GLIBC_TUNABLES: undefined, LD_PRELOAD: undefined } });
    try {
      /* Started again in the same process: the pid the harness spawned. */
      assert.ok(environ(chosen.proc.pid).includes('GLIBC_TUNABLES=glibc.malloc.tcache_count=128'),
        'payd serve set the thread cache');
      assert.equal(fs.readFileSync(`/proc/${chosen.proc.pid}/comm`, 'latin1'), 'payd\n', 'it keeps its name');
      assert.equal((await chosen.api('GET', '/health')).status, 200);
    } finally {
      await chosen.stop();
    }
    const own = await startPayd({ env: { GLIBC_TUNABLES: 'glibc.malloc.mxfast=64', LD_PRELOAD: undefined } });
    try {
      const env = environ(own.proc.pid).filter((v) => v.startsWith('GLIBC_TUNABLES='));
      assert.deepEqual(env, ['GLIBC_TUNABLES=glibc.malloc.mxfast=64'], "the operator's setting stands");
      assert.equal((await own.api('GET', '/health')).status, 200);
    } finally {
      await own.stop();
    }
  });
});

describe('command line', () => {
  let dir;
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'payd-cli-')); });
  after(() => { fs.rmSync(dir, { recursive: true, force: true }); });

  test('payd --help and every subcommand --help exit 0 with a usage', async () => {
    const top = await runPayd(['--help']);
    assert.equal(top.code, 0);
    for (const cmd of ['serve', 'migrate', 'keys', 'token', 'audit', 'version']) {
      assert.match(top.stdout, new RegExp(`^  ${cmd} `, 'm'), `payd --help lists ${cmd}`);
    }
    for (const args of [['serve'], ['migrate'], ['keys'], ['keys', 'create'], ['keys', 'list'],
      ['keys', 'revoke'], ['token'], ['audit'], ['audit', 'verify'], ['version']]) {
      const r = await runPayd([...args, '--help']);
      assert.equal(r.code, 0, `payd ${args.join(' ')} --help: ${r.stderr}`);
      assert.match(r.stdout, /^usage: payd /, `payd ${args.join(' ')} --help`);
    }
    const serveHelp = await runPayd(['serve', '--help']);
    for (const opt of ['--db', '--listen', '--jwt-secret', '--jwt-alg', '--jwt-public-key', '--fingerprint-key', 'PAYD_DB', 'PAYD_LISTEN']) {
      assert.ok(serveHelp.stdout.includes(opt), `serve --help mentions ${opt}`);
    }
  });

  test('bad usage exits 2 with a message on stderr', async () => {
    for (const args of [[], ['frobnicate'], ['serve', '--no-such-flag'], ['keys'], ['keys', 'create', '--db', `sqlite:${dir}/u.db`],
      ['keys', 'create', '--db', `sqlite:${dir}/u.db`, '--name', 'n', '--role', 'wizard'], ['keys', 'revoke'],
      ['token', '--secret', 's'], ['token', '--secret', 's', '--sub', 'x', '--role', 'staff', '--ttl', 'soon'],
      ['token', '--secret', 's', '--sub', 'x', '--role', 'patient'], ['version', 'extra'],
      ['audit'], ['audit', 'nothing']]) {
      const r = await runPayd(args, { env: { PAYD_JWT_SECRET: '' } });
      assert.equal(r.code, 2, `payd ${args.join(' ')} exited ${r.code}`);
      assert.ok(r.stderr.length > 0, `payd ${args.join(' ')} says why`);
    }
  });

  test('payd audit verify passes on a fresh database', async () => {
    const r = await runPayd(['audit', 'verify', '--db', `sqlite:${dir}/audit.db`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ok   entries balance/m);
    assert.match(r.stdout, /^ok: 0 violations$/m);
    assert.doesNotMatch(r.stdout, /FAIL/);
  });

  test('payd version', async () => {
    const r = await runPayd(['version']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^payd \d+\.\d+\.\d+\n$/);
  });

  test('payd migrate creates the database and prints the level', async () => {
    const db = `sqlite:${dir}/m/payd.db`;
    const r = await runPayd(['migrate', '--db', db]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^migration level [1-9]\d*$/m);
    assert.ok(fs.existsSync(`${dir}/m/payd.db`));
    const again = await runPayd(['migrate', '--db', db]);
    assert.equal(again.stdout, r.stdout, 'migrating twice changes nothing');
  });

  test('payd keys create prints the secret alone on the last line; keys list never shows it', async () => {
    const db = `sqlite:${dir}/k.db`;
    const r = await runPayd(['keys', 'create', '--db', db, '--name', 'ci', '--role', 'staff']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines[lines.length - 1], '', 'ends with a newline');
    const secret = lines[lines.length - 2];
    assert.match(secret, /^sk_test_[0-9A-Za-z]{32}$/);
    const list = await runPayd(['keys', 'list', '--db', db]);
    assert.equal(list.code, 0, list.stderr);
    const keys = JSON.parse(list.stdout);
    assert.equal(keys.length, 1);
    assert.equal(keys[0].name, 'ci');
    assert.equal(keys[0].role, 'staff');
    assert.ok(!list.stdout.includes(secret));
  });

  test('options: flag beats PAYD_* environment beats the config file', async () => {
    const conf = path.join(dir, 'payd.conf');
    fs.writeFileSync(conf, `# test config\ndb = sqlite:${dir}/from-file.db\n`);
    let r = await runPayd(['migrate', '--config', conf]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(fs.existsSync(`${dir}/from-file.db`));
    r = await runPayd(['migrate'], { env: { PAYD_CONFIG: conf, PAYD_DB: `sqlite:${dir}/from-env.db` } });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(fs.existsSync(`${dir}/from-env.db`));
    r = await runPayd(['migrate', '--db', `sqlite:${dir}/from-flag.db`], { env: { PAYD_CONFIG: conf, PAYD_DB: `sqlite:${dir}/from-env2.db` } });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(fs.existsSync(`${dir}/from-flag.db`));
    assert.ok(!fs.existsSync(`${dir}/from-env2.db`));
  });

  test('payd token mints a JWT with the claims asked for', async () => {
    const r = await runPayd(['token', '--secret', 's3cret', '--sub', 'pat_1', '--role', 'patient',
      '--customer', 'cus_ABCDEFGHIJKLMNOPQRSTUVWX', '--ttl', '120', '--issuer', 'idp', '--audience', 'payd']);
    assert.equal(r.code, 0, r.stderr);
    const [h, p, s] = r.stdout.trim().split('.');
    assert.deepEqual(JSON.parse(Buffer.from(h, 'base64url')).alg, 'HS256');
    const claims = JSON.parse(Buffer.from(p, 'base64url'));
    assert.equal(claims.sub, 'pat_1');
    assert.equal(claims.role, 'patient');
    assert.equal(claims.customer, 'cus_ABCDEFGHIJKLMNOPQRSTUVWX');
    assert.equal(claims.iss, 'idp');
    assert.equal(claims.aud, 'payd');
    assert.equal(claims.exp - claims.iat, 120);
    assert.ok(Math.abs(claims.iat - now()) < 60);
    const expect = crypto.createHmac('sha256', 's3cret').update(`${h}.${p}`).digest('base64url');
    assert.equal(s, expect);
  });

  test('a second payd on the same port fails to start with exit 1', async () => {
    const p = await startPayd({ adminKey: false });
    try {
      const r = await runPayd(['serve', '--db', `sqlite:${dir}/second.db`, '--listen', `127.0.0.1:${p.port}`]);
      assert.equal(r.code, 1, r.stderr);
    } finally {
      await p.stop();
    }
  });
});

/*
 * The fingerprint key keys card fingerprints and seals webhook secrets: a
 * payd with another key would compute other fingerprints for the same cards
 * and could not open the stored secrets. The database keeps a check of the
 * key it was keyed with (migration 0020), and payd serve refuses another.
 */
test('payd serve refuses a fingerprint key other than the one the database was keyed with', async () => {
  const db = await freshDatabase(KIND);
  const keyA = crypto.randomBytes(32).toString('hex');
  const keyB = crypto.randomBytes(32).toString('hex');
  const serve = (args) => runPayd(['serve', '--db', db.url, '--listen', '127.0.0.1:0', ...args],
    { env: { PAYD_JWT_SECRET: TEST_JWT_SECRET } });
  try {
    const hooks = ['--webhook-allow-http', '--webhook-allow-hosts', '127.0.0.1'];
    let p = await startPayd({ database: db, args: ['--fingerprint-key', keyA, ...hooks] });
    let we;
    try {
      const pm = await p.api('POST', '/v1/payment_methods', {
        form: { type: 'card', card: { number: '4242424242424242', exp_month: 12, exp_year: 2040, cvc: '123' } },
      });
      assert.equal(pm.status, 200, pm.text);
      we = await p.api('POST', '/v1/webhook_endpoints', { form: { url: 'http://127.0.0.1:9/hook', enabled_events: ['*'] } });
      assert.equal(we.status, 200, we.text);
    } finally {
      await p.stop();
    }
    const r = await serve(['--fingerprint-key', keyB]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /payd serve: the fingerprint key \(--fingerprint-key\) is not the one this database was keyed with/);
    assert.ok(!r.stderr.includes(keyA) && !r.stderr.includes(keyB), 'no key is printed');
    /* The right key still serves, with the data as it was. */
    p = await startPayd({ database: db, args: ['--fingerprint-key', keyA, ...hooks] });
    try {
      assert.equal((await p.api('GET', `/v1/webhook_endpoints/${we.body.id}`)).status, 200);
      assert.equal((await p.api('GET', '/health')).status, 200);
    } finally {
      await p.stop();
    }
  } finally {
    await db.drop();
  }
  if (KIND !== 'sqlite') return;
  /* SQLite keeps its key in fingerprint.key beside the database file: a
   * database moved without it is refused rather than keyed anew. */
  const lone = await freshDatabase('sqlite');
  const keyFile = path.join(lone.dir, 'fingerprint.key');
  const p = await startPayd({ database: lone });
  await p.stop();
  const kept = fs.readFileSync(keyFile);
  fs.rmSync(keyFile);
  const r = await runPayd(['serve', '--db', lone.url, '--listen', '127.0.0.1:0'], { env: { PAYD_JWT_SECRET: TEST_JWT_SECRET } });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`the fingerprint key \\(the key file ${keyFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\) is not the one`));
  assert.match(r.stderr, /the key file was created just now: put back the one that was beside the database/);
  fs.writeFileSync(keyFile, kept, { mode: 0o600 });
  const back = await startPayd({ database: lone });
  await back.stop();
});
