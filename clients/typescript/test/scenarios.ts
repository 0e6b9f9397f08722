// One scenario per dialect through the generated TypeScript client, against a live Latchkey.
// server/tsclient_e2e_test.go starts the server, compiles this file with tsc and runs it:
//
//   LATCHKEY_URL=http://127.0.0.1:4000 LATCHKEY_ADMIN_SECRET=... node dist/test/scenarios.js
//
// Every request and every field read below is typed by the generated paths, so a contract change
// that breaks one of these callers fails the type check, and a server that no longer answers as
// the contract says fails the run. Prints "ok <step>" per step; exits 1 on the first failure.

import { adminSecret, bearer, createLatchkeyClient } from "../src/index.js";

// Node's globals, declared here so the package needs no @types/node.
declare const process: { env: Record<string, string | undefined>; exitCode?: number };

const base = process.env.LATCHKEY_URL ?? "";
const secret = process.env.LATCHKEY_ADMIN_SECRET ?? "";
if (!base || !secret) {
  throw new Error("set LATCHKEY_URL and LATCHKEY_ADMIN_SECRET");
}
const lk = createLatchkeyClient(base);

class StepError extends Error {}

function check(cond: unknown, message: string): asserts cond {
  if (!cond) throw new StepError(message);
}

// got describes an answer that was not the expected one: status and body.
function got(response: Response, error: unknown): string {
  return `HTTP ${response.status} ${JSON.stringify(error)}`;
}

async function step(name: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    const why = err instanceof StepError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
    throw new StepError(`${name}: ${why}`);
  }
  console.log(`ok  ${name}`);
}

// Math.random, not crypto.randomUUID: the global crypto is Node 19's; Node 18 modules have none.
const suffix = Math.random().toString(36).slice(2, 10).padEnd(8, "0");
const nhostEmail = `ts-nhost-${suffix}@example.com`;
const email = `ts-${suffix}@example.com`;
const username = `ts-${suffix}`;
const password = `ts-client-pw-${suffix}`; // 12+ characters, as Authentication Zero requires

async function main(): Promise<void> {
  await step("nhost: sign up -> refresh -> user", async () => {
    const up = await lk.POST("/v1/signup/email-password", { body: { email: nhostEmail, password } });
    check(up.data?.session, `sign up: ${got(up.response, up.error)}`);
    const refreshed = await lk.POST("/v1/token", { body: { refreshToken: up.data.session.refreshToken } });
    check(refreshed.data, `refresh: ${got(refreshed.response, refreshed.error)}`);
    check(refreshed.data.refreshToken !== up.data.session.refreshToken, "refresh: the refresh token did not rotate");
    const user = await lk.GET("/v1/user", { headers: bearer(refreshed.data.accessToken) });
    check(user.data, `user: ${got(user.response, user.error)}`);
    check(user.data.email === nhostEmail, `user: email ${user.data.email}, want ${nhostEmail}`);
    check(user.data.id === up.data.session.user?.id, "user: not the user that signed up");
  });

  // The other dialects sign in as a user the admin API creates: WME logs in by username.
  await step("admin: create a user with a username", async () => {
    const created = await lk.POST("/v1/admin/users", {
      headers: adminSecret(secret),
      body: { email, username, password, emailVerified: true },
    });
    check(created.data, `create: ${got(created.response, created.error)}`);
    check(created.data.user.username === username, `create: username ${created.data.user.username}`);
  });

  await step("wme: login -> refresh", async () => {
    const login = await lk.POST("/v1/login", { body: { username, password } });
    check(login.data?.access_token && login.data.refresh_token, `login: ${got(login.response, login.error)}`);
    const refreshed = await lk.POST("/v1/token-refresh", {
      body: { username, refresh_token: login.data.refresh_token },
    });
    check(refreshed.data, `refresh: ${got(refreshed.response, refreshed.error)}`);
    check(refreshed.data.access_token && refreshed.data.id_token && refreshed.data.expires_in > 0, "refresh: tokens missing");
  });

  await step("zesty: login -> verify", async () => {
    const login = await lk.POST("/login", { body: { email, password } });
    check(login.data, `login: ${got(login.response, login.error)}`);
    check(login.data.meta.token === login.data.data, "login: meta.token differs from data");
    const verified = await lk.GET("/verify", { headers: bearer(login.data.meta.token) });
    check(verified.data, `verify: ${got(verified.response, verified.error)}`);
    check(verified.data.data.email === email, `verify: email ${verified.data.data.email}, want ${email}`);
  });

  await step("authentication zero: sign in -> sessions", async () => {
    const signIn = await lk.POST("/sign_in", { body: { email, password } });
    check(signIn.data, `sign in: ${got(signIn.response, signIn.error)}`);
    const token = signIn.response.headers.get("X-Session-Token");
    check(token, "sign in: no X-Session-Token header");
    const sessions = await lk.GET("/sessions", { headers: bearer(token) });
    check(sessions.data, `sessions: ${got(sessions.response, sessions.error)}`);
    const id = signIn.data.id;
    check(sessions.data.some((s) => s.id === id), `sessions: ${id} not listed`);
  });

  await step("admin: list users", async () => {
    const list = await lk.GET("/v1/admin/users", { headers: adminSecret(secret), params: { query: { limit: 100 } } });
    check(list.data, `list: ${got(list.response, list.error)}`);
    const emails = list.data.users.map((u) => u.email);
    check(emails.includes(nhostEmail) && emails.includes(email), `list: ${JSON.stringify(emails)} lacks ${nhostEmail} or ${email}`);
    check(list.data.total >= 2, `list: total ${list.data.total}`);
  });
}

try {
  await main();
} catch (err) {
  console.error(`FAIL ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
