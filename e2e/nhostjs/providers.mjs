// End-to-end check of Latchkey's federated sign-in with the published
// @nhost/nhost-js SDK, against the fake provider the Go test runs
// (TestNhostJSProviders): the redirect flow from signInProviderURL to the
// session, and signInIdToken with a nonce, once.
//
// Env: LATCHKEY_URL, CLIENT_URL, GITHUB_EMAIL (the account the fake provider
// signs in), ID_TOKEN, ID_NONCE and ID_EMAIL (a Google ID token minted by the
// test). Kept apart from run.mjs so each can change without the other.

import { createClient } from '@nhost/nhost-js';
import { MemoryStorage } from '@nhost/nhost-js/session';

const base = (process.env.LATCHKEY_URL || '').replace(/\/+$/, '');
const clientUrl = process.env.CLIENT_URL;
const nhost = createClient({ authUrl: `${base}/v1`, storage: new MemoryStorage() });

class StepError extends Error {}

function check(cond, message) {
  if (!cond) throw new StepError(message);
}

async function step(name, fn) {
  try {
    await fn();
    console.log(`ok  ${name}`);
  } catch (err) {
    const why = err instanceof StepError ? err.message
      : typeof err?.status === 'number' ? `HTTP ${err.status} ${JSON.stringify(err.body)}` : err?.stack || String(err);
    console.error(`FAIL ${name}: ${why}`);
    process.exit(1);
  }
}

// hop answers the Location of a request that must redirect.
async function hop(url, what) {
  const res = await fetch(url, { redirect: 'manual' });
  check(res.status === 302, `${what}: status ${res.status}`);
  return res.headers.get('location');
}

await step('signInProviderURL leads through the provider back to the app with a session', async () => {
  const start = nhost.auth.signInProviderURL('github', { redirectTo: clientUrl, metadata: { plan: 'pro' }, locale: 'en' });
  check(start.startsWith(`${base}/v1/signin/provider/github?`), `provider URL ${start}`);
  const authorize = await hop(start, 'start');
  const callback = await hop(authorize, 'provider consent');
  check(callback.startsWith(`${base}/v1/signin/provider/github/callback?`), `callback ${callback}`);
  const back = new URL(await hop(callback, 'callback'));
  check(`${back.origin}${back.pathname}`.startsWith(clientUrl), `final redirect to ${back.origin}${back.pathname}`);
  const refreshToken = back.searchParams.get('refreshToken');
  check(refreshToken, `no refreshToken in the final redirect (error ${back.searchParams.get('error')})`);
  const res = await nhost.auth.refreshToken({ refreshToken });
  check(res.body.user?.email === process.env.GITHUB_EMAIL, `session user ${res.body.user?.email}`);
  check(res.body.user?.metadata?.plan === 'pro', `metadata ${JSON.stringify(res.body.user?.metadata)}`);
});

await step('signInIdToken signs in with a Google ID token and its nonce', async () => {
  const res = await nhost.auth.signInIdToken({ provider: 'google', idToken: process.env.ID_TOKEN, nonce: process.env.ID_NONCE });
  check(res.body.session?.user?.email === process.env.ID_EMAIL, `session ${JSON.stringify(res.body.session?.user)}`);
  check(nhost.getUserSession()?.refreshToken === res.body.session.refreshToken, 'SDK did not store the session');
});

await step('the same ID token is refused the second time', async () => {
  let err;
  try {
    await nhost.auth.signInIdToken({ provider: 'google', idToken: process.env.ID_TOKEN, nonce: process.env.ID_NONCE });
  } catch (e) {
    err = e;
  }
  check(err && err.status === 401 && err.body?.error === 'invalid-request', `replay: ${err ? JSON.stringify(err.body) : 'accepted'}`);
});

console.log('all provider steps passed');
