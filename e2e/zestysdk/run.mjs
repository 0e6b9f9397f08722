// End-to-end check of Latchkey's Zesty Auth dialect with the published @zesty-io/sdk 1.x.
// Usage: LATCHKEY_URL=http://127.0.0.1:4000 ZESTY_EMAIL=… ZESTY_PASSWORD=… node run.mjs
// With ZESTY_ACCESS_TOKEN and ZESTY_TOKEN_INSTANCE (an access token the Go test created over HTTP
// and its instance) it also makes the SDK's Accounts reads with that token.
//
// The account must exist (the Go test signs it up). The SDK logs in with a multipart form and
// reads the token from meta.token; verifyToken sends "Authorization: Bearer <token>".
// Exits non-zero on the first failure.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const Auth = require('@zesty-io/sdk/src/services/auth');
const Account = require('@zesty-io/sdk/src/services/account');

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

// The Accounts service: the calls the SDK makes under /v1.
const accountsAPIURL = `${base}/v1`;
let instanceZUID;

await step('create an instance (Accounts)', async () => {
  const res = await new Account(undefined, token, { accountsAPIURL }).createInstance({ name: 'SDK instance' });
  check(res.statusCode === 201 && res.code === 201, `createInstance: ${JSON.stringify(res)}`);
  check(typeof res.data?.ZUID === 'string' && res.data.ZUID.startsWith('8-'), `createInstance: ZUID ${res.data?.ZUID}`);
  check(Number.isInteger(res.data?.ID), `createInstance: ID ${res.data?.ID}`);
  instanceZUID = res.data.ZUID;
});

await step('list instances (Accounts)', async () => {
  const res = await new Account(undefined, token, { accountsAPIURL }).getInstances();
  check(res.statusCode === 200 && Array.isArray(res.data), `getInstances: ${JSON.stringify(res)}`);
  check(res.data.some((i) => i.ZUID === instanceZUID), 'getInstances: the new instance is missing');
});

let me;
await step('read the instance and its site id (Accounts)', async () => {
  const account = new Account(instanceZUID, token, { accountsAPIURL });
  const res = await account.getInstance();
  check(res.statusCode === 200 && res.data?.ZUID === instanceZUID, `getInstance: ${JSON.stringify(res)}`);
  check(typeof res.data.ID === 'number' && res.data.ID > 0, `getInstance: ID ${res.data.ID}`);
  check((await account.getSiteId()) === res.data.ID, 'getSiteId differs from data.ID');
  me = (await auth.verifyToken(token)).data.ZUID;
});

await step('list the instance users with roles: the caller is Owner (Accounts)', async () => {
  const res = await new Account(instanceZUID, token, { accountsAPIURL }).getInstanceUsers();
  check(res.statusCode === 200 && Array.isArray(res.data) && res.data.length === 1, `getInstanceUsers: ${JSON.stringify(res)}`);
  const [u] = res.data;
  check(u.ZUID === me && u.email === email, `getInstanceUsers: user ${JSON.stringify(u)}`);
  check(u.role?.systemRole === 'owner' && u.roles?.[0]?.name === 'Owner', `getInstanceUsers: role ${JSON.stringify(u.role)}`);
});

await step('an unknown instance is a JSON 404 (Accounts)', async () => {
  const res = await new Account('8-0000000000000000', token, { accountsAPIURL }).getInstance();
  check(res.statusCode === 404 && res.code === 404, `unknown instance: ${JSON.stringify(res)}`);
});

const accessToken = process.env.ZESTY_ACCESS_TOKEN;
const tokenInstance = process.env.ZESTY_TOKEN_INSTANCE;
if (accessToken && tokenInstance) {
  await step('verify an access token', async () => {
    const res = await auth.verifyToken(accessToken);
    check(res.verified === true && res.statusCode === 200 && res.data?.ZUID?.startsWith('42-'), `verify token: ${JSON.stringify(res)}`);
  });

  await step('read with an access token: its instance only (Accounts)', async () => {
    const account = new Account(tokenInstance, accessToken, { accountsAPIURL });
    const list = await account.getInstances();
    check(list.statusCode === 200 && list.data.length === 1 && list.data[0].ZUID === tokenInstance, `token getInstances: ${JSON.stringify(list)}`);
    const one = await account.getInstance();
    check(one.statusCode === 200 && typeof one.data?.ID === 'number', `token getInstance: ${JSON.stringify(one)}`);
    const users = await account.getInstanceUsers();
    check(users.statusCode === 200 && users.data.some((u) => u.email === email && u.role.systemRole === 'owner'), `token getInstanceUsers: ${JSON.stringify(users)}`);
    const other = await new Account(instanceZUID, accessToken, { accountsAPIURL }).getInstance();
    check(other.statusCode === 404, `token on another instance: ${JSON.stringify(other)}`);
  });

  await step('an access token cannot create instances (Accounts)', async () => {
    const res = await new Account(undefined, accessToken, { accountsAPIURL }).createInstance({ name: 'nope' });
    check(res.statusCode === 403 && res.code === 403, `token createInstance: ${JSON.stringify(res)}`);
  });
} else {
  console.error('FAIL: set ZESTY_ACCESS_TOKEN and ZESTY_TOKEN_INSTANCE');
  process.exit(2);
}

console.log('all steps passed');
