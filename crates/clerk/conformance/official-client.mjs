// Clerk's official @clerk/backend client, pointed at the emulator (createClerkClient({ apiUrl,
// secretKey })), making every Backend API call the app makes. Reads one JSON object on stdin
// ({apiUrl, secretKey, sessionId, revokeSessionId, nonce, createdBy, expiredToken, refreshToken}) and prints, per call,
// {ok: <what the SDK returned, summarised>} or {error: <message>}. Only loopback calls to apiUrl
// are allowed; anything else throws.
import { createClerkClient } from '@clerk/backend';

const c = JSON.parse(await new Promise((resolve) => {
  let s = '';
  process.stdin.on('data', (d) => (s += d));
  process.stdin.on('end', () => resolve(s));
}));
const realFetch = globalThis.fetch;
globalThis.fetch = (input, init) => {
  const url = String(input?.url ?? input);
  if (!url.startsWith(c.apiUrl)) throw new Error(`unexpected network call to ${url}`);
  return realFetch(input, init);
};

const clerk = createClerkClient({ apiUrl: c.apiUrl, secretKey: c.secretKey });
const kind = (o) => o?.constructor?.name ?? typeof o;
const user = (u) => ({
  kind: kind(u), id: u.id, firstName: u.firstName, lastName: u.lastName,
  primaryEmail: u.primaryEmailAddress?.emailAddress ?? null, createdAt: u.createdAt, updatedAt: u.updatedAt,
});
const org = (o) => ({ kind: kind(o), id: o.id, name: o.name, slug: o.slug, createdBy: o.createdBy ?? null, membersCount: o.membersCount ?? null });
const membership = (m) => ({ kind: kind(m), id: m.id, role: m.role, orgId: m.organization?.id, userId: m.publicUserData?.userId });
const session = (s) => ({ kind: kind(s), id: s.id, userId: s.userId, status: s.status, lastActiveOrganizationId: s.lastActiveOrganizationId ?? null });

const calls = {
  getUserList: async () => {
    const r = await clerk.users.getUserList({ limit: 2, offset: 1 });
    return { totalCount: r.totalCount, data: r.data.map(user) };
  },
  getUser: async () => user(await clerk.users.getUser('user_alice')),
  getOrganizationList: async () => {
    const r = await clerk.organizations.getOrganizationList({ limit: 10 });
    return { totalCount: r.totalCount, data: r.data.map(org) };
  },
  getOrganizationMembershipList: async () => {
    const r = await clerk.users.getOrganizationMembershipList({ userId: 'user_carol' });
    return { totalCount: r.totalCount, data: r.data.map(membership) };
  },
  createOrganization: async () => org(await clerk.organizations.createOrganization({ name: 'Node Corp', createdBy: c.createdBy })),
  getOrganization: async () => org(await clerk.organizations.getOrganization({ slug: 'acme' })),
  getSession: async () => session(await clerk.sessions.getSession(c.sessionId)),
  getToken: async () => {
    const t = await clerk.sessions.getToken(c.sessionId);
    return { kind: kind(t), jwt: t.jwt };
  },
  getTokenWithTemplate: async () => {
    const t = await clerk.sessions.getToken(c.sessionId, 'supabase');
    return { kind: kind(t), jwt: t.jwt };
  },
  refreshSession: async () => {
    const r = await clerk.sessions.refreshSession(c.sessionId, {
      expired_token: c.expiredToken, refresh_token: c.refreshToken, request_origin: 'http://127.0.0.1:3000',
      request_headers: {}, format: 'cookie', suffixed_cookies: false,
    });
    return { kind: kind(r), cookies: r.cookies.map((x) => x.split('=')[0]) };
  },
  revokeSession: async () => session(await clerk.sessions.revokeSession(c.revokeSessionId)),
  getHandshakePayload: async () => {
    const p = await clerk.clients.getHandshakePayload({ nonce: c.nonce });
    return { directives: p.directives };
  },
};

const out = {};
for (const [name, call] of Object.entries(calls)) {
  try {
    out[name] = { ok: await call() };
  } catch (e) {
    out[name] = { error: `${e?.message ?? e} ${JSON.stringify(e?.errors ?? '')} status=${e?.status ?? ''}` };
  }
}
process.stdout.write(JSON.stringify(out));
