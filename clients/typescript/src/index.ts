// Latchkey's TypeScript client: the types in latchkey.d.ts are generated from
// openapi/openapi.yaml (make generate), and every call goes through openapi-fetch, so a
// path, a field or a status that the contract does not have is a type error in the caller.
//
//   const lk = createLatchkeyClient("http://127.0.0.1:4000");
//   const { data, error } = await lk.POST("/v1/signin/email-password", { body: { email, password } });
//
// Credentials travel in headers (the contract's security schemes): pass them per call with
// `headers: bearer(token)`, or for every call with createLatchkeyClient(url, { headers }).

import createClient, { type Client, type ClientOptions } from "openapi-fetch";
import type { paths } from "./latchkey.js";

export type { paths, components, operations } from "./latchkey.js";

/** A client for one Latchkey: every dialect's operations, typed by the contract. */
export type LatchkeyClient = Client<paths>;

/** Creates a client for the Latchkey at baseUrl (scheme, host, port and any path prefix, without /v1). */
export function createLatchkeyClient(baseUrl: string, options: Omit<ClientOptions, "baseUrl"> = {}): LatchkeyClient {
  return createClient<paths>({ ...options, baseUrl: baseUrl.replace(/\/+$/, "") });
}

/** The Authorization header that carries a bearer token (an access token, a session token or a PAT). */
export function bearer(token: string): { Authorization: string } {
  return { Authorization: `Bearer ${token}` };
}

/** The header that carries Latchkey's admin secret to /v1/admin. */
export function adminSecret(secret: string): { "X-Admin-Secret": string } {
  return { "X-Admin-Secret": secret };
}
