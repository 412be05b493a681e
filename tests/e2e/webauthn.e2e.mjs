// End to end in a real browser: Debian's Chromium, driven by playwright-core, with the DevTools
// WebAuthn virtual authenticator standing in for the USB key, against the real authd over
// loopback, through the hosted /enroll and /login pages.
//
// Run: node --test tests/e2e/webauthn.e2e.mjs   (AUTHD_BIN and AUTHCTL_BIN name the binaries)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(resolve('tests/js/package.json'));
const { chromium } = require('playwright-core');

const AUTHD = resolve(process.env.AUTHD_BIN || 'build/bin/authd');
const AUTHCTL = resolve(process.env.AUTHCTL_BIN || 'build/bin/authctl');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

let dir, port, base, env, server, browser, client, admin;

function freePort() {
  return new Promise((ok) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => ok(p));
    });
  });
}

function authctl(...args) {
  return execFileSync(AUTHCTL, args, { cwd: dir, env, encoding: 'utf8' }).trim();
}

async function waitHealthy() {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('authd did not start');
}

async function introspect(token) {
  const r = await fetch(`${base}/v1/tokens/introspect`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      Authorization: 'Basic ' + Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64'),
    },
    body: new URLSearchParams({ token }),
  });
  return r.json();
}

// A fresh page with its own virtual authenticator.
async function pageWithKey(options) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'usb', hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true, ...options,
    },
  });
  return { context, page, cdp, authenticatorId };
}

async function enrol(page, username, { nickname = 'key', resident = false } = {}) {
  const code = authctl('enrollment-code', username);
  await page.goto(`${base}/enroll`);
  await page.fill('#username', username);
  await page.fill('#code', code);
  await page.fill('#nickname', nickname);
  if (resident) await page.check('#resident');
  await page.click('#enroll');
  await page.waitForSelector('#result:not([hidden]), #status.error', { timeout: 15000 });
  const status = await page.textContent('#status');
  assert.ok(await page.isVisible('#result'), `enrolment failed: ${status}`);
  const dds = await page.$$eval('#credential dd', (els) => els.map((e) => e.textContent));
  const dts = await page.$$eval('#credential dt', (els) => els.map((e) => e.textContent));
  return Object.fromEntries(dts.map((k, i) => [k, dds[i]]));
}

async function login(page, username) {
  await page.goto(`${base}/login`);
  if (username) await page.fill('#username', username);
  await page.click('#login');
  await page.waitForSelector('#result:not([hidden]), #status.error', { timeout: 15000 });
  const ok = await page.isVisible('#result');
  return { ok, status: await page.textContent('#status'), token: ok ? await page.textContent('#token') : null };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'authd-e2e-'));
  port = await freePort();
  base = `http://localhost:${port}`;
  env = { ...process.env, AUTHD_DB: join(dir, 'authd.db'), AUTHD_LISTEN: `127.0.0.1:${port}`, AUTHD_ORIGINS: base,
          AUTHD_LOG_LEVEL: 'warn' };
  authctl('user', 'add', 'root', '--role', 'admin');
  admin = authctl('token', 'issue', 'root');
  client = JSON.parse(authctl('client', 'add', 'portal'));
  server = spawn(AUTHD, [], { cwd: dir, env, stdio: ['ignore', 'ignore', 'inherit'] });
  await waitHealthy();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  if (server) {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
  rmSync(dir, { recursive: true, force: true });
});

test('a CTAP2 key (ES256) enrols through /enroll and signs in through /login', async () => {
  authctl('user', 'add', 'alice');
  const { context, page } = await pageWithKey({});
  const cred = await enrol(page, 'alice', { nickname: 'blue key' });
  assert.equal(cred['Key'], 'blue key');
  assert.equal(cred['Algorithm'], '-7');
  const result = await login(page, 'alice');
  assert.ok(result.ok, result.status);
  const info = await introspect(result.token);
  assert.equal(info.active, true);
  assert.equal(info.username, 'alice');
  assert.deepEqual(info.amr.slice(0, 1), ['hwk']);
  await context.close();
});

test('a resident key with user verification signs in without a username', async () => {
  authctl('user', 'add', 'bob');
  const { context, page } = await pageWithKey({});
  const cred = await enrol(page, 'bob', { resident: true });
  assert.equal(cred['Sign in without username'], 'yes');
  const result = await login(page, '');
  assert.ok(result.ok, result.status);
  const info = await introspect(result.token);
  assert.equal(info.username, 'bob');
  assert.deepEqual(info.amr, ['hwk', 'pin']);
  await context.close();
});

test('a U2F-protocol key registers with fido-u2f attestation', async () => {
  authctl('user', 'add', 'carol');
  const { context, page } = await pageWithKey({ protocol: 'u2f', hasResidentKey: false, hasUserVerification: false,
                                                isUserVerified: false });
  const cred = await enrol(page, 'carol');
  assert.match(cred['Attestation'], /^fido-u2f \//);
  const result = await login(page, 'carol');
  assert.ok(result.ok, result.status);
  await context.close();
});

test('two keys for one user both work, and a revoked key is refused and its token dies', async () => {
  authctl('user', 'add', 'dave');
  const first = await pageWithKey({});
  const second = await pageWithKey({});
  const one = await enrol(first.page, 'dave', { nickname: 'one' });
  await enrol(second.page, 'dave', { nickname: 'two' });
  const a = await login(first.page, 'dave');
  const b = await login(second.page, 'dave');
  assert.ok(a.ok && b.ok, `${a.status} / ${b.status}`);
  assert.equal((await introspect(a.token)).active, true);

  const del = await fetch(`${base}/v1/admin/users/dave/credentials/${one['Credential id']}`, {
    method: 'DELETE', headers: { Authorization: `Bearer ${admin}` },
  });
  assert.equal(del.status, 204);
  assert.deepEqual(await introspect(a.token), { active: false });
  const refused = await login(first.page, 'dave');
  assert.equal(refused.ok, false);
  assert.match(refused.status, /revoked/);
  assert.ok((await login(second.page, 'dave')).ok);
  await first.context.close();
  await second.context.close();
});

test('a wrong enrolment code is explained and registers nothing', async () => {
  authctl('user', 'add', 'erin');
  const { context, page } = await pageWithKey({});
  await page.goto(`${base}/enroll`);
  await page.fill('#username', 'erin');
  await page.fill('#code', 'AAAA-BBBB-CCCC-DDDD-EEEE-FFFF');
  await page.click('#enroll');
  await page.waitForSelector('#status.error');
  assert.match(await page.textContent('#status'), /enrolment code is not valid/);
  const user = JSON.parse(authctl('user', 'show', 'erin'));
  assert.equal(user.credentials.length, 0);
  await context.close();
});

// RFC 6238 TOTP, SHA-1, 6 digits, 30 s: what an authenticator app computes from the QR code.
function totp(base32, at = Date.now() / 1000) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of base32.replace(/=+$/, '')) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 30)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const o = mac[mac.length - 1] & 15;
  return String((mac.readUInt32BE(o) & 0x7fffffff) % 1000000).padStart(6, '0');
}

test('an authenticator app is set up through /enroll-app and its codes sign in through /login', async () => {
  authctl('user', 'add', 'frank');
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${base}/enroll-app`);
  await page.fill('#username', 'frank');
  await page.fill('#code', authctl('enrollment-code', 'frank'));
  await page.click('#start');
  await page.waitForSelector('#qr svg', { timeout: 15000 });
  const secret = await page.textContent('#secret');
  assert.match(secret, /^[A-Z2-7]{32}$/);
  await page.fill('#totp', totp(secret));
  await page.click('#confirm');
  await page.waitForSelector('#result:not([hidden]), #status.error', { timeout: 15000 });
  assert.ok(await page.isVisible('#result'), await page.textContent('#status'));

  // The next step's code: the enrolment used this step's. Kept, so that the replay below sends
  // the very same code even if a step boundary passes in between.
  const code = totp(secret, Date.now() / 1000 + 30);
  await page.goto(`${base}/login`);
  await page.fill('#otp-username', 'frank');
  await page.fill('#otp', code);
  await page.click('#otp-login');
  await page.waitForSelector('#result:not([hidden]), #status.error', { timeout: 15000 });
  assert.ok(await page.isVisible('#result'), await page.textContent('#status'));
  const token = await page.textContent('#token');
  const info = await introspect(token);
  assert.equal(info.active, true);
  assert.deepEqual(info.amr, ['otp']);
  // The same code again is explained, not accepted.
  await page.goto(`${base}/login`);
  await page.fill('#otp-username', 'frank');
  await page.fill('#otp', code);
  await page.click('#otp-login');
  await page.waitForSelector('#result:not([hidden]), #status.error', { timeout: 15000 });
  assert.ok(await page.isVisible('#status.error'), 'a replayed code was accepted');
  assert.match(await page.textContent('#status'), /used already/);
  await context.close();
});
