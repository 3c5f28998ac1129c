// Loaded with --import before the SDK: any network call throws, and is recorded so that the
// harness fails the case (a thrown error alone would look like an SDK refusal).
globalThis.__networkAttempts = [];
globalThis.fetch = async (input) => {
  const url = String(input?.url ?? input);
  globalThis.__networkAttempts.push(url);
  throw new Error(`conformance oracle must not use the network (tried ${url})`);
};
