// Loaded with --import before the SDK: any network call is a test failure, not a silent fetch.
globalThis.fetch = async (input) => {
  throw new Error(`conformance oracle must not use the network (tried ${String(input?.url ?? input)})`);
};
