// Fidelity oracle for the Clerk emulator: the official @clerk/backend verifies the emulator's
// session tokens (with jwtKey, and with apiUrl pointed at the emulator so it fetches the JWKS
// over loopback; the whole payload back) and resolves its handshake token and nonce (status,
// the auth object verbatim, every Set-Cookie). Reads one JSON object on stdin.
import { createClerkClient, verifyToken } from '@clerk/backend';

const c = JSON.parse(await new Promise((resolve) => {
  let s = '';
  process.stdin.on('data', (d) => (s += d));
  process.stdin.on('end', () => resolve(s));
}));
for (const k of ['log', 'warn', 'error']) console[k] = () => {};
const only = (u) => { if (!String(u).startsWith(c.apiUrl)) throw new Error(`unexpected network call to ${u}`); };
const realFetch = globalThis.fetch;
globalThis.fetch = (input, init) => { only(input?.url ?? input); return realFetch(input, init); };

// verifyToken returns the payload (throwing on failure) or {data, errors}, depending on version.
async function verify(opts) {
  try {
    const r = await verifyToken(c.token, { authorizedParties: [c.origin], ...opts });
    if (r && r.errors) return { error: r.errors[0].reason };
    const d = r && r.data ? r.data : r;
    return { claims: d };
  } catch (e) {
    return { error: e.reason || String(e) };
  }
}
const out = {};
out.verifyWithJwtKey = await verify({ jwtKey: c.jwtKey });
out.verifyWithApi = await verify({ secretKey: c.secretKey, apiUrl: c.apiUrl });

const client = createClerkClient({ secretKey: c.secretKey, publishableKey: c.publishableKey, apiUrl: c.apiUrl });
async function resolve(cookie, opts) {
  const st = await client.authenticateRequest(new Request(`${c.origin}/dashboard`, { headers: { cookie, 'sec-fetch-dest': 'document' } }), { authorizedParties: [c.origin], ...opts });
  // The auth object less its functions, through JSON as an app would send it.
  const auth = JSON.parse(JSON.stringify(st.toAuth() ?? null, (k, v) => (typeof v === 'function' ? undefined : v)));
  return { status: st.status, reason: st.reason ?? null, auth, setCookies: st.headers.getSetCookie() };
}
out.handshakeToken = await resolve(`__clerk_handshake=${c.handshakeToken}`, { jwtKey: c.jwtKey });
out.handshakeNonce = await resolve(`__clerk_handshake_nonce=${c.nonce}`, {});
process.stdout.write(JSON.stringify(out));
