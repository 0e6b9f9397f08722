// SMS sign-in through the published @nhost/nhost-js SDK: signInPasswordlessSms and
// verifySignInPasswordlessSms against Latchkey, with texts going to a stand-in for Twilio that the
// Go test (TestNhostJSClientSMS) runs. Kept apart from run.mjs, which needs no SMS provider.
//
// Usage: LATCHKEY_URL=… SMSBOX_URL=… node sms.mjs
// GET $SMSBOX_URL/next?to=E164 answers the next text to that number as {"body","code"}.

import { randomInt } from 'node:crypto';
import { createClient } from '@nhost/nhost-js';
import { MemoryStorage } from '@nhost/nhost-js/session';

const base = (process.env.LATCHKEY_URL || '').replace(/\/+$/, '');
const smsbox = (process.env.SMSBOX_URL || '').replace(/\/+$/, '');
if (!base || !smsbox) {
  console.error('FAIL: set LATCHKEY_URL and SMSBOX_URL');
  process.exit(2);
}
const nhost = createClient({ authUrl: `${base}/v1`, storage: new MemoryStorage() });

// A German mobile number, typed with spaces the way people do; stored as E.164.
const digits = String(randomInt(10000000, 99999999));
const typed = `+49 151 ${digits.slice(0, 4)} ${digits.slice(4)}`;
const e164 = `+49151${digits}`;

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

async function nextText(to) {
  const res = await fetch(`${smsbox}/next?to=${encodeURIComponent(to)}`);
  if (!res.ok) throw new StepError(`smsbox: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

let code;

await step('ask for a sign-in code by SMS (a new account)', async () => {
  const res = await nhost.auth.signInPasswordlessSms({ phoneNumber: typed });
  check(res.body === 'OK', `expected the JSON string "OK", got ${JSON.stringify(res.body)}`);
  const text = await nextText(e164);
  check(/^\d{6}$/.test(text.code), `no 6-digit code in the text ${JSON.stringify(text.body)}`);
  code = text.code;
});

await step('a wrong code is refused (401 invalid-otp)', async () => {
  let err;
  try {
    await nhost.auth.verifySignInPasswordlessSms({ phoneNumber: e164, otp: code === '000000' ? '000001' : '000000' });
  } catch (e) {
    err = e;
  }
  check(err && err.status === 401 && err.body?.error === 'invalid-otp', `expected 401 invalid-otp, got ${err ? describe(err) : 'success'}`);
});

await step('the texted code signs in, and the SDK keeps the session', async () => {
  const res = await nhost.auth.verifySignInPasswordlessSms({ phoneNumber: e164, otp: code });
  const s = res.body.session;
  check(s && typeof s.accessToken === 'string' && s.refreshToken, 'no session in the answer');
  check(!res.body.mfa, 'an MFA challenge for a user without a second factor');
  check(nhost.getUserSession()?.refreshToken === s.refreshToken, 'the SDK did not store the session');
});

await step('the user has the number, verified', async () => {
  const res = await nhost.auth.getUser();
  check(res.body.phoneNumber === e164, `phoneNumber ${res.body.phoneNumber}, not ${e164}`);
  check(res.body.phoneNumberVerified === true, 'the number is not verified');
});

await step('the code works once', async () => {
  let err;
  try {
    await nhost.auth.verifySignInPasswordlessSms({ phoneNumber: e164, otp: code });
  } catch (e) {
    err = e;
  }
  check(err && err.status === 401 && err.body?.error === 'invalid-otp', `expected 401 invalid-otp, got ${err ? describe(err) : 'success'}`);
});

console.log('all steps passed');
