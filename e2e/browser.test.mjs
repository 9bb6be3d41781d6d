// Real-browser end-to-end test of caddy-jwt's browser flow (issue 3):
// Debian's Chromium, driven by playwright-core, against a Caddy built from
// ../cmd/caddy that serves a static site on 127.0.0.1.
//
//	node --test                 builds Caddy itself (needs go)
//	CADDY_BIN=/path/to/caddy node --test
//
// Screenshots go to e2e/artifacts/ (git-ignored).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { freePort, spawnCaddy, stopCaddy, waitForPort } from './net.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');
const artifacts = join(here, 'artifacts');
const chromiumPath = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const USER = 'alice';
const PASSWORD = 'correct horse battery staple';

let work; // temp dir: Caddy binary, Caddyfile, site, browser profiles
let caddy; // the Caddy process
let caddyLog = '';
let base; // http://127.0.0.1:<port>
let otherSite; // http://localhost:<port>: another site, for the login CSRF test

function write(path, content) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
}

// launch starts Chromium with a fresh profile of its own.
async function launch(options = {}) {
  const profile = mkdtempSync(join(work, 'profile-'));
  return chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
    viewport: { width: 1280, height: 800 },
    ...options,
  });
}

before(async () => {
  assert.ok(existsSync(chromiumPath), `no Chromium at ${chromiumPath} (apt-get install -y chromium)`);
  mkdirSync(artifacts, { recursive: true });
  work = mkdtempSync(join(tmpdir(), 'caddy-jwt-e2e-'));

  let bin = process.env.CADDY_BIN;
  if (!bin) {
    bin = join(work, 'caddy');
    execFileSync('go', ['build', '-o', bin, './cmd/caddy'], { cwd: repo, stdio: 'inherit' });
  }
  const hash = execFileSync(bin, ['hash-password', '--plaintext', PASSWORD]).toString().trim();

  const site = join(work, 'site');
  write(join(site, 'index.html'), `<!doctype html><meta charset="utf-8"><title>Public</title>
<h1>Public page</h1><p><a href="/private/">Members area</a></p>`);
  write(join(site, 'private', 'index.html'), `<!doctype html><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Members area</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}
button{font:inherit;padding:.4rem .9rem}</style>
<h1>Members area</h1>
<p id="secret">Only signed-in people see this page.</p>
<form method="post" action="/logout"><button type="submit">Sign out</button></form>`);

  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const otherPort = await freePort();
  otherSite = `http://localhost:${otherPort}`;
  // Another site (localhost is not 127.0.0.1's site) whose page posts a
  // login to ours: the login CSRF of the attack test below.
  write(join(work, 'other', 'index.html'), `<!doctype html><meta charset="utf-8"><title>Prizes</title>
<form method="post" action="${base}/login">
<input type="hidden" name="username" value="${USER}">
<input type="hidden" name="password" value="${PASSWORD}">
<input type="hidden" name="redirect" value="/private/">
<button type="submit">Claim your prize</button></form>`);
  // The cookie keeps its production defaults (Secure, HttpOnly, Lax):
  // Chromium treats http://127.0.0.1 as a secure context.
  write(join(work, 'Caddyfile'), `{
	admin off
	auto_https off
	persist_config off
	jwt {
		backend members {
			secret "e2e-secret-not-for-production-0123456789"
			lifetime 15m
			user ${USER} ${hash}
			cookie
		}
	}
}

${base} {
	root * ${site}
	jwt_login /login
	jwt_logout /logout {
		redirect /login
	}
	jwt_auth /private/* {
		redirect /login
	}
	file_server
}

${otherSite} {
	bind 127.0.0.1
	root * ${join(work, 'other')}
	file_server
}
`);
  caddy = spawnCaddy(bin, work, (d) => { caddyLog += d; });
  await waitForPort(port, caddy, () => caddyLog);
  await waitForPort(otherPort, caddy, () => caddyLog);
});

after(async () => {
  await stopCaddy(caddy);
  if (work) rmSync(work, { recursive: true, force: true });
  // No secret, password or token may reach Caddy's log.
  for (const leak of [PASSWORD, 'e2e-secret-not-for-production', 'eyJ']) {
    assert.ok(!caddyLog.includes(leak), `Caddy's log contains ${leak}`);
  }
});

test('a person signs in to the private area, stays in, and signs out', async () => {
  const context = await launch();
  try {
    const page = context.pages()[0] ?? await context.newPage();

    // 1. The protected page sends the browser to the login page.
    let resp = await page.goto(`${base}/private/`);
    let url = new URL(page.url());
    assert.equal(url.pathname, '/login');
    assert.equal(url.searchParams.get('redirect'), '/private/');
    assert.equal(resp.status(), 200);
    assert.equal(await page.locator('input[name="redirect"]').inputValue(), '/private/');
    assert.equal(await page.getByLabel('Username').getAttribute('autocomplete'), 'username');
    assert.equal(await page.getByLabel('Password').getAttribute('autocomplete'), 'current-password');
    assert.equal(await page.getByRole('alert').isVisible(), false);
    await page.screenshot({ path: join(artifacts, 'login.png') });
    // A tight picture of the form, for the README (docs/login-page.png).
    const card = await page.locator('main').boundingBox();
    await page.screenshot({
      path: join(artifacts, 'login-card.png'),
      clip: { x: card.x - 48, y: card.y - 40, width: card.width + 96, height: card.height + 80 },
    });

    // 2. A wrong password shows the page again with a message.
    await page.getByLabel('Username').fill(USER);
    await page.getByLabel('Password').fill('wrong password');
    [resp] = await Promise.all([
      page.waitForNavigation(),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    assert.equal(resp.status(), 400);
    assert.equal(new URL(page.url()).pathname, '/login');
    assert.equal((await page.getByRole('alert').textContent()).trim(), 'Wrong username or password.');
    assert.equal(await page.getByLabel('Username').inputValue(), USER, 'the username is kept');
    assert.equal(await page.locator('input[name="redirect"]').inputValue(), '/private/');
    await page.screenshot({ path: join(artifacts, 'login-error.png') });

    // 3. The right password lands back on the private page.
    await page.getByLabel('Password').fill(PASSWORD);
    [resp] = await Promise.all([
      page.waitForNavigation({ url: `${base}/private/` }),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    assert.equal(resp.status(), 200);
    assert.equal(page.url(), `${base}/private/`);
    assert.equal(await page.locator('#secret').textContent(), 'Only signed-in people see this page.');
    assert.equal(resp.headers()['cache-control'], 'private, no-cache');
    await page.screenshot({ path: join(artifacts, 'private.png') });

    // 4. A reload stays in.
    resp = await page.reload();
    assert.equal(resp.status(), 200);
    assert.equal(page.url(), `${base}/private/`);
    assert.equal(await page.locator('h1').textContent(), 'Members area');

    // 5. The token cookie is HttpOnly: page scripts cannot read it.
    const cookies = await context.cookies(base);
    const jwt = cookies.find((c) => c.name === 'jwt_members');
    assert.ok(jwt, `no jwt_members cookie in ${JSON.stringify(cookies.map((c) => c.name))}`);
    assert.equal(jwt.httpOnly, true);
    assert.equal(jwt.secure, true);
    assert.equal(jwt.sameSite, 'Lax');
    assert.equal(jwt.path, '/');
    const scriptSees = await page.evaluate(() => document.cookie);
    assert.ok(!scriptSees.includes('jwt_members') && !scriptSees.includes(jwt.value),
      `document.cookie shows the token: ${scriptSees}`);
    // The device cookie, which lets this browser in during a login flood,
    // goes back only to the login path, and only from this site.
    const device = (await context.cookies(`${base}/login`)).find((c) => c.name === 'jwt_device_members');
    assert.ok(device, 'no jwt_device_members cookie after signing in');
    assert.equal(device.httpOnly, true);
    assert.equal(device.sameSite, 'Strict');
    assert.equal(device.path, '/login');
    assert.ok(!scriptSees.includes('jwt_device_members'), `document.cookie shows the device cookie: ${scriptSees}`);

    // 6. Signing out clears the cookie and the next visit needs a login.
    await Promise.all([
      page.waitForNavigation(),
      page.getByRole('button', { name: 'Sign out' }).click(),
    ]);
    assert.equal(new URL(page.url()).pathname, '/login');
    assert.equal((await context.cookies(base)).find((c) => c.name === 'jwt_members'), undefined);
    await page.goto(`${base}/private/`);
    url = new URL(page.url());
    assert.equal(url.pathname, '/login');
    assert.equal(url.searchParams.get('redirect'), '/private/');
  } finally {
    await context.close();
  }
});

test('the login page works with JavaScript off', async () => {
  const context = await launch({ javaScriptEnabled: false });
  try {
    const page = context.pages()[0] ?? await context.newPage();
    await page.goto(`${base}/private/?tab=2`);
    assert.equal(new URL(page.url()).pathname, '/login');
    await page.getByLabel('Username').fill(USER);
    await page.getByLabel('Password').fill(PASSWORD);
    await Promise.all([
      page.waitForNavigation({ url: `${base}/private/?tab=2` }),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    assert.equal(await page.locator('h1').textContent(), 'Members area');
  } finally {
    await context.close();
  }
});

test('the login page fits a phone screen', async () => {
  const context = await launch({
    viewport: { width: 375, height: 667 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
  });
  try {
    const page = context.pages()[0] ?? await context.newPage();
    await page.goto(`${base}/login`);
    const { scrollWidth, innerWidth } = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
    }));
    assert.ok(scrollWidth <= innerWidth, `the page scrolls sideways: ${scrollWidth} > ${innerWidth}`);
    for (const label of ['Username', 'Password']) {
      const box = await page.getByLabel(label).boundingBox();
      assert.ok(box.x >= 0 && box.x + box.width <= innerWidth, `${label} field is cut off: ${JSON.stringify(box)}`);
      assert.ok(box.height >= 40, `${label} field is too small to tap: ${box.height}px`);
    }
    const button = await page.getByRole('button', { name: 'Sign in' }).boundingBox();
    assert.ok(button.x + button.width <= innerWidth && button.height >= 40, `button: ${JSON.stringify(button)}`);
    await page.screenshot({ path: join(artifacts, 'login-phone.png') });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.screenshot({ path: join(artifacts, 'login-phone-dark.png') });
  } finally {
    await context.close();
  }
});

test('an open redirect through the login form goes home instead', async () => {
  const context = await launch();
  try {
    const page = context.pages()[0] ?? await context.newPage();
    await page.goto(`${base}/login?redirect=${encodeURIComponent('//evil.example/')}`);
    assert.equal(await page.locator('input[name="redirect"]').inputValue(), '');
    await page.getByLabel('Username').fill(USER);
    await page.getByLabel('Password').fill(PASSWORD);
    await Promise.all([
      page.waitForNavigation({ url: `${base}/` }),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    assert.equal(new URL(page.url()).host, new URL(base).host);
  } finally {
    await context.close();
  }
});

test('a login form on another site does not sign the visitor in (login CSRF)', async () => {
  const context = await launch();
  try {
    const page = context.pages()[0] ?? await context.newPage();
    await page.goto(`${otherSite}/`);
    const [resp] = await Promise.all([
      page.waitForNavigation({ url: `${base}/login` }),
      page.getByRole('button', { name: 'Claim your prize' }).click(),
    ]);
    assert.equal(resp.status(), 403);
    assert.match(await page.getByRole('alert').textContent(), /sent from another site/);
    assert.equal((await context.cookies(base)).find((c) => c.name === 'jwt_members'), undefined);
    await page.goto(`${base}/private/`);
    assert.equal(new URL(page.url()).pathname, '/login');
  } finally {
    await context.close();
  }
});
