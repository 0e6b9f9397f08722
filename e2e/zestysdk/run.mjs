// End-to-end check of Latchkey's Zesty Auth dialect with the published @zesty-io/sdk 1.x.
// Usage: LATCHKEY_URL=http://127.0.0.1:4000 ZESTY_EMAIL=… ZESTY_PASSWORD=… node run.mjs
//
// The account must exist (the Go test signs it up). The SDK logs in with a multipart form and
// reads the token from meta.token; verifyToken sends "Authorization: Bearer <token>".
// Exits non-zero on the first failure.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const Auth = require('@zesty-io/sdk/src/services/auth');

const base = (process.env.LATCHKEY_URL || '').replace(/\/+$/, '');
const email = process.env.ZESTY_EMAIL;
const password = process.env.ZESTY_PASSWORD;
if (!base || !email || !password) {
  console.error('FAIL: set LATCHKEY_URL, ZESTY_EMAIL and ZESTY_PASSWORD');
  process.exit(2);
}

const auth = new Auth({ authURL: base });

function check(cond, message) {
  if (!cond) {
    console.error(`FAIL ${message}`);
    process.exit(1);
  }
}

async function step(name, fn) {
  try {
    await fn();
    console.log(`ok  ${name}`);
  } catch (err) {
    console.error(`FAIL ${name}: ${err?.stack || err}`);
    process.exit(1);
  }
}

let token;

await step('log in (multipart form)', async () => {
  const res = await auth.login(email, password);
  check(res.statusCode === 200, `login: status ${res.statusCode} ${JSON.stringify(res)}`);
  check(typeof res.token === 'string' && res.token.length > 0, 'login: no meta.token');
  check(res.data === res.token, 'login: data and meta.token differ');
  token = res.token;
});

await step('verify the session token (Bearer)', async () => {
  const res = await auth.verifyToken(token);
  check(res.verified === true && res.statusCode === 200, `verify: ${JSON.stringify(res)}`);
  check(res.data?.email === email, `verify: email ${res.data?.email}, want ${email}`);
  check(typeof res.data?.ZUID === 'string' && res.data.ZUID.length > 0, 'verify: no ZUID');
});

await step('a wrong password is refused with a JSON envelope', async () => {
  const res = await auth.login(email, `${password}-wrong`);
  check(res.statusCode === 401 && res.code === 401 && res.token === null, `wrong password: ${JSON.stringify(res)}`);
});

await step('a garbage token does not verify', async () => {
  const res = await auth.verifyToken('not-a-session-token');
  check(res.verified === false && res.statusCode === 401, `garbage token: ${JSON.stringify(res)}`);
});

console.log('all steps passed');
