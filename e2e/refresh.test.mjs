// Real-browser end-to-end test of refresh tokens (SPEC §10, issue 13):
// Debian's Chromium, driven by playwright-core, against a Caddy of its own
// (built from ../cmd/caddy) on a loopback port of its own. Access tokens live
// 4 s with no leeway, so every few seconds the browser's access cookie is
// gone and jwt_auth sends it to the login page, where the refresh cookie
// renews it silently (302 → GET /auth/login → 303 back).
//
//	node --test                 builds Caddy itself (needs go)
//	CADDY_BIN=/path/to/caddy node --test

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';
import { freePort, spawnCaddy, stopCaddy, waitForPort } from './net.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');
const chromiumPath = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const USER = 'alice';
const PASSWORD = 'correct horse battery staple';
const SECRET = 'e2e-refresh-secret-not-for-production-0123456789';
const ACCESS = 'jwt_members'; // the access cookie: jwt_<backend>
const REFRESH = 'jwt_members_refresh'; // the refresh cookie: <access cookie>_refresh

// The backend's clocks. LIFETIME is short so that a 20 s visit needs several
// silent renewals; IDLE is longer than the longest gap between two renewals
// of a visit that opens a page every 1.5 s (LIFETIME + 1.5 s + a slow page
// load), yet short enough to wait out.
const LIFETIME = 4; // s, access token (and access cookie Max-Age)
const IDLE = 10; // s, refresh family idle limit
const VISIT = 20; // s, the visit of the first test
const STEP = 1500; // ms between two pages of that visit

let work; // temp dir: Caddyfile, Caddy's storage, browser profiles
let caddy; // the Caddy process
let caddyLog = '';
let base; // http://127.0.0.1:<port>
let browser;

// post sends an API client's form POST (no browser headers) to path.
function post(path, form) {
  const body = new URLSearchParams(form).toString();
  return new Promise((ok, fail) => {
    const req = httpRequest(`${base}${path}`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        'Content-Length': Buffer.byteLength(body),
        Accept: 'application/json',
      },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => ok({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('error', fail);
    req.end(body);
  });
}

async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  return { context, page };
}

async function cookie(context, name) {
  return (await context.cookies(`${base}/auth/login`)).find((c) => c.name === name);
}

// hops lists the paths of the requests that led to response, the first
// one first: ["/private/x", "/auth/login?redirect=...", "/private/x"].
function hops(response) {
  const chain = [];
  for (let req = response.request(); req; req = req.redirectedFrom()) {
    const u = new URL(req.url());
    chain.unshift(u.pathname + u.search);
  }
  return chain;
}

// bodyText is what the page shows.
async function bodyText(page) {
  return (await page.locator('body').innerText()).trim();
}

// assertLoginPage checks that page shows the login form.
async function assertLoginPage(page, what) {
  const url = new URL(page.url());
  assert.equal(url.pathname, '/auth/login', `${what}: the browser is at ${page.url()}, not the login page`);
  assert.equal(await page.getByLabel('Username').count(), 1, `${what}: no login form at ${page.url()}`);
}

// assertPrivate checks that page shows the private page at path.
async function assertPrivate(page, path, what) {
  assert.equal(page.url(), `${base}${path}`, `${what}: the browser is at ${page.url()}`);
  const text = await bodyText(page);
  assert.match(text, new RegExp(`^private page for ${USER}\\b`), `${what}: the page shows ${JSON.stringify(text)}`);
  return text;
}

// signIn opens a private page, is sent to the login page, signs in there
// and lands back on the private page.
async function signIn(page, path = '/private/') {
  const resp = await page.goto(`${base}${path}`);
  assert.equal(resp.status(), 200);
  await assertLoginPage(page, 'before signing in');
  assert.equal(new URL(page.url()).searchParams.get('redirect'), path);
  await page.getByLabel('Username').fill(USER);
  await page.getByLabel('Password').fill(PASSWORD);
  await Promise.all([
    page.waitForURL(`${base}${path}`),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  await assertPrivate(page, path, 'after signing in');
}

before(async () => {
  assert.ok(existsSync(chromiumPath), `no Chromium at ${chromiumPath} (apt-get install -y chromium)`);
  work = mkdtempSync(join(tmpdir(), 'caddy-jwt-e2e-refresh-'));

  let bin = process.env.CADDY_BIN;
  if (!bin) {
    bin = join(work, 'caddy');
    execFileSync('go', ['build', '-o', bin, './cmd/caddy'], { cwd: repo, stdio: 'inherit' });
  }
  const hash = execFileSync(bin, ['hash-password', '--plaintext', PASSWORD]).toString().trim();

  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  // The private page shows the Cookie header the app behind jwt_auth gets,
  // to check that the refresh cookie never reaches it.
  mkdirSync(work, { recursive: true });
  writeFileSync(join(work, 'Caddyfile'), `{
	admin off
	auto_https off
	persist_config off
	jwt {
		backend members {
			secret "${SECRET}"
			lifetime ${LIFETIME}s
			leeway 0s
			refresh 1h idle ${IDLE}s
			user ${USER} ${hash}
			cookie {
				insecure
				refresh_path /auth
			}
		}
	}
}

${base} {
	jwt_login /auth/login members
	jwt_logout /auth/logout members
	jwt_auth /private/* members {
		redirect /auth/login
	}
	respond /private/* "private page for {http.auth.user.id}; the app gets the cookies: {http.request.header.Cookie}"
	respond "public page"
}
`);
  caddy = spawnCaddy(bin, work, (d) => { caddyLog += d; });
  await waitForPort(port, caddy, () => caddyLog);

  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
});

after(async () => {
  if (browser) await browser.close();
  await stopCaddy(caddy);
  if (work) rmSync(work, { recursive: true, force: true });
  // No secret, password or token may reach Caddy's log.
  for (const leak of [PASSWORD, SECRET, 'eyJ']) {
    assert.ok(!caddyLog.includes(leak), `Caddy's log contains ${leak}`);
  }
});

test('the refresh cookie is HttpOnly, SameSite=Strict, at /auth only, and never reaches the app', async () => {
  const { context, page } = await newPage();
  try {
    const loggedIn = Date.now() / 1000;
    await signIn(page);
    const refresh = await cookie(context, REFRESH);
    assert.ok(refresh, `no ${REFRESH} cookie after signing in: ${JSON.stringify((await context.cookies()).map((c) => c.name))}`);
    assert.equal(refresh.httpOnly, true);
    assert.equal(refresh.sameSite, 'Strict');
    assert.equal(refresh.path, '/auth');
    assert.equal(refresh.secure, false, 'cookie { insecure } drops Secure');
    assert.equal(refresh.domain, '127.0.0.1', 'a host-only cookie (no Domain attribute)');
    // Max-Age is the refresh lifetime (1h), not the access token's.
    assert.ok(Math.abs(refresh.expires - (loggedIn + 3600)) < 60, `refresh cookie expires at ${refresh.expires}, login at ${loggedIn}`);
    assert.match(refresh.value, /^[A-Za-z0-9_-]{43}$/, 'a 256-bit base64url refresh token');

    const access = await cookie(context, ACCESS);
    assert.ok(access, `no ${ACCESS} cookie after signing in`);
    assert.equal(access.path, '/');
    assert.ok(access.expires - loggedIn <= LIFETIME + 5, `access cookie expires at ${access.expires}, login at ${loggedIn}`);
    // The access token carries the family id.
    const claims = JSON.parse(Buffer.from(access.value.split('.')[1], 'base64url').toString());
    assert.match(claims.sid ?? '', /^[A-Za-z0-9_-]{22}$/, `the access token's sid: ${JSON.stringify(claims)}`);

    // The app behind jwt_auth sees the access cookie, never the refresh
    // cookie; page scripts see neither.
    const text = await assertPrivate(page, '/private/', 'the private page');
    assert.ok(text.includes(ACCESS), `the app gets no access cookie: ${text}`);
    assert.ok(!text.includes(REFRESH) && !text.includes(refresh.value), `the app gets the refresh cookie: ${text}`);
    const scriptSees = await page.evaluate(() => document.cookie);
    assert.ok(!scriptSees.includes(REFRESH) && !scriptSees.includes(refresh.value), `document.cookie shows the refresh cookie: ${scriptSees}`);
  } finally {
    await context.close();
  }
});

test(`a person who keeps opening private pages for ${VISIT} s stays signed in through silent renewals`, async (t) => {
  const { context, page } = await newPage();
  try {
    await signIn(page);
    const first = { access: await cookie(context, ACCESS), refresh: await cookie(context, REFRESH) };
    assert.ok(first.access && first.refresh, `cookies after signing in: ${JSON.stringify((await context.cookies()).map((c) => c.name))}`);
    const accessValues = new Set([first.access.value]);
    const refreshValues = new Set([first.refresh.value]);
    let renewals = 0;
    let pages = 0;
    const loginPages = []; // every login page the browser got (should stay empty)
    page.on('response', (r) => {
      const u = new URL(r.url());
      if (u.pathname === '/auth/login' && r.status() !== 303) loginPages.push(`${r.status()} ${u.pathname}${u.search}`);
    });

    const start = Date.now();
    for (let i = 1; Date.now() - start < VISIT * 1000; i++) {
      await sleep(STEP);
      const path = `/private/page-${i}?n=${i}`;
      const resp = await page.goto(`${base}${path}`);
      const at = ((Date.now() - start) / 1000).toFixed(1);
      const chain = hops(resp);
      assert.equal(resp.status(), 200, `page ${i} at ${at} s: status ${resp.status()}, via ${chain.join(' → ')}`);
      await assertPrivate(page, path, `page ${i} at ${at} s (via ${chain.join(' → ')})`);
      if (chain.length > 1) {
        // A silent renewal: 302 to the login page, which sent the browser
        // straight back, and nothing else.
        assert.deepEqual(chain, [path, `/auth/login?redirect=${encodeURIComponent(path)}`, path],
          `page ${i} at ${at} s`);
        const viaLogin = resp.request().redirectedFrom();
        assert.equal((await viaLogin.response()).status(), 303, `page ${i}: the login page's answer`);
        assert.equal((await viaLogin.redirectedFrom().response()).status(), 302, `page ${i}: jwt_auth's answer`);
        renewals++;
      }
      pages++;
      const access = await cookie(context, ACCESS);
      const refresh = await cookie(context, REFRESH);
      assert.ok(access && refresh, `page ${i} at ${at} s: cookies ${JSON.stringify((await context.cookies()).map((c) => c.name))}`);
      accessValues.add(access.value);
      refreshValues.add(refresh.value);
    }

    t.diagnostic(`${pages} pages, ${renewals} silent renewals, ${accessValues.size} access tokens, ${refreshValues.size} refresh tokens`);
    assert.deepEqual(loginPages, [], 'the browser was shown the login page');
    // With 4 s access tokens, 20 s take four or five renewals; at least two
    // also show that a refresh made the family live past its idle limit.
    assert.ok(renewals >= 2, `only ${renewals} silent renewals in ${pages} pages`);
    assert.ok(accessValues.size >= renewals + 1, `${accessValues.size} access tokens for ${renewals} renewals`);
    assert.ok(refreshValues.size >= renewals + 1, `the refresh token was not rotated: ${refreshValues.size} values for ${renewals} renewals`);
  } finally {
    await context.close();
  }
});

test('after logout neither the browser nor the old refresh cookie gets in', async (t) => {
  const { context, page } = await newPage();
  try {
    await signIn(page);
    const oldRefresh = await cookie(context, REFRESH);
    const oldAccess = await cookie(context, ACCESS);
    assert.ok(oldRefresh && oldAccess, 'no cookies after signing in');

    // Sign out through a plain link (GET); the browser lands on the home page.
    const resp = await page.goto(`${base}/auth/logout`);
    assert.equal(resp.status(), 200);
    assert.equal(page.url(), `${base}/`);
    assert.equal(await bodyText(page), 'public page');
    assert.equal(await cookie(context, ACCESS), undefined, 'the access cookie outlives logout');
    assert.equal(await cookie(context, REFRESH), undefined, 'the refresh cookie outlives logout');

    await page.goto(`${base}/private/`);
    await assertLoginPage(page, 'a private page after logout');

    // The old refresh cookie, put back, is refused: the login page shows,
    // and the cookie is cleared.
    await context.addCookies([oldRefresh]);
    const again = await page.goto(`${base}/auth/login?redirect=${encodeURIComponent('/private/')}`);
    assert.equal(again.status(), 200);
    await assertLoginPage(page, 'the login page with the old refresh cookie');
    assert.equal(new URL(page.url()).searchParams.get('redirect'), '/private/');
    assert.equal(await cookie(context, ACCESS), undefined, 'the old refresh cookie got a new access cookie');
    assert.equal(await cookie(context, REFRESH), undefined, 'the refused refresh cookie was not cleared');
    await page.goto(`${base}/private/`);
    await assertLoginPage(page, 'a private page with the old refresh cookie put back');

    // Nor does the old refresh token work as an API grant.
    const grant = await post('/auth/login', { grant_type: 'refresh_token', refresh_token: oldRefresh.value });
    assert.equal(grant.status, 400, grant.text);
    assert.deepEqual(JSON.parse(grant.text), { error: 'invalid_grant', detail: 'REFRESH_INVALID' });

    // The old access token, put back, is refused too: logout revoked its
    // family. (Only telling while it has not expired on its own.)
    const { exp } = JSON.parse(Buffer.from(oldAccess.value.split('.')[1], 'base64url').toString());
    await context.addCookies([oldAccess]);
    const before = Date.now() / 1000;
    await page.goto(`${base}/private/`);
    if (before < exp - 0.5) {
      await assertLoginPage(page, 'a private page with the old access cookie put back');
      t.diagnostic(`the old access token, ${(exp - before).toFixed(1)} s before its exp, was refused`);
    } else {
      t.diagnostic(`the old access token had expired (${(before - exp).toFixed(1)} s ago); its revocation was not checked`);
    }
  } finally {
    await context.close();
  }
});

test(`a browser left alone for longer than idle (${IDLE} s) must sign in again`, async () => {
  const { context, page } = await newPage();
  try {
    await signIn(page);
    assert.ok(await cookie(context, REFRESH), 'no refresh cookie after signing in');
    await sleep((IDLE + 3) * 1000);
    // The refresh cookie lives an hour in the browser, but the server ended
    // the family.
    assert.ok(await cookie(context, REFRESH), 'the browser dropped the refresh cookie by itself');
    const resp = await page.goto(`${base}/private/`);
    assert.equal(resp.status(), 200);
    await assertLoginPage(page, `a private page after ${IDLE + 3} s idle`);
    assert.equal(new URL(page.url()).searchParams.get('redirect'), '/private/');
    assert.equal(await cookie(context, REFRESH), undefined, 'the refused refresh cookie was not cleared');

    // Signing in again works, with a new family.
    await page.getByLabel('Username').fill(USER);
    await page.getByLabel('Password').fill(PASSWORD);
    await Promise.all([
      page.waitForURL(`${base}/private/`),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    await assertPrivate(page, '/private/', 'after signing in again');
    assert.ok(await cookie(context, REFRESH), 'no refresh cookie after signing in again');
  } finally {
    await context.close();
  }
});
