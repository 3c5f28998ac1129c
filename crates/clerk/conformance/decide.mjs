// Reads cases (JSON array) on stdin, prints what @clerk/backend's authenticateRequest decides
// for each {url, method, headers, options} (JSON array): status, reason, the response headers
// that matter, and the auth object verbatim (JSON.stringify: `undefined` members absent, `null`
// kept), with and without `treatPendingAsSignedOut`.
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

const HEADERS = [
  'x-clerk-auth-status', 'x-clerk-auth-reason', 'cache-control',
  'access-control-allow-origin', 'access-control-allow-credentials',
];
// The auth object less its functions, through JSON as an app would send it.
const verbatim = (a) => (a == null ? null : JSON.parse(JSON.stringify(a, (k, v) => (typeof v === 'function' ? undefined : v))));

// has() for the role and permission checks the app makes (both spellings of each).
const HAS = [{ role: 'org:admin' }, { role: 'admin' }, { role: 'org:member' }, { permission: 'org:teams:read' },
  { permission: 'teams:read' }, { permission: 'org:sys_memberships:read' }, { permission: 'org:dashboard:manage' }];
const hasAnswers = (a) => (a == null ? null : HAS.map((q) => a.has(q)));

const out = [];
for (const c of input) {
  const before = globalThis.__networkAttempts.length;
  let result;
  try {
    const clientOptions = { secretKey: c.options.secretKey, publishableKey: c.options.publishableKey, jwtKey: c.options.jwtKey };
    if (c.options.apiUrl) clientOptions.apiUrl = c.options.apiUrl; // a stub Backend API, when the case has one
    const client = createClerkClient(clientOptions);
    const req = new Request(c.url, { method: c.method, headers: c.headers });
    const st = await client.authenticateRequest(req, c.options);
    result = {
      status: st.status,
      reason: st.reason ?? null,
      location: st.headers.get('location'),
      setCookies: st.headers.getSetCookie(),
      headers: Object.fromEntries(HEADERS.filter((h) => st.headers.has(h)).map((h) => [h, st.headers.get(h)])),
      auth: verbatim(st.toAuth()),
      has: hasAnswers(st.toAuth()),
      authIncludingPending: st.status === 'signed-in' ? verbatim(st.toAuth({ treatPendingAsSignedOut: false })) : null,
    };
  } catch (e) {
    result = { status: 'error', message: String((e && e.message) || e) };
  }
  result.network = globalThis.__networkAttempts.slice(before);
  out.push(result);
}
process.stdout.write(JSON.stringify(out));
