// End-to-end check of Latchkey's Nhost dialect (/v1) with the published
// @nhost/nhost-js SDK. Usage: LATCHKEY_URL=http://127.0.0.1:4000 node run.mjs
//
// With MAILBOX_URL set (the Go test serves it), the mail flows run too:
// GET $MAILBOX_URL/next?to=ADDRESS answers the next mail delivered to that
// address over SMTP, as {"subject","text","link","code"}.
//
// Every step goes through the SDK exactly as an application would, so the
// bytes on the wire are the SDK's own. Exits non-zero on the first failure.

import { randomBytes } from 'node:crypto';
import { createClient } from '@nhost/nhost-js';
import { MemoryStorage } from '@nhost/nhost-js/session';

const base = (process.env.LATCHKEY_URL || '').replace(/\/+$/, '');
if (!base) {
  console.error('FAIL: set LATCHKEY_URL, e.g. LATCHKEY_URL=http://127.0.0.1:4000');
  process.exit(2);
}

// authUrl is used verbatim as the base of every auth path. It must end in
// /v1: the SDK recognises its own refresh call by the URL ending in /v1/token.
const nhost = createClient({ authUrl: `${base}/v1`, storage: new MemoryStorage() });

const suffix = randomBytes(6).toString('hex');
const email = `nhostjs-${suffix}@example.com`;
const oldPassword = `old-pw-${suffix}`; // >= 9 characters
const newPassword = `new-pw-${suffix}`;

class StepError extends Error {}

function check(cond, message) {
  if (!cond) throw new StepError(message);
}

// Describe a failure: the SDK throws FetchError with .status and the parsed
// JSON body in .body; a non-JSON body surfaces as a SyntaxError instead.
function describe(err) {
  if (err instanceof StepError) return err.message;
  if (err && typeof err.status === 'number') {
    return `HTTP ${err.status} ${JSON.stringify(err.body)} (${err.message})`;
  }
  if (err instanceof SyntaxError) return `response body is not JSON: ${err.message}`;
  if (err?.cause) return `${err.message}: ${err.cause.code || err.cause.message} (is Latchkey running at ${base}?)`;
  return err?.stack || String(err);
}

async function step(name, fn) {
  // A step still waiting after 20 seconds says so, so that a run the test kills shows where.
  const slow = setInterval(() => console.log(`... still in: ${name}`), 20000);
  try {
    await fn();
    console.log(`ok  ${name}`);
  } catch (err) {
    console.error(`FAIL ${name}: ${describe(err)}`);
    process.exit(1);
  } finally {
    clearInterval(slow);
  }
}

// Run fn, which must be rejected by the server with this status and error code.
async function expectError(fn, status, code) {
  let err;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  check(err, `expected HTTP ${status} ${code}, but the call succeeded`);
  if (err instanceof StepError) throw err;
  check(
    err.status === status && err.body?.error === code,
    `expected HTTP ${status} ${code}, got ${describe(err)}`,
  );
}

function checkSession(s, what) {
  check(s, `${what}: no session`);
  check(typeof s.accessToken === 'string' && s.accessToken.split('.').length === 3,
    `${what}: accessToken is not a JWT`);
  check(typeof s.refreshToken === 'string' && s.refreshToken, `${what}: no refreshToken`);
  check(typeof s.refreshTokenId === 'string' && s.refreshTokenId, `${what}: no refreshTokenId`);
  check(Number.isInteger(s.accessTokenExpiresIn) && s.accessTokenExpiresIn > 60,
    `${what}: accessTokenExpiresIn must be an integer above 60 (SDK refreshes at 60 s left), got ${s.accessTokenExpiresIn}`);
  check(s.user, `${what}: no "user" in the session (the SDK's response middleware keeps a /token answer only when it has "user")`);
  check(s.user.email === email, `${what}: session.user.email is ${s.user.email}, not ${email}`);
}

// The session the SDK has stored (it stores what /signin, /signup and /token return).
const stored = () => nhost.getUserSession();

let userId;

await step('sign up with email and password', async () => {
  const res = await nhost.auth.signUpEmailPassword({ email, password: oldPassword });
  check(res.status === 200, `status ${res.status}`);
  check(res.body.session, 'no session in the answer (does the server require email verification?)');
  checkSession(res.body.session, 'sign-up');
  userId = res.body.session.user.id;
  check(stored()?.refreshToken === res.body.session.refreshToken, 'SDK did not store the sign-up session');
});

await step('sign in with email and password', async () => {
  const res = await nhost.auth.signInEmailPassword({ email, password: oldPassword });
  check(res.body.session && !res.body.mfa, 'expected a session and no MFA challenge');
  checkSession(res.body.session, 'sign-in');
  check(res.body.session.user.id === userId, 'sign-in user id differs from sign-up');
  check(stored()?.refreshToken === res.body.session.refreshToken, 'SDK did not store the sign-in session');
  check(stored().decodedToken?.sub === userId, 'access token "sub" is not the user id');
});

await step('refresh the session through the SDK (refresh token rotates)', async () => {
  const before = stored();
  // marginSeconds = 0 forces the refresh. On failure with a still-valid access
  // token the SDK silently hands back the old session, so compare tokens.
  const after = await nhost.refreshSession(0);
  checkSession(after, 'refresh');
  check(after.refreshToken !== before.refreshToken, 'refresh token did not change');
  check(after.accessToken !== before.accessToken, 'access token did not change');
  check(stored().refreshToken === after.refreshToken, 'SDK did not store the refreshed session');
  check(after.user.id === userId, 'refreshed session is for another user');
});

await step('verify the access token (bodiless POST /token/verify)', async () => {
  const res = await nhost.auth.verifyToken();
  check(res.body === 'OK', `expected the JSON string "OK", got ${JSON.stringify(res.body)}`);
});

await step('get the user with the refreshed access token', async () => {
  const res = await nhost.auth.getUser();
  check(res.body.id === userId, `user id ${res.body.id} is not ${userId}`);
  check(res.body.email === email, `user email ${res.body.email} is not ${email}`);
  check(res.body.isAnonymous === false, 'user is anonymous');
});

await step('change the password', async () => {
  const res = await nhost.auth.changeUserPassword({ newPassword });
  check(res.body === 'OK', `expected the JSON string "OK", got ${JSON.stringify(res.body)}`);
});

let signedOutRefreshToken;

await step('sign out', async () => {
  signedOutRefreshToken = stored().refreshToken;
  const res = await nhost.auth.signOut({ refreshToken: signedOutRefreshToken });
  check(res.body === 'OK', `expected the JSON string "OK", got ${JSON.stringify(res.body)}`);
  check(stored() === null, 'SDK still holds a session after sign-out');
});

await step('the signed-out refresh token is refused (401 invalid-refresh-token)', async () => {
  await expectError(
    () => nhost.auth.refreshToken({ refreshToken: signedOutRefreshToken }),
    401,
    'invalid-refresh-token',
  );
});

await step('sign in with the new password', async () => {
  const res = await nhost.auth.signInEmailPassword({ email, password: newPassword });
  checkSession(res.body.session, 'sign-in with new password');
  check(res.body.session.user.id === userId, 'signed in as another user');
});

await step('the old password is refused (401 invalid-email-password)', async () => {
  await expectError(
    () => nhost.auth.signInEmailPassword({ email, password: oldPassword }),
    401,
    'invalid-email-password',
  );
});

const mailbox = (process.env.MAILBOX_URL || '').replace(/\/+$/, '');
const clientUrl = process.env.CLIENT_URL || '';

// The next mail to `to`, as the test's SMTP server received it.
async function nextMail(to) {
  const res = await fetch(`${mailbox}/next?to=${encodeURIComponent(to)}`);
  if (!res.ok) throw new StepError(`mailbox: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

// Open a mailed link as a browser would, without following the redirect to
// the app; returns the redirect's query.
async function openLink(link) {
  const res = await fetch(link, { redirect: 'manual' });
  check(res.status === 302, `the link answered ${res.status}, not a redirect`);
  const to = new URL(res.headers.get('location'));
  check(!clientUrl || to.href.startsWith(clientUrl), `redirected to ${to.href}, not the app at ${clientUrl}`);
  return to.searchParams;
}

if (mailbox) {
  const reset = `reset-pw-${suffix}`;

  await step('verify the address through the link the SDK asks for', async () => {
    const res = await nhost.auth.sendVerificationEmail({ email });
    check(res.body === 'OK', `expected "OK", got ${JSON.stringify(res.body)}`);
    const mail = await nextMail(email);
    check(mail.code && /^\d{8}$/.test(mail.code), `no 8-digit code in the mail`);
    const q = await openLink(mail.link);
    check(q.get('type') === 'emailVerify' && q.get('refreshToken'), `redirect query ${q}`);
    await nhost.auth.refreshToken({ refreshToken: q.get('refreshToken') });
    const user = await nhost.auth.getUser();
    check(user.body.emailVerified === true, 'the address is not verified');
  });

  await step('request a password reset by mail', async () => {
    const res = await nhost.auth.sendPasswordResetEmail({ email });
    check(res.body === 'OK', `expected the JSON string "OK", got ${JSON.stringify(res.body)}`);
  });

  await step('the reset link signs in; the SDK refreshes with its refresh token', async () => {
    const mail = await nextMail(email);
    const q = await openLink(mail.link);
    check(q.get('type') === 'passwordReset', `redirect type ${q.get('type')}`);
    check(q.get('refreshToken'), `no refreshToken in the redirect (${q})`);
    const res = await nhost.auth.refreshToken({ refreshToken: q.get('refreshToken') });
    checkSession(res.body, 'session from the reset link');
    check(stored()?.refreshToken === res.body.refreshToken, 'SDK did not store the session from the link');
  });

  await step('set the new password with the session from the link', async () => {
    const res = await nhost.auth.changeUserPassword({ newPassword: reset });
    check(res.body === 'OK', `expected "OK", got ${JSON.stringify(res.body)}`);
    const again = await nhost.auth.signInEmailPassword({ email, password: reset });
    checkSession(again.body.session, 'sign-in after reset');
  });

  await step('reset with a mailed ticket instead of a session', async () => {
    await nhost.auth.sendPasswordResetEmail({ email });
    const mail = await nextMail(email);
    const ticket = new URL(mail.link).searchParams.get('ticket');
    check(ticket?.startsWith('passwordReset:'), `ticket ${ticket} does not start with passwordReset:`);
    const res = await nhost.auth.changeUserPassword({ newPassword: `${reset}-2`, ticket });
    check(res.body === 'OK', `expected "OK", got ${JSON.stringify(res.body)}`);
    await expectError(() => nhost.auth.changeUserPassword({ newPassword: `${reset}-3`, ticket }), 401, 'invalid-ticket');
  });

  await step('sign in with a mailed one-time code', async () => {
    const res = await nhost.auth.signInOTPEmail({ email });
    check(res.body === 'OK', `expected "OK", got ${JSON.stringify(res.body)}`);
    const mail = await nextMail(email);
    check(/^\d{6}$/.test(mail.code), 'no 6-digit code in the mail');
    const signedIn = await nhost.auth.verifySignInOTPEmail({ email, otp: mail.code });
    checkSession(signedIn.body.session, 'one-time-code sign-in');
  });
}


// ===================== WebAuthn (security keys, passkeys, elevation) =====================
// Runs with WEBAUTHN=1 (the Go test enables WebAuthn on the server, its relying party being
// CLIENT_URL). The browser and the security key are played by a small ES256 software
// authenticator below, with "none" attestation; every call goes through the SDK.

import { createHash, generateKeyPairSync, sign as signData } from 'node:crypto';

const b64u = (buf) => Buffer.from(buf).toString('base64url');
const unb64u = (s) => Buffer.from(s, 'base64url');

// The little CBOR an attestation needs: maps, byte and text strings, small integers.
function cbor(v) {
  const head = (major, n) => {
    if (n < 24) return Buffer.from([(major << 5) | n]);
    if (n < 256) return Buffer.from([(major << 5) | 24, n]);
    const b = Buffer.alloc(3); b[0] = (major << 5) | 25; b.writeUInt16BE(n, 1); return b;
  };
  if (typeof v === 'number') return v >= 0 ? head(0, v) : head(1, -1 - v);
  if (typeof v === 'string') { const s = Buffer.from(v, 'utf8'); return Buffer.concat([head(3, s.length), s]); }
  if (Buffer.isBuffer(v)) return Buffer.concat([head(2, v.length), v]);
  if (v instanceof Map) {
    const parts = [head(5, v.size)];
    for (const [k, x] of v) parts.push(cbor(k), cbor(x));
    return Buffer.concat(parts);
  }
  throw new Error(`cbor: cannot encode ${typeof v}`);
}

class SoftAuthenticator {
  constructor(origin) { this.origin = origin; this.keys = []; }
  clientData(type, challenge) {
    return Buffer.from(JSON.stringify({ type, challenge, origin: this.origin, crossOrigin: false }));
  }
  // navigator.credentials.create() with the options as Latchkey answers them (no publicKey wrapper).
  create(opts) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const id = createHash('sha256').update(`${Math.random()}${Date.now()}`).digest();
    const key = { id, rpId: opts.rp.id, userHandle: unb64u(opts.user.id), privateKey, counter: 0 };
    const cose = cbor(new Map([[1, 2], [3, -7], [-1, 1], [-2, unb64u(jwk.x)], [-3, unb64u(jwk.y)]]));
    const idLen = Buffer.alloc(2); idLen.writeUInt16BE(id.length);
    const authData = Buffer.concat([createHash('sha256').update(key.rpId).digest(), Buffer.from([0x45]),
      Buffer.alloc(4), Buffer.alloc(16), idLen, id, cose]);
    const attObj = cbor(new Map([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData]]));
    this.keys.push(key);
    return {
      id: b64u(id), rawId: b64u(id), type: 'public-key', clientExtensionResults: {},
      response: {
        clientDataJSON: b64u(this.clientData('webauthn.create', opts.challenge)), attestationObject: b64u(attObj),
        authenticatorData: b64u(authData), publicKey: b64u(publicKey.export({ format: 'der', type: 'spki' })),
        publicKeyAlgorithm: -7, transports: ['usb'],
      },
    };
  }
  // navigator.credentials.get(): a key among allowCredentials, else (a passkey) the newest.
  get(opts) {
    const allowed = (opts.allowCredentials || []).map((d) => d.id);
    const key = [...this.keys].reverse().find((k) => allowed.length === 0 || allowed.includes(b64u(k.id)));
    if (!key) throw new StepError('software authenticator: no key for these options');
    key.counter += 1;
    const count = Buffer.alloc(4); count.writeUInt32BE(key.counter);
    const authData = Buffer.concat([createHash('sha256').update(key.rpId).digest(), Buffer.from([0x05]), count]);
    const clientData = this.clientData('webauthn.get', opts.challenge);
    const sig = signData('sha256', Buffer.concat([authData, createHash('sha256').update(clientData).digest()]), key.privateKey);
    return {
      id: b64u(key.id), rawId: b64u(key.id), type: 'public-key', clientExtensionResults: {},
      response: { clientDataJSON: b64u(clientData), authenticatorData: b64u(authData), signature: b64u(sig), userHandle: b64u(key.userHandle) },
    };
  }
}

async function webauthnScenarios() {
  const wa = createClient({ authUrl: `${base}/v1`, storage: new MemoryStorage() });
  const waEmail = `nhostjs-passkey-${suffix}@example.com`;
  const key = new SoftAuthenticator(new URL(clientUrl).origin);
  const claims = () => wa.getUserSession()?.decodedToken?.['https://hasura.io/jwt/claims'] || {};
  let waUserId;
  let spent;

  await step('webauthn: sign up with a passkey (options without a publicKey wrapper)', async () => {
    const opts = await wa.auth.signUpWebauthn({ email: waEmail });
    check(opts.body.challenge && opts.body.rp?.id && !opts.body.publicKey, `options ${JSON.stringify(opts.body)}`);
    const res = await wa.auth.verifySignUpWebauthn({ credential: key.create(opts.body), nickname: 'sdk key' });
    check(res.body.session?.user?.email === waEmail, 'no session for the new account');
    waUserId = res.body.session.user.id;
    check(wa.getUserSession()?.refreshToken === res.body.session.refreshToken, 'SDK did not store the sign-up session');
  });

  await step('webauthn: add a second security key with a nickname', async () => {
    const opts = await wa.auth.addSecurityKey();
    check(opts.body.excludeCredentials?.length === 1, 'the options do not exclude the key already registered');
    const res = await wa.auth.verifyAddSecurityKey({ credential: key.create(opts.body), nickname: 'backup' });
    check(res.body.id && res.body.nickname === 'backup', `answer ${JSON.stringify(res.body)}`);
  });

  await step('webauthn: sign out, then sign in with the passkey alone', async () => {
    await wa.auth.signOut({ refreshToken: wa.getUserSession().refreshToken });
    const opts = await wa.auth.signInWebauthn({});
    check(!opts.body.allowCredentials?.length, 'a passkey sign-in lists keys');
    spent = key.get(opts.body);
    const res = await wa.auth.verifySignInWebauthn({ credential: spent });
    check(res.body.session?.user?.id === waUserId, 'signed in as someone else');
    check(wa.getUserSession()?.refreshToken === res.body.session.refreshToken, 'SDK did not store the sign-in session');
    check(!claims()['x-hasura-auth-elevated'], 'a sign-in token is elevated');
  });

  await step('webauthn: a replayed assertion is refused (401 invalid-request)', async () => {
    await expectError(() => wa.auth.verifySignInWebauthn({ credential: spent }), 401, 'invalid-request');
  });

  await step('webauthn: sign in naming the address', async () => {
    const opts = await wa.auth.signInWebauthn({ email: waEmail });
    check(opts.body.allowCredentials?.length === 2, 'the options do not list the two keys');
    const res = await wa.auth.verifySignInWebauthn({ credential: key.get(opts.body) });
    check(res.body.session?.user?.id === waUserId, 'signed in as someone else');
  });

  await step('webauthn: elevate; the access token carries x-hasura-auth-elevated', async () => {
    const opts = await wa.auth.elevateWebauthn();
    const res = await wa.auth.verifyElevateWebauthn({ credential: key.get(opts.body) });
    check(res.body.session?.accessToken, 'no elevated session');
    wa.sessionStorage.set(res.body.session);
    check(claims()['x-hasura-auth-elevated'] === waUserId, `claims ${JSON.stringify(claims())}`);
  });
}

if (process.env.WEBAUTHN === '1') {
  await webauthnScenarios();
}
// =================== end of WebAuthn ===================

console.log('all steps passed');
