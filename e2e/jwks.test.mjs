// An independent verifier against jwt_jwks and jwt_discovery (issue 14):
// Node's `jose` (createRemoteJWKSet + jwtVerify) checks the tokens that a
// Caddy of its own (built from ../cmd/caddy, on a loopback port of its own)
// issues with an RS256, an ES256 and an EdDSA backend, using nothing but
// the JWK Set that Caddy publishes, found directly and through the
// discovery document. No browser; a few seconds.
//
//	node --test jwks.test.mjs                 builds Caddy itself (needs go)
//	CADDY_BIN=/path/to/caddy node --test jwks.test.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, createPublicKey } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createRemoteJWKSet, jwtVerify, decodeProtectedHeader, decodeJwt, importJWK,
  calculateJwkThumbprint, SignJWT, errors,
} from 'jose';
import { freePort, spawnCaddy, stopCaddy, waitForPort } from './net.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');
const USER = 'alice';
const PASSWORD = 'pw-for-the-jwks-e2e-test';
const AUDIENCE = 'nodejs';
const JWKS_PATH = '/.well-known/jwks.json';
const DISCOVERY_PATH = '/.well-known/openid-configuration';

// The backends: name, algorithm, how node:crypto makes its key, and the kid
// given on its sign_key line (none: Caddy uses the RFC 7638 thumbprint).
const BACKENDS = [
  { name: 'rs', alg: 'RS256', kty: 'RSA', gen: ['rsa', { modulusLength: 2048 }], kid: 'rs-2026' },
  { name: 'es', alg: 'ES256', kty: 'EC', gen: ['ec', { namedCurve: 'P-256' }] },
  { name: 'ed', alg: 'EdDSA', kty: 'OKP', gen: ['ed25519', {}] },
];
const DISCOVERED = BACKENDS[1]; // the backend jwt_discovery describes
const loginPath = (b) => `/${b.alg.toLowerCase()}/login`;
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

let work; // temp dir: keys, Caddyfile, Caddy's storage
let caddy; // the Caddy process
let caddyLog = '';
let base; // http://127.0.0.1:<port>, also every backend's issuer

// login signs USER in at backend b's jwt_login as an API client and
// returns the access token.
async function login(b) {
  const res = await fetch(`${base}${loginPath(b)}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
    body: new URLSearchParams({ username: USER, password: PASSWORD }),
  });
  const text = await res.text();
  assert.equal(res.status, 200, `login at ${loginPath(b)}: ${text}`);
  const body = JSON.parse(text);
  assert.equal(body.token_type, 'bearer');
  assert.match(body.access_token, /^[\w-]+\.[\w-]+\.[\w-]+$/, `login at ${loginPath(b)}: ${text}`);
  return body.access_token;
}

// getJSON fetches path and returns the response and its parsed body.
async function getJSON(path) {
  const res = await fetch(`${base}${path}`);
  const text = await res.text();
  assert.equal(res.status, 200, `GET ${path}: ${text}`);
  return { res, body: JSON.parse(text) };
}

// tamper returns token with its payload changed by edit and the original
// header and signature.
function tamper(token, edit) {
  const [h, p, s] = token.split('.');
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
  edit(claims);
  return `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
}

// verifyFails asserts that jwtVerify refuses token with an error of class
// Err (a jose error).
async function verifyFails(token, keys, Err, what) {
  await assert.rejects(
    jwtVerify(token, keys, { issuer: base, audience: AUDIENCE }),
    (err) => {
      assert.ok(err instanceof Err, `${what}: expected ${Err.name}, got ${err?.name}: ${err?.message}`);
      return true;
    },
    `${what}: jose accepted it`,
  );
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'caddy-jwt-e2e-jwks-'));

  let bin = process.env.CADDY_BIN;
  if (!bin) {
    bin = join(work, 'caddy');
    execFileSync('go', ['build', '-o', bin, './cmd/caddy'], { cwd: repo, stdio: 'inherit' });
  }
  const hash = execFileSync(bin, ['hash-password', '--algorithm', 'bcrypt', '--bcrypt-cost', '4', '--plaintext', PASSWORD])
    .toString().trim();

  for (const b of BACKENDS) {
    const { privateKey } = generateKeyPairSync(...b.gen);
    b.keyFile = join(work, `${b.name}.pem`);
    writeFileSync(b.keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    b.publicJwk = createPublicKey(privateKey).export({ format: 'jwk' });
    // Without a kid on its sign_key line, the backend's tokens carry the
    // key's RFC 7638 thumbprint, as jose computes it.
    b.expectedKid = b.kid ?? await calculateJwkThumbprint(b.publicJwk, 'sha256');
  }

  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const backendBlocks = BACKENDS.map((b) => `		backend ${b.name} {
			sign_key ${b.keyFile}${b.kid ? ` ${b.kid}` : ''}
			issuer ${base}
			audience ${AUDIENCE}
			user ${USER} ${hash}
		}`).join('\n');
  writeFileSync(join(work, 'Caddyfile'), `{
	admin off
	auto_https off
	persist_config off
	jwt {
${backendBlocks}
	}
}

${base} {
${BACKENDS.map((b) => `	jwt_login ${loginPath(b)} ${b.name}`).join('\n')}
	jwt_jwks ${JWKS_PATH} ${BACKENDS.map((b) => b.name).join(' ')}
	jwt_discovery ${DISCOVERY_PATH} ${DISCOVERED.name}
	respond "public page"
}
`);
  caddy = spawnCaddy(bin, work, (d) => { caddyLog += d; });
  await waitForPort(port, caddy, () => caddyLog);
});

after(async () => {
  await stopCaddy(caddy);
  if (work) rmSync(work, { recursive: true, force: true });
  // No password, key or token may reach Caddy's log.
  for (const leak of [PASSWORD, 'PRIVATE KEY', 'eyJ']) {
    assert.ok(!caddyLog.includes(leak), `Caddy's log contains ${leak}`);
  }
});

test('the JWK Set lists each backend\'s public key, with its kid and alg, and nothing private', async () => {
  const { res, body } = await getJSON(JWKS_PATH);
  assert.equal(res.headers.get('content-type'), 'application/jwk-set+json');
  assert.match(res.headers.get('cache-control') ?? '', /\bmax-age=300\b/);
  assert.ok(res.headers.get('etag'), 'no ETag');
  assert.ok(Array.isArray(body.keys), JSON.stringify(body));
  // In the order jwt_jwks lists the backends: each one's sign_key.
  assert.deepEqual(body.keys.map((k) => k.kid), BACKENDS.map((b) => b.expectedKid));
  for (const [i, b] of BACKENDS.entries()) {
    const jwk = body.keys[i];
    assert.equal(jwk.kty, b.kty, `${b.name}: ${JSON.stringify(jwk)}`);
    assert.equal(jwk.alg, b.alg, `${b.name}: ${JSON.stringify(jwk)}`);
    assert.equal(jwk.use, 'sig', `${b.name}: ${JSON.stringify(jwk)}`);
    for (const m of PRIVATE_MEMBERS) assert.ok(!(m in jwk), `${b.name}: the published key has the private member ${m}`);
    // The published key is the public half of the key Caddy signs with, as
    // node:crypto exports it (n, e / crv, x, y / crv, x).
    for (const [m, v] of Object.entries(b.publicJwk)) assert.equal(jwk[m], v, `${b.name}: member ${m}`);
    // jose takes it as a key for its alg, and its thumbprint is the one
    // the backend computed (or the kid the Caddyfile gave).
    const key = await importJWK(jwk);
    assert.equal(key.type, 'public', `${b.name}: jose imported a ${key.type} key`);
    if (!b.kid) assert.equal(await calculateJwkThumbprint(jwk, 'sha256'), jwk.kid, `${b.name}: kid is not the RFC 7638 thumbprint`);
  }

  // A conditional GET naming the ETag gets 304.
  const again = await fetch(`${base}${JWKS_PATH}`, { headers: { 'If-None-Match': res.headers.get('etag') } });
  assert.equal(again.status, 304);
});

test('jose verifies a token of every backend against the published set', async (t) => {
  const JWKS = createRemoteJWKSet(new URL(`${base}${JWKS_PATH}`));
  const { body: set } = await getJSON(JWKS_PATH);
  for (const b of BACKENDS) {
    const token = await login(b);
    const header = decodeProtectedHeader(token);
    assert.equal(header.alg, b.alg, `${b.name}: the token's alg`);
    assert.equal(header.kid, b.expectedKid, `${b.name}: the token's kid`);
    const published = set.keys.find((k) => k.kid === header.kid);
    assert.ok(published, `${b.name}: kid ${header.kid} is not in the set ${JSON.stringify(set.keys.map((k) => k.kid))}`);
    assert.equal(published.alg, header.alg, `${b.name}: the published key's alg`);

    const { payload, protectedHeader, key } = await jwtVerify(token, JWKS, { issuer: base, audience: AUDIENCE });
    assert.equal(protectedHeader.alg, b.alg);
    assert.equal(protectedHeader.kid, b.expectedKid);
    assert.equal(key.type, 'public');
    assert.equal(payload.iss, base);
    assert.ok(payload.aud === AUDIENCE || (Array.isArray(payload.aud) && payload.aud.includes(AUDIENCE)), `aud ${JSON.stringify(payload.aud)}`);
    assert.equal(payload.sub, USER);
    assert.ok(Number.isInteger(payload.exp) && payload.exp > Date.now() / 1000, `exp ${payload.exp}`);
    // jose also refuses an algorithm other than the one allowed.
    const other = BACKENDS.find((o) => o !== b).alg;
    await assert.rejects(jwtVerify(token, JWKS, { issuer: base, audience: AUDIENCE, algorithms: [other] }),
      errors.JOSEAlgNotAllowed, `${b.name}: accepted with algorithms [${other}]`);
    t.diagnostic(`${b.name}: ${b.alg} token with kid ${header.kid} verified`);
  }
});

test('jose refuses altered tokens, a wrong issuer or audience, and a key not in the set', async () => {
  const JWKS = createRemoteJWKSet(new URL(`${base}${JWKS_PATH}`));
  const tokens = await Promise.all(BACKENDS.map(login));
  for (const [i, b] of BACKENDS.entries()) {
    const token = tokens[i];
    // The payload altered, the signature kept.
    await verifyFails(tamper(token, (c) => { c.sub = 'mallory'; }), JWKS,
      errors.JWSSignatureVerificationFailed, `${b.name}: a token with another sub`);
    await verifyFails(tamper(token, (c) => { c.exp += 3600; }), JWKS,
      errors.JWSSignatureVerificationFailed, `${b.name}: a token with a later exp`);
    // Another backend's signature under this header.
    const sig = tokens[(i + 1) % tokens.length].split('.')[2];
    await verifyFails(token.replace(/[^.]+$/, sig), JWKS,
      errors.JWSSignatureVerificationFailed, `${b.name}: a token with another backend's signature`);
    // Right token, wrong expectations.
    await assert.rejects(jwtVerify(token, JWKS, { issuer: 'https://elsewhere.example', audience: AUDIENCE }),
      errors.JWTClaimValidationFailed, `${b.name}: accepted for another issuer`);
    await assert.rejects(jwtVerify(token, JWKS, { issuer: base, audience: 'someone-else' }),
      errors.JWTClaimValidationFailed, `${b.name}: accepted for another audience`);
  }
  // The header altered too: the RS256 token's header claiming the ES256
  // key's kid (with RS256) finds no key of that kind under that kid.
  const rsToken = tokens[0];
  const header = { ...decodeProtectedHeader(rsToken), kid: BACKENDS[1].expectedKid };
  const forged = [Buffer.from(JSON.stringify(header)).toString('base64url'), ...rsToken.split('.').slice(1)].join('.');
  await verifyFails(forged, JWKS, errors.JWKSNoMatchingKey, 'an RS256 token naming the ES256 kid');

  // A well-formed token signed by a key that is not published.
  const { privateKey } = generateKeyPairSync('ed25519');
  const stranger = await new SignJWT({ sub: USER })
    .setProtectedHeader({ alg: 'EdDSA', kid: 'not-published' })
    .setIssuer(base).setAudience(AUDIENCE).setIssuedAt().setExpirationTime('5m')
    .sign(privateKey);
  await verifyFails(stranger, JWKS, errors.JWKSNoMatchingKey, 'a token of an unpublished key');
  // Even one claiming a published kid.
  const impostor = await new SignJWT(decodeJwt(tokens[2]))
    .setProtectedHeader({ alg: 'EdDSA', kid: BACKENDS[2].expectedKid })
    .sign(privateKey);
  await verifyFails(impostor, JWKS, errors.JWSSignatureVerificationFailed, 'a token of another Ed25519 key under the published kid');
});

test('the discovery document leads jose to the same set', async (t) => {
  const { res, body: doc } = await getJSON(DISCOVERY_PATH);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json\b/);
  assert.equal(doc.issuer, base);
  assert.equal(doc.jwks_uri, `${base}${JWKS_PATH}`);
  assert.equal(doc.token_endpoint, `${base}${loginPath(DISCOVERED)}`);
  assert.deepEqual(doc.id_token_signing_alg_values_supported, [DISCOVERED.alg]);
  assert.deepEqual(doc.response_types_supported, ['id_token']);
  assert.deepEqual(doc.subject_types_supported, ['public']);

  // An OpenID-style client: discover, then verify with what it found,
  // signing in at the token_endpoint it was given.
  const JWKS = createRemoteJWKSet(new URL(doc.jwks_uri));
  const res2 = await fetch(doc.token_endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ username: USER, password: PASSWORD }),
  });
  const text = await res2.text();
  assert.equal(res2.status, 200, `login at the token_endpoint: ${text}`);
  const token = JSON.parse(text).access_token;
  const { payload, protectedHeader } = await jwtVerify(token, JWKS, {
    issuer: doc.issuer, audience: AUDIENCE, algorithms: doc.id_token_signing_alg_values_supported,
  });
  assert.equal(protectedHeader.alg, DISCOVERED.alg);
  assert.equal(protectedHeader.kid, DISCOVERED.expectedKid);
  assert.equal(payload.sub, USER);

  // The set behind jwks_uri is the whole published set: the other
  // backends' tokens verify against it too.
  for (const b of BACKENDS.filter((o) => o !== DISCOVERED)) {
    const { protectedHeader: h } = await jwtVerify(await login(b), JWKS, { issuer: doc.issuer, audience: AUDIENCE });
    assert.equal(h.kid, b.expectedKid);
  }
  t.diagnostic(`jwks_uri ${doc.jwks_uri}, token_endpoint ${doc.token_endpoint}`);
});
