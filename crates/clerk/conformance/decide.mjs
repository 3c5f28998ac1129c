// Reads cases (JSON array) on stdin, prints what @clerk/backend's authenticateRequest decides
// for each {url, method, headers, options} (JSON array).
import { createClerkClient } from '@clerk/backend';

const input = JSON.parse(await new Promise((resolve) => {
  let s = '';
  process.stdin.on('data', (d) => (s += d));
  process.stdin.on('end', () => resolve(s));
}));

// Silence the SDK's own console logging so stdout stays JSON.
console.log = () => {};
console.warn = () => {};
console.error = () => {};

const out = [];
for (const c of input) {
  try {
    const client = createClerkClient({ secretKey: c.options.secretKey, publishableKey: c.options.publishableKey, jwtKey: c.options.jwtKey });
    const req = new Request(c.url, { method: c.method, headers: c.headers });
    const st = await client.authenticateRequest(req, c.options);
    const auth = st.toAuth();
    out.push({
      status: st.status,
      reason: st.reason ?? null,
      location: st.headers.get('location'),
      setCookies: st.headers.getSetCookie(),
      auth: auth && auth.userId ? {
        userId: auth.userId, sessionId: auth.sessionId ?? null, orgId: auth.orgId ?? null,
        orgRole: auth.orgRole ?? null, orgSlug: auth.orgSlug ?? null, orgPermissions: auth.orgPermissions ?? [],
      } : null,
    });
  } catch (e) {
    out.push({ status: 'error', reason: String(e && e.message || e) });
  }
}
process.stdout.write(JSON.stringify(out));
