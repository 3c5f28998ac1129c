// Three replicas of the real `tenantry` binary behind HAProxy, against one throwaway Postgres,
// with the Clerk emulator for sign-in (issue 16, "Scale-out, no state in one process").
// Run through scripts/replicas (which installs HAProxy); every check throws, the exit code is 1
// on any failure, and every process and temporary directory is removed on the way out.
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, processGroup, readEnvFile, waitFor } from '../end2end/stack.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const TARGET = process.env.CARGO_TARGET_DIR || join(process.env.HOME, '.cache', 'tenantry', 'target');
const BIN = join(TARGET, 'debug', 'tenantry');
const EMU = join(TARGET, 'debug', 'clerk-emulator');
const TMP = mkdtempSync(join(tmpdir(), 'tenantry-replicas-'));
// Its own directory, as scripts/pg hands it to the postgres user.
const PGDIR = mkdtempSync(join(tmpdir(), 'tenantry-replicas-pg-'));
const started = Date.now();
let pgEnv = null;

const log = (...a) => console.error(`[replicas +${((Date.now() - started) / 1000).toFixed(1)}s]`, ...a);
function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
  log(`ok: ${what}`);
}

const group = processGroup(TMP, () => pgEnv);
const { children } = group;
const start = group.start;

async function stopAll() {
  const t0 = Date.now();
  await group.stopAll();
  log(`stopped everything in ${Date.now() - t0} ms`);
}

// --- a browser's cookie jar, as far as this test needs one (cookies ignore ports, like browsers) ---
class Jar {
  cookies = new Map();
  store(res) {
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a) || /^\s*expires=.*19[67]\d/i.test(a));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

async function request(jar, url, init = {}) {
  const headers = { accept: 'text/html,application/xhtml+xml', ...(init.headers || {}) };
  if (jar.cookies.size) headers.cookie = jar.header();
  const res = await fetch(url, { ...init, headers, redirect: 'manual' });
  jar.store(res);
  return res;
}

/** Follows redirects by hand (the jar sees every hop); returns the chain of [url, served-by]. */
async function follow(jar, res, url) {
  const chain = [[url, res.headers.get('x-served-by')]];
  for (let i = 0; i < 10 && res.status >= 300 && res.status < 400; i++) {
    url = new URL(res.headers.get('location'), url).toString();
    res = await request(jar, url);
    chain.push([url, res.headers.get('x-served-by')]);
  }
  return { res, chain };
}

// --- svix-signed Clerk webhooks ---
function svixHeaders(secret, id, body) {
  const ts = Math.floor(Date.now() / 1000);
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const sig = createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64');
  return { 'content-type': 'application/json', 'svix-id': id, 'svix-timestamp': String(ts), 'svix-signature': `v1,${sig}` };
}

/** A stream of events over `wh`-prefixed users and organizations, as Clerk would emit them. */
function eventStream() {
  let seed = 0x2545f491;
  const below = (n) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const out = [];
  let t = 1000;
  const push = (type, data) =>
    out.push({ id: `msg_wh_${String(out.length).padStart(4, '0')}`, body: JSON.stringify({ type, object: 'event', data, timestamp: Date.now(), instance_id: 'ins_test' }) });
  const user = (id, email, first, updated_at) => ({
    object: 'user', id, first_name: first, last_name: 'Tester', username: null,
    primary_email_address_id: `idn_${id}`, email_addresses: [{ id: `idn_${id}`, email_address: email, object: 'email_address' }],
    image_url: 'https://img.example/x.png', created_at: 1, updated_at,
  });
  const org = (id, name, updated_at) => ({ object: 'organization', id, name, slug: `slug-${id.replace(/_/g, '-')}`, created_at: 1, updated_at });
  const membership = (id, o, u, role, updated_at) => ({
    object: 'organization_membership', id, role, permissions: ['org:projects:read'],
    organization: org(o, 'n', 1), public_user_data: { user_id: u, identifier: 'x' }, created_at: 1, updated_at,
  });
  const users = Array.from({ length: 20 }, (_, i) => `user_wh_${i}`);
  const orgs = Array.from({ length: 4 }, (_, i) => `org_wh_${i}`);
  for (const u of users) push('user.created', user(u, `${u}@example.com`, 'First', ++t));
  for (const o of orgs) push('organization.created', org(o, `Org ${o}`, ++t));
  let seq = 0;
  for (let i = 0; i < 100; i++) {
    t++;
    const u = users[below(users.length)];
    const o = orgs[below(orgs.length)];
    switch (below(5)) {
      case 0:
      case 1:
        push('organizationMembership.created', membership(`orgmem_${o}_${u}_${++seq}`, o, u, 'org:member', t));
        break;
      case 2:
        push('user.updated', user(u, `${u}+${t}@example.com`, `Name${t}`, t));
        break;
      case 3:
        push('organizationMembership.updated', membership(`orgmem_${o}_${u}_${++seq}`, o, u, 'org:admin', t));
        break;
      default:
        push('organizationMembership.deleted', membership(`orgmem_${o}_${u}_${seq}`, o, u, 'org:member', t));
    }
  }
  for (const u of users.slice(0, 2)) push('user.deleted', { object: 'user', id: u, deleted: true });
  push('organization.deleted', { object: 'organization', id: orgs[3], deleted: true });
  return out;
}

/** The mirror's `wh` rows as the schema owner sees them (as tests/it/webhooks.rs `snapshot`). */
function snapshot(adminUrl) {
  const q = `SELECT json_build_object(
    'users', (SELECT json_agg(json_build_array(clerk_id, deleted_at IS NOT NULL,
       CASE WHEN deleted_at IS NULL THEN json_build_array(email, name, image_url, clerk_updated_at) END) ORDER BY clerk_id)
       FROM users WHERE clerk_id LIKE 'user\\_wh\\_%'),
    'orgs', (SELECT json_agg(json_build_array(id, deleted_at IS NOT NULL,
       CASE WHEN deleted_at IS NULL THEN json_build_array(slug, name, image_url, clerk_updated_at) END) ORDER BY id)
       FROM organizations WHERE id LIKE 'org\\_wh\\_%'),
    'members', (SELECT json_agg(json_build_array(org_id, user_clerk_id, deleted_at IS NOT NULL,
       CASE WHEN deleted_at IS NULL THEN json_build_array(clerk_id, role, permissions, clerk_updated_at) END)
       ORDER BY org_id, user_clerk_id) FROM org_memberships WHERE org_id LIKE 'org\\_wh\\_%'))`;
  return execFileSync('psql', ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', q, adminUrl], { encoding: 'utf8' }).trim();
}

function sql(adminUrl, q) {
  return execFileSync('psql', ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', q, adminUrl], { encoding: 'utf8' }).trim();
}

async function main() {
  for (const b of [BIN, EMU]) if (!existsSync(b)) throw new Error(`${b} missing: build it first (cargo leptos build --split; cargo build -p clerk-emulator)`);

  // Postgres: one throwaway cluster, two databases (the replicas' one and a single-replica reference).
  const pgPort = await freePort();
  pgEnv = { ...process.env, TENANTRY_PG_DIR: PGDIR, TENANTRY_PG_PORT: String(pgPort) };
  delete pgEnv.DATABASE_URL;
  const dbEnv = Object.fromEntries(
    execFileSync(join(ROOT, 'scripts', 'pg'), ['start'], { env: pgEnv, encoding: 'utf8' })
      .trim().split('\n').map((l) => l.split(/=(.*)/s).slice(0, 2)),
  );
  execFileSync(BIN, ['migrate'], { env: { ...process.env, ...dbEnv }, stdio: ['ignore', 'ignore', 'inherit'] });
  const refDb = 'tenantry_reference';
  sql(dbEnv.DATABASE_ADMIN_URL, `CREATE DATABASE ${refDb}`);
  const refEnv = {
    DATABASE_URL: dbEnv.DATABASE_URL.replace(/\/tenantry$/, `/${refDb}`),
    DATABASE_ADMIN_URL: dbEnv.DATABASE_ADMIN_URL.replace(/\/tenantry$/, `/${refDb}`),
  };
  execFileSync(BIN, ['migrate'], { env: { ...process.env, ...refEnv }, stdio: ['ignore', 'ignore', 'inherit'] });
  log('postgres up, both databases migrated');

  // Ports: HAProxy is the app's one public origin; replicas, reference and emulator behind it.
  const [lbPort, emuPort, refPort, ...ports] = await Promise.all(Array.from({ length: 6 }, freePort));
  const lb = `http://127.0.0.1:${lbPort}`;
  const emu = `http://127.0.0.1:${emuPort}`;
  const envFile = join(TMP, 'clerk.env');
  start('emulator', EMU, [
    '--port', String(emuPort), '--allowed-origin', lb, '--webhook-url', `${lb}/api/webhooks/clerk`,
    '--seed', join(ROOT, 'crates', 'clerk-emulator', 'seed.json'),
    '--key', join(ROOT, 'crates', 'clerk', 'tests', 'fixtures', 'instance-private.pem'),
    '--token-lifetime', '600', '--env-file', envFile,
  ], process.env);
  await waitFor(`${emu}/.well-known/jwks.json`);
  const clerkEnv = readEnvFile(envFile);
  const appEnv = (addr, db) => ({
    ...process.env, ...db, ...clerkEnv, TENANTRY_ADDR: addr,
    LEPTOS_SITE_ROOT: join(ROOT, 'target', 'site'), LEPTOS_OUTPUT_NAME: 'tenantry', RUST_LOG: 'info',
  });
  execFileSync(BIN, ['sync', '--apply'], { env: appEnv('127.0.0.1:0', dbEnv), stdio: 'ignore' });
  const replicas = ports.map((p, i) => ({ name: `app${i + 1}`, url: `http://127.0.0.1:${p}`, port: p }));
  for (const r of replicas) r.child = start(r.name, BIN, ['serve'], appEnv(`127.0.0.1:${r.port}`, dbEnv));
  start('reference', BIN, ['serve'], appEnv(`127.0.0.1:${refPort}`, refEnv));
  const ref = `http://127.0.0.1:${refPort}`;
  await Promise.all([...replicas.map((r) => waitFor(`${r.url}/readyz`)), waitFor(`${ref}/readyz`)]);

  const cfg = join(TMP, 'haproxy.cfg');
  writeFileSync(cfg, `global
  maxconn 2000
defaults
  mode http
  timeout connect 1s
  timeout client 10s
  timeout server 5s
  retries 3
  option redispatch 1
  retry-on conn-failure empty-response response-timeout
frontend web
  bind 127.0.0.1:${lbPort}
  http-response set-header X-Served-By %s
  default_backend app
backend app
  balance roundrobin
  option httpchk GET /readyz
  default-server check inter 300ms fall 2 rise 1
${replicas.map((r) => `  server ${r.name} 127.0.0.1:${r.port}`).join('\n')}
`);
  execFileSync('haproxy', ['-c', '-q', '-f', cfg], { stdio: 'inherit' });
  start('haproxy', 'haproxy', ['-db', '-f', cfg], process.env);
  await waitFor(`${lb}/readyz`);
  log(`stack up: HAProxy ${lb} -> ${replicas.map((r) => r.url).join(', ')}; emulator ${emu}`);

  // 1. Sign in through the load balancer; the session works on every replica.
  const jar = new Jar();
  const first = await follow(jar, await request(jar, `${lb}/app/dashboard`), `${lb}/app/dashboard`);
  check(first.chain.some(([u]) => u.startsWith(`${emu}/sign-in`)), 'a signed-out visit lands on the sign-in page');
  const signed = await request(jar, `${emu}/sign-in`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ email: 'alice@acme.test', password: 'correct-horse-1', redirect_url: `${lb}/app/dashboard` }),
  });
  const back = await follow(jar, signed, `${emu}/sign-in`);
  const landed = back.chain.at(-1);
  check(back.res.status === 200 && new URL(landed[0]).pathname === '/app/dashboard',
    `signed in through the handshake, dashboard served by ${landed[1]} (${back.chain.map(([u, s]) => `${new URL(u).pathname}@${s ?? 'emulator'}`).join(' -> ')})`);
  check(jar.cookies.has('__session'), 'the app set the session cookie');
  for (const r of replicas) {
    const who = await request(jar, `${r.url}/api/whoami`, { headers: { accept: 'application/json' } });
    const body = who.status === 200 ? await who.json() : {};
    check(who.status === 200 && body.userId === 'user_alice' && body.orgId === 'org_acme', `the session works on ${r.name} directly`);
  }
  const seen = new Set();
  for (let i = 0; i < 6; i++) {
    const res = await request(jar, `${lb}/app/dashboard`);
    check(res.status === 200, `dashboard #${i} through HAProxy answered 200 by ${res.headers.get('x-served-by')}`);
    seen.add(res.headers.get('x-served-by'));
  }
  check(seen.size === 3, `round robin reached all three replicas (${[...seen]})`);

  // 2. Webhooks land on random replicas and converge to the single-replica state.
  const secret = clerkEnv.CLERK_WEBHOOK_SIGNING_SECRET;
  check(Boolean(secret), 'the emulator gave a webhook signing secret');
  const stream = eventStream();
  for (const e of stream) {
    const r = await fetch(`${ref}/api/webhooks/clerk`, { method: 'POST', headers: svixHeaders(secret, e.id, e.body), body: e.body });
    if (r.status !== 200) throw new Error(`reference delivery ${e.id}: ${r.status} ${await r.text()}`);
  }
  const deliveries = [...stream, ...stream];
  for (let i = deliveries.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [deliveries[i], deliveries[j]] = [deliveries[j], deliveries[i]];
  }
  const landedOn = new Map();
  const lanes = 6;
  await Promise.all(Array.from({ length: lanes }, async (_, lane) => {
    for (let i = lane; i < deliveries.length; i += lanes) {
      const e = deliveries[i];
      const r = await fetch(`${lb}/api/webhooks/clerk`, { method: 'POST', headers: svixHeaders(secret, e.id, e.body), body: e.body });
      if (r.status !== 200) throw new Error(`delivery ${e.id} through HAProxy: ${r.status} ${await r.text()}`);
      const s = r.headers.get('x-served-by');
      landedOn.set(s, (landedOn.get(s) || 0) + 1);
    }
  }));
  check(landedOn.size === 3, `${deliveries.length} deliveries (${stream.length} events, each twice, shuffled, 6 at a time) landed on every replica: ${JSON.stringify(Object.fromEntries(landedOn))}`);
  const expected = snapshot(refEnv.DATABASE_ADMIN_URL);
  const actual = snapshot(dbEnv.DATABASE_ADMIN_URL);
  const parsed = JSON.parse(expected);
  check(parsed.users?.length === 20 && parsed.orgs?.length === 4 && parsed.members?.length > 10, 'the reference mirror holds the stream');
  if (actual !== expected) {
    const a = JSON.parse(actual);
    for (const k of ['users', 'orgs', 'members']) {
      const want = new Set((parsed[k] || []).map((r) => JSON.stringify(r)));
      const got = new Set((a[k] || []).map((r) => JSON.stringify(r)));
      for (const r of want) if (!got.has(r)) log(`${k}: expected ${r}`);
      for (const r of got) if (!want.has(r)) log(`${k}: got      ${r}`);
    }
  }
  check(actual === expected, 'the mirror behind three replicas equals the single-replica in-order apply');
  const applied = sql(dbEnv.DATABASE_ADMIN_URL, "SELECT count(*) FROM webhook_deliveries WHERE svix_id LIKE 'msg\\_wh\\_%'");
  check(Number(applied) === stream.length, `each event recorded once (${applied} of ${stream.length})`);

  // 3. The creation limit holds across replicas: 9 concurrent creations through HAProxy, 5 allowed.
  const token = jar.cookies.get('__session');
  const attempts = await Promise.all(Array.from({ length: 9 }, async (_, i) => {
    const r = await fetch(`${lb}/select-org/create`, {
      method: 'POST', redirect: 'manual',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ name: `Replica Lab ${i}` }),
    });
    const loc = r.headers.get('location') || '';
    return { status: r.status, by: r.headers.get('x-served-by'), error: new URL(loc, lb).searchParams.get('error'), loc };
  }));
  const refused = attempts.filter((a) => a.error === 'rate_limited');
  const allowed = attempts.filter((a) => a.status === 303 && !a.error);
  check(refused.length === 4 && allowed.length === 5,
    `creations: 5 allowed, 4 refused across ${new Set(attempts.map((a) => a.by)).size} replicas (${JSON.stringify(attempts.map((a) => [a.status, a.by, a.error ?? a.loc]))})`);
  check(sql(dbEnv.DATABASE_ADMIN_URL, "SELECT count(*) FROM org_creations WHERE user_clerk_id = 'user_alice'") === '5', 'five creations recorded in Postgres');

  // 4. A replica dies under load: every idempotent request through HAProxy still answers 2xx.
  //    (a) a crash (SIGKILL) under JSON GETs; (b) after (a)'s replica is back, a graceful stop
  //    (SIGTERM, as a rolling deploy does) under GETs of the streamed dashboard page too.
  const load = async (label, paths, victim, signal) => {
    const failures = [];
    const servedBy = new Map();
    let total = 0;
    const until = Date.now() + 5000;
    const timer = setTimeout(() => {
      log(`${label}: ${signal} to ${victim.name} under load`);
      victim.child.kill(signal);
    }, 1500);
    await Promise.all(Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; Date.now() < until; i++) {
        const path = paths[(w + i) % paths.length];
        try {
          const r = await request(jar, `${lb}${path}`, { headers: { accept: path.startsWith('/api') ? 'application/json' : 'text/html' } });
          await r.arrayBuffer();
          total++;
          const s = r.headers.get('x-served-by');
          servedBy.set(s, (servedBy.get(s) || 0) + 1);
          if (r.status < 200 || r.status > 299) failures.push(`${path}: ${r.status} from ${s}`);
        } catch (e) {
          total++;
          failures.push(`${path}: ${e.cause?.code || e.message}`);
        }
      }
    }));
    clearTimeout(timer);
    await new Promise((r) => (victim.child.exitCode !== null || victim.child.signalCode !== null ? r() : victim.child.once('exit', r)));
    check(servedBy.get(victim.name) > 0 && total > 200, `${label}: ${total} requests (${JSON.stringify(Object.fromEntries(servedBy))})`);
    check(failures.length === 0, `${label}: no failed idempotent request while ${victim.name} went away (${failures.length} failures: ${failures.slice(0, 5).join('; ')})`);
    const after = new Set();
    for (let i = 0; i < 4; i++) after.add((await fetch(`${lb}/readyz`)).headers.get('x-served-by'));
    check(!after.has(victim.name) && after.size === 2, `${label}: HAProxy took ${victim.name} out of rotation (${[...after]})`);
  };
  await load('crash', ['/api/whoami', '/readyz', '/api/profile'], replicas[1], 'SIGKILL');
  const revived = replicas[1];
  revived.child = start(`${revived.name}-again`, BIN, ['serve'], appEnv(`127.0.0.1:${revived.port}`, dbEnv));
  await waitFor(`${revived.url}/readyz`);
  for (let deadline = Date.now() + 5000, back = false; !back;) {
    back = (await fetch(`${lb}/readyz`)).headers.get('x-served-by') === revived.name;
    if (!back && Date.now() > deadline) throw new Error(`${revived.name} not back in rotation`);
    if (!back) await new Promise((r) => setTimeout(r, 50));
  }
  log(`${revived.name} restarted and back in rotation`);
  await load('graceful stop', ['/api/whoami', '/readyz', '/app/dashboard'], replicas[2], 'SIGTERM');
}

let code = 0;
const timer = setTimeout(() => {
  log('error: time limit (90 s) reached');
  stopAll().finally(() => {
    rmSync(TMP, { recursive: true, force: true });
    rmSync(PGDIR, { recursive: true, force: true });
    process.exit(1);
  });
}, 90000);
for (const [sig, n] of [['SIGINT', 130], ['SIGTERM', 143]]) {
  process.on(sig, () => stopAll().finally(() => {
    rmSync(TMP, { recursive: true, force: true });
    rmSync(PGDIR, { recursive: true, force: true });
    process.exit(n);
  }));
}
try {
  await main();
  log(`all checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (e) {
  code = 1;
  log(`FAILED: ${e.stack || e}`);
  // The last lines of each process's log, then everything goes (nothing is left behind).
  for (const c of children) {
    const lines = readFileSync(join(TMP, `${c.name}.log`), 'utf8').trim().split('\n').slice(-15);
    log(`--- ${c.name}.log (last ${lines.length} lines)\n${lines.join('\n')}`);
  }
}
clearTimeout(timer);
await stopAll();
rmSync(TMP, { recursive: true, force: true });
    rmSync(PGDIR, { recursive: true, force: true });
process.exit(code);
