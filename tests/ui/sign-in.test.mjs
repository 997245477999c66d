// Sign-in with OpenID Connect in a real browser: `rampart serve --oidc-issuer` in front of a
// real provider on 127.0.0.1 (identity-provider.mjs). Chromium signs in on the provider's
// login page, sees the dashboard, is refused a change as a reader and allowed as an admin,
// has its token refreshed, and signs out. The API token keeps working beside it.
//
//   RAMPART_BIN=target/debug/rampart node --test tests/ui/sign-in.test.mjs

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { CLIENT_ID, SCOPE, startProvider } from './identity-provider.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.resolve(process.env.RAMPART_BIN ?? path.join(here, '../../target/debug/rampart'));
const CHROMIUM = process.env.RAMPART_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = path.join(here, 'screenshots');
const API_TOKEN = 'script-token-for-the-test';
// The ID token lives 40 s: the dashboard refreshes a token with less than 30 s left.
const ID_TOKEN_SECONDS = 40;

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

let provider;
let rampart;
let origin;
let browser;
let data;

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  const port = await freePort();
  origin = `http://127.0.0.1:${port}`;
  provider = await startProvider(await freePort(), origin, { idTokenSeconds: ID_TOKEN_SECONDS });
  data = fs.mkdtempSync(path.join(os.tmpdir(), 'rampart-sign-in-'));
  rampart = spawn(BIN, ['serve', '--data', data, '--listen', `127.0.0.1:${port}`,
    '--oidc-issuer', provider.issuer, '--oidc-audience', CLIENT_ID, '--oidc-scope', SCOPE], {
    env: { ...process.env, RAMPART_RESOLVER: 'off', RAMPART_TOKEN: API_TOKEN },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`rampart serve did not start:\n${seen}`)), 120_000);
    const read = (chunk) => {
      seen += chunk;
      if (seen.includes('Sign-in: ')) {
        clearTimeout(timer);
        resolve();
      }
    };
    rampart.stdout.on('data', read);
    rampart.stderr.on('data', read);
    rampart.on('exit', (code) => reject(new Error(`rampart serve exited with ${code}:\n${seen}`)));
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
});

after(async () => {
  await browser?.close();
  rampart?.kill();
  await provider?.stop();
  if (data) fs.rmSync(data, { recursive: true, force: true });
});

// A page whose bearer tokens sent to Rampart are collected; requests beyond Rampart and the
// provider are aborted (the provider's login page asks for a web font).
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
const AXE = fs.readFileSync(path.join(here, 'node_modules/axe-core/axe.min.js'), 'utf8');

async function page(options = { viewport: { width: 1280, height: 900 } }) {
  const context = await browser.newContext(options);
  const p = await context.newPage();
  const seen = { bearers: [], errors: [], grants: [] };
  p.on('pageerror', (e) => seen.errors.push(e.message));
  p.on('request', (r) => {
    const auth = r.headers().authorization;
    if (r.url().startsWith(origin) && auth) seen.bearers.push(auth.replace(/^Bearer /, ''));
    if (r.url() === `${provider.issuer}/token` && r.method() === 'POST') {
      seen.grants.push(new URLSearchParams(r.postData()).get('grant_type'));
    }
  });
  await p.route('**/*', (route) => {
    const url = new URL(route.request().url());
    return url.origin === origin || url.origin === provider.issuer ? route.continue() : route.abort();
  });
  return { page: p, context, seen };
}

async function signIn(p, user, address = '/ui/domains') {
  await p.goto(origin + address);
  // The dashboard sends the browser to the provider's login page.
  await p.waitForURL((u) => u.origin === provider.issuer, { timeout: 30_000 });
  await p.fill('input[name=login]', user);
  await p.fill('input[name=password]', 'any password');
  await p.click('button[type=submit]');
  await p.waitForURL((u) => u.origin === origin && !u.searchParams.has('code'), { timeout: 30_000 });
  await p.waitForSelector('[data-screen][data-ready]', { timeout: 30_000 });
}

async function as(bearer, method, pathname, body) {
  const response = await fetch(origin + pathname, {
    method,
    headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, json: await response.json() };
}

test('the API answers people only with a valid token, and scripts with the API token', async () => {
  const signInConfig = await (await fetch(`${origin}/v1/sign-in`)).json();
  assert.deepEqual(signInConfig, {
    method: 'oidc',
    oidc: {
      issuer: provider.issuer,
      client_id: CLIENT_ID,
      scope: SCOPE,
      authorization_endpoint: `${provider.issuer}/auth`,
      token_endpoint: `${provider.issuer}/token`,
      end_session_endpoint: `${provider.issuer}/session/end`,
    },
  });
  // The page may talk to Rampart and the provider only, and run no inline script but its
  // import map.
  const ui = await fetch(`${origin}/ui/domains`);
  const policy = ui.headers.get('content-security-policy');
  assert.match(policy, /^default-src 'self'; script-src 'self' 'sha256-[A-Za-z0-9+/]{43}='; /);
  assert.ok(policy.includes(`; connect-src 'self' ${provider.issuer}; `), policy);
  assert.equal(ui.headers.get('referrer-policy'), 'no-referrer');
  const none = await fetch(`${origin}/v1/domains`);
  assert.equal(none.status, 401);
  assert.deepEqual(await none.json(), {
    error: 'unauthorized',
    message: 'sign in, and send the token as `Authorization: Bearer <token>`',
  });
  assert.deepEqual(await as('not-a-jwt', 'GET', '/v1/domains'), {
    status: 401,
    json: { error: 'unauthorized', message: 'the bearer token is not a signed JWT: InvalidToken' },
  });
  assert.deepEqual(await as(API_TOKEN, 'GET', '/v1/me'), { status: 200, json: { admin: true, name: 'API token' } });
});

test('a reader signs in, reads, cannot change anything, and signs out', async () => {
  const { page: p, context, seen } = await page();
  await signIn(p, 'reader@example.com', '/ui/d/stalw.art/mta-sts?from=2022-10-29&to=2022-11-27');
  // Back where the sign-in started, with the address intact.
  assert.equal(new URL(p.url()).pathname, '/ui/d/stalw.art/mta-sts');
  assert.equal(new URL(p.url()).searchParams.get('from'), '2022-10-29');
  await p.waitForSelector('.who .chip');
  assert.match(await p.textContent('.who'), /reader@example\.com\s+reader\s+Sign out/);
  // No form that would be refused.
  assert.equal(await p.locator('#mx-input').count(), 0);
  assert.match(await p.textContent('main'), /changing it needs the rampart-admin group/);
  await p.goto(`${origin}/ui/domains`);
  await p.waitForURL((u) => u.origin === provider.issuer || u.pathname === '/ui/domains');
  // A reload forgets the tokens (memory only): the provider's session signs in again at once.
  await p.waitForSelector('[data-screen][data-ready]', { timeout: 30_000 });
  assert.equal(await p.locator('#add-title').count(), 0, 'no Add a domain form for a reader');
  await p.screenshot({ path: path.join(SHOTS, 'sign-in-reader.png') });

  const token = seen.bearers.at(-1);
  assert.ok(token?.split('.').length === 3, 'the dashboard sends the ID token');
  // Whatever the UI shows, the API refuses the reader's changes.
  assert.deepEqual(await as(token, 'POST', '/v1/domains', { domain: 'reader.example' }), {
    status: 403,
    json: {
      error: 'forbidden',
      message: 'this token may read but not change anything; changes need the "rampart-admin" group or the "rampart/admin" scope',
    },
  });
  assert.deepEqual(await as(token, 'GET', '/v1/me'), { status: 200, json: { admin: false, name: 'reader@example.com' } });
  // Tokens are never written to storage.
  const stored = await p.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
  assert.ok(!stored.includes(token.split('.')[1]), `a token was stored: ${stored}`);

  await p.click('.who button');
  // The provider asks to confirm, then sends the browser back to the dashboard.
  await p.waitForURL((u) => u.origin === provider.issuer, { timeout: 30_000 });
  await p.click('button[name=logout][value=yes]');
  await p.waitForURL(`${origin}/ui/signed-out`, { timeout: 30_000 });
  await p.waitForSelector('.sign-in');
  assert.match(await p.textContent('main'), /Signed out/);
  assert.equal(await p.locator('.who').count(), 0);
  await p.screenshot({ path: path.join(SHOTS, 'sign-in-signed-out.png') });
  // Signed out at the provider too: signing in asks for the login again.
  await p.click('.sign-in button');
  await p.waitForSelector('input[name=login]', { timeout: 30_000 });
  assert.deepEqual(seen.errors, []);
  await context.close();
});

test('an admin signs in and changes things; an expiring token is refreshed', async () => {
  const { page: p, context, seen } = await page();
  await signIn(p, 'admin@example.com');
  assert.match(await p.textContent('.who'), /admin@example\.com\s+Sign out/);
  await p.fill('form.copy-row input[name=domain]', 'signed-in.example');
  await p.click('form.copy-row button[type=submit]');
  await p.waitForSelector('text=Publish these records for signed-in.example', { timeout: 10_000 })
    .catch(async (e) => { await p.screenshot({ path: path.join(SHOTS, 'sign-in-admin-failed.png') }); throw e; });
  const token = seen.bearers.at(-1);
  assert.deepEqual(await as(token, 'GET', '/v1/me'), { status: 200, json: { admin: true, name: 'admin@example.com' } });
  const removed = await as(token, 'DELETE', '/v1/domains/signed-in.example');
  assert.equal(removed.status, 200, JSON.stringify(removed.json));
  await p.screenshot({ path: path.join(SHOTS, 'sign-in-admin.png') });

  // Once the ID token is within 30 s of expiring, the next request refreshes it first.
  assert.equal(provider.refreshes.count, 0);
  await p.waitForTimeout((ID_TOKEN_SECONDS - 30 + 2) * 1000);
  await p.click('header a[href^="/ui/messages"]');
  await p.waitForSelector('r-messages[data-ready]');
  assert.ok(provider.refreshes.count >= 1, `the token was refreshed: ${seen.grants}`);
  assert.notEqual(seen.bearers.at(-1), token, 'the new token is sent');
  assert.equal((await as(seen.bearers.at(-1), 'GET', '/v1/me')).status, 200);

  // A 401 (a token the API no longer takes: here one answer stood in for by the browser)
  // refreshes the token once and sends the request again.
  const before = provider.refreshes.count;
  let refused = 0;
  await p.route(`${origin}/v1/overview*`, (route) => {
    if (refused++ > 0) return route.continue();
    return route.fulfill({ status: 401, json: { error: 'unauthorized', message: 'the token has expired; sign in again' } });
  });
  await p.click('a.brand');
  await p.waitForSelector('r-domains[data-ready] table');
  assert.equal(refused, 2, 'refused once, then sent again');
  assert.equal(provider.refreshes.count, before + 1);
  assert.equal(await p.locator('.error-box').count(), 0);
  assert.deepEqual(seen.errors, []);
  await context.close();
});

test('on a phone in dark: signed in as a reader, and signed out, the page fits and passes axe', async () => {
  const { page: p, context, seen } = await page({ ...PHONE, colorScheme: 'dark' });
  await signIn(p, 'reader-phone@example.com', '/ui/d/stalw.art/mta-sts');
  await p.waitForSelector('.who .chip');
  const overflow = () => p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.equal(await overflow(), 0, 'nothing wider than the screen');
  await p.screenshot({ path: path.join(SHOTS, 'sign-in-reader-phone-dark.png'), fullPage: true });
  await p.goto(`${origin}/ui/signed-out`);
  await p.waitForSelector('.sign-in');
  assert.equal(await overflow(), 0);
  await p.evaluate(AXE); // through DevTools: the page's CSP allows no inline script
  const violations = await p.evaluate(async () => (await window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa'] }))
    .violations.filter((v) => ['serious', 'critical'].includes(v.impact)).map((v) => v.id));
  assert.deepEqual(violations, []);
  await p.screenshot({ path: path.join(SHOTS, 'sign-in-signed-out-phone-dark.png') });
  assert.deepEqual(seen.errors, []);
  await context.close();
});

test('a refused sign-in, and a deployment without sign-in, say so in place', async () => {
  const { page: p, context } = await page();
  await p.goto(`${origin}/ui/?error=access_denied&error_description=the+user+cancelled&state=nope`);
  await p.waitForSelector('.sign-in [role=alert]');
  assert.equal(
    (await p.textContent('.sign-in [role=alert]')).trim(),
    'The identity provider refused the sign-in: access_denied (the user cancelled).',
  );
  assert.equal(await p.locator('.sign-in button', { hasText: 'Sign in' }).count(), 1);
  assert.equal(new URL(p.url()).search, '', 'the error leaves the address');

  // A deployment on IAM alone (the Lambda's answer when neither CognitoSignIn nor JwtIssuer
  // is set), stood in for by the browser: the only answer here not from Rampart itself.
  await p.route(`${origin}/v1/sign-in`, (route) => route.fulfill({ json: { method: 'iam', oidc: null } }));
  await p.goto(`${origin}/ui/domains`);
  await p.waitForSelector('.sign-in [role=alert]');
  assert.match(await p.textContent('.sign-in h1'), /Sign-in is not set up/);
  assert.match(await p.textContent('.sign-in [role=alert]'), /CognitoSignIn=true or with JwtIssuer/);
  await p.screenshot({ path: path.join(SHOTS, 'sign-in-iam.png') });
  await context.close();
});
