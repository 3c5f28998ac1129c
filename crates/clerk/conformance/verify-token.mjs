// Reads cases (JSON array of {token, options}) on stdin, prints what @clerk/backend's verifyToken
// answers for each (JSON array): {ok: true, payload} or {ok: false, reason, message}. Run with
// --import ./no-network.mjs: cases give `jwtKey`, so the SDK must not fetch anything.
import { verifyToken } from '@clerk/backend';

const input = JSON.parse(await new Promise((resolve) => {
  let s = '';
  process.stdin.on('data', (d) => (s += d));
  process.stdin.on('end', () => resolve(s));
}));

const out = [];
for (const { token, options } of input) {
  try {
    const payload = await verifyToken(token, options);
    out.push({ ok: true, payload });
  } catch (e) {
    out.push({ ok: false, reason: e.reason ?? null, message: e.message ?? String(e) });
  }
}
if (globalThis.__networkAttempts.length) {
  out.push({ network: globalThis.__networkAttempts });
}
process.stdout.write(JSON.stringify(out));
