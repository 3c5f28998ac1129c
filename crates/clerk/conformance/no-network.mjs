// Loaded with --import before the SDK: any network call throws, and is recorded so that the
// harness fails the case (a thrown error alone would look like an SDK refusal). Calls to the
// origins in CONFORMANCE_ALLOWED_ORIGINS (space-separated: a stub Backend API on loopback that
// the test gives both sides) go through.
globalThis.__networkAttempts = [];
const allowed = (process.env.CONFORMANCE_ALLOWED_ORIGINS ?? '').split(' ').filter(Boolean);
const realFetch = globalThis.fetch;
globalThis.fetch = async (input, init) => {
  const url = String(input?.url ?? input);
  if (allowed.some((origin) => url.startsWith(`${origin}/`))) return realFetch(input, init);
  globalThis.__networkAttempts.push(url);
  throw new Error(`conformance oracle must not use the network (tried ${url})`);
};
