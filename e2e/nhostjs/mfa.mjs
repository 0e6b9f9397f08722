// TOTP second factor through the published @nhost/nhost-js SDK: changeUserMfa,
// verifyChangeUserMfa, signInEmailPassword answering an MFA challenge, and
// verifySignInMfaTotp. Kept apart from run.mjs (the shared scenario file) so
// the MFA scenarios merge cleanly; the Go test TestNhostJSMFA runs it against
// a server with LATCHKEY_MFA_ENABLED.
//
// Usage: LATCHKEY_URL=… CLOCK_URL=… node mfa.mjs
// The test server runs on a clock the Go test controls: GET $CLOCK_URL/now
// answers {"ms": …}, POST $CLOCK_URL/next-step moves it to the next 30-second
// step. TOTP codes come from the otpauth package at that time.

import { randomBytes } from 'node:crypto';
import { createClient } from '@nhost/nhost-js';
import { MemoryStorage } from '@nhost/nhost-js/session';
import { Secret, TOTP } from 'otpauth';

const base = (process.env.LATCHKEY_URL || '').replace(/\/+$/, '');
const clock = (process.env.CLOCK_URL || '').replace(/\/+$/, '');
if (!base || !clock) {
  console.error('FAIL: set LATCHKEY_URL and CLOCK_URL');
  process.exit(2);
}

const nhost = createClient({ authUrl: `${base}/v1`, storage: new MemoryStorage() });
const suffix = randomBytes(6).toString('hex');
const email = `nhostjs-mfa-${suffix}@example.com`;
const password = `mfa-pw-${suffix}`;

class StepError extends Error {}
const check = (cond, message) => { if (!cond) throw new StepError(message); };

function describe(err) {
  if (err instanceof StepError) return err.message;
  if (err && typeof err.status === 'number') return `HTTP ${err.status} ${JSON.stringify(err.body)} (${err.message})`;
  return err?.stack || String(err);
}

async function step(name, fn) {
  try {
    await fn();
    console.log(`ok  ${name}`);
  } catch (err) {
    console.error(`FAIL ${name}: ${describe(err)}`);
    process.exit(1);
  }
}

async function expectError(fn, status, code) {
  let err;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  check(err, `expected HTTP ${status} ${code}, but the call succeeded`);
  if (err instanceof StepError) throw err;
  check(err.status === status && err.body?.error === code, `expected HTTP ${status} ${code}, got ${describe(err)}`);
}

async function serverNow() {
  const res = await fetch(`${clock}/now`);
  return (await res.json()).ms;
}

async function nextStep() {
  const res = await fetch(`${clock}/next-step`, { method: 'POST' });
  check(res.ok, `clock: HTTP ${res.status}`);
}

let totp;
const code = async () => totp.generate({ timestamp: await serverNow() });
const stored = () => nhost.getUserSession();

await step('sign up', async () => {
  const res = await nhost.auth.signUpEmailPassword({ email, password });
  check(res.body.session, 'no session at sign-up');
});

await step('changeUserMfa: a base32 secret and a PNG QR code', async () => {
  const res = await nhost.auth.changeUserMfa();
  check(/^[A-Z2-7]+=*$/.test(res.body.totpSecret), `totpSecret ${res.body.totpSecret} is not base32`);
  check(res.body.imageUrl.startsWith('data:image/png;base64,'), 'imageUrl is not a PNG data URL');
  totp = new TOTP({ secret: Secret.fromBase32(res.body.totpSecret), digits: 6, period: 30, algorithm: 'SHA1' });
});

await step('verifyChangeUserMfa activates TOTP with a current code', async () => {
  await nextStep();
  const res = await nhost.auth.verifyChangeUserMfa({ code: await code(), activeMfaType: 'totp' });
  check(res.body === 'OK', `expected "OK", got ${JSON.stringify(res.body)}`);
  const user = await nhost.auth.getUser();
  check(user.body.activeMfaType === 'totp', `activeMfaType ${user.body.activeMfaType}`);
});

let ticket;

await step('signInEmailPassword answers an MFA challenge and no session', async () => {
  await nextStep();
  const before = stored()?.refreshToken;
  const res = await nhost.auth.signInEmailPassword({ email, password });
  check(!res.body.session, 'a session came with the challenge');
  check(res.body.mfa?.ticket?.startsWith('mfaTotp:'), `mfa ${JSON.stringify(res.body.mfa)}`);
  check(stored()?.refreshToken === before, 'the SDK replaced its session on a challenge');
  ticket = res.body.mfa.ticket;
});

await step('a wrong code is refused (401 invalid-totp)', async () => {
  await expectError(() => nhost.auth.verifySignInMfaTotp({ ticket, otp: '000000' }), 401, 'invalid-totp');
});

let used;

await step('verifySignInMfaTotp opens the session; the SDK stores it', async () => {
  used = await code();
  const res = await nhost.auth.verifySignInMfaTotp({ ticket, otp: used });
  check(res.body.session?.user?.email === email, 'no session for the user');
  check(stored()?.refreshToken === res.body.session.refreshToken, 'the SDK did not store the session');
});

await step('the same code is refused on a new ticket (used once)', async () => {
  const res = await nhost.auth.signInEmailPassword({ email, password });
  await expectError(() => nhost.auth.verifySignInMfaTotp({ ticket: res.body.mfa.ticket, otp: used }), 401, 'invalid-totp');
});

await step('verifyChangeUserMfa with an empty type turns TOTP off', async () => {
  await nextStep();
  const res = await nhost.auth.verifyChangeUserMfa({ code: await code(), activeMfaType: '' });
  check(res.body === 'OK', `expected "OK", got ${JSON.stringify(res.body)}`);
  const again = await nhost.auth.signInEmailPassword({ email, password });
  check(again.body.session && !again.body.mfa, 'the password alone did not sign in after TOTP was turned off');
});

console.log('all steps passed');
