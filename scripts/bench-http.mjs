// HTTP benchmark of the release build (issue 18): Tenantry's workspace page, its projects JSON
// call, the REST API's list, a signed-out redirect and /healthz, each measured with wrk against
// the ceiling server (crates/bench-ceiling: the same token verification and query, nothing
// else), in interleaved rounds on the same machine, as ratios, with server CPU per request.
// Run through scripts/bench-http (which builds everything and installs wrk).
//
//   node scripts/bench-http.mjs [--rounds N] [--seconds S] [--warmup S] [--connections C] [--replicas N]
// Then the page and the JSON call through HAProxy to one replica and to N (default 3; 0 skips).
import { execFileSync } from 'node:child_process';
import { createSign } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { firstLoad, pageKinds, GOAL } from './first-load.mjs';
import { checkReleaseServing, freePort, processGroup, readEnvFile, waitFor } from '../end2end/stack.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const TARGET = process.env.CARGO_TARGET_DIR || join(process.env.HOME, '.cache', 'tenantry', 'target');
const RELEASE = process.env.TENANTRY_RELEASE_DIR || join(ROOT, '.data', 'release');
const CEILING = join(TARGET, 'release', 'bench-ceiling');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const ROUNDS = arg('rounds', 3);
const SECONDS = arg('seconds', 10);
const WARMUP = arg('warmup', 3);
const CONNECTIONS = arg('connections', 64);
/** Replicas behind HAProxy against one (0: skip that part). */
const REPLICAS = arg('replicas', 3);
const AZP = 'http://localhost:3000';
const FIXTURES = join(ROOT, 'crates', 'clerk', 'tests', 'fixtures');

const TMP = mkdtempSync(join(tmpdir(), 'tenantry-bench-http-'));
const PGDIR = mkdtempSync(join(tmpdir(), 'tenantry-bench-http-pg-'));
let pgEnv = null;
const log = (...a) => console.error('[bench-http]', ...a);

const group = processGroup(TMP, () => pgEnv);
const start = group.start;
const stopAll = group.stopAll;

/** An RS256 session token as Clerk mints it (kid = the fixture instance's). */
function sessionToken() {
  const now = Math.floor(Date.now() / 1000);
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const header = b64({ alg: 'RS256', typ: 'JWT', kid: 'ins_test' });
  const payload = b64({
    sub: 'user_bench', sid: 'sess_bench', iss: 'https://clerk.example.com', azp: AZP,
    iat: now, nbf: now - 10, exp: now + 3600, v: 2, fea: 'o:projects',
    o: { id: 'org_bench', slg: 'bench', rol: 'admin', per: 'manage,read', fpm: '3' },
  });
  const sig = createSign('RSA-SHA256').update(`${header}.${payload}`).sign(readFileSync(join(FIXTURES, 'instance-private.pem')));
  return `${header}.${payload}.${sig.toString('base64url')}`;
}

/** The fields of /proc/<pid>/stat after the command name: [0] state, [1] ppid, [11] utime… */
function procStat(pid) {
  return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
}

/** User + system CPU time of a process so far, in microseconds (/proc/<pid>/stat, 100 Hz ticks). */
function cpuMicros(pid) {
  const fields = procStat(pid);
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/**
 * User + system CPU time of the throwaway Postgres so far, in microseconds: the postmaster's own
 * and its exited children's (`cutime`, `cstime`), and each live child's (the pools' backends
 * live as long as their connections). Every server here shares the one Postgres and a round
 * measures one server at a time, so the difference over a round is that server's database work
 * (and Postgres's own background work in that time). Round trips cost the database CPU too: on
 * two cores, the server, Postgres and wrk share both.
 */
function postgresMicros() {
  const postmaster = Number(readFileSync(join(PGDIR, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  const own = procStat(postmaster);
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fields;
    try {
      fields = procStat(entry);
    } catch {
      continue; // gone since the listing
    }
    if (Number(fields[1]) === postmaster) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks * 10_000;
}

/** The median of measurement `k` (rps, p99, cpu, db) over the rounds recorded for route `name`. */
function median(results, name, k) {
  const v = results.get(name).map((r) => r[k]).sort((x, y) => x - y);
  return v[Math.floor(v.length / 2)];
}

/** A number as the tables print it: thousands separated, `d` decimals. */
const fmt = (n, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

/**
 * Runs wrk with `connections` connections (one thread for one); returns requests/s, p50 and p99
 * in ms, and the request count. Non-2xx/3xx answers fail.
 */
function wrk(route, seconds, connections = CONNECTIONS) {
  const args = [connections > 1 ? '-t2' : '-t1', `-c${connections}`, `-d${seconds}s`, '--latency'];
  for (const [k, v] of Object.entries(route.headers || {})) args.push('-H', `${k}: ${v}`);
  if (route.body !== undefined) {
    const script = join(TMP, `${route.name.replace(/\W/g, '_')}.lua`);
    writeFileSync(script, `wrk.method = "POST"\nwrk.body = ${JSON.stringify(route.body)}\n`);
    args.push('-s', script);
  }
  args.push(route.url);
  const out = execFileSync('wrk', args, { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]);
  const requests = Number(/(\d+) requests in/.exec(out)[1]);
  const percentile = (p) => {
    const m = new RegExp(`${p}%\\s+([\\d.]+)(us|ms|s)\\b`).exec(out);
    return Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2]];
  };
  const [p50, p99] = [percentile(50), percentile(99)];
  const bad = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (bad) throw new Error(`${route.name}: ${bad[1]} answers were not 2xx/3xx\n${out}`);
  if (/Socket errors/.test(out)) throw new Error(`${route.name}: socket errors\n${out}`);
  return { rps, p50, p99, requests };
}

/** One request, checked: the right status, and the body shows the seeded rows where expected. */
async function verify(route) {
  const res = await fetch(route.url, {
    method: route.body !== undefined ? 'POST' : 'GET', headers: route.headers, body: route.body, redirect: 'manual',
  });
  const text = await res.text();
  if (res.status !== route.status) throw new Error(`${route.name}: ${res.status}, expected ${route.status}: ${text.slice(0, 300)}`);
  for (const s of route.contains || []) {
    if (!text.includes(s)) throw new Error(`${route.name}: the answer lacks ${JSON.stringify(s)}: ${text.slice(0, 500)}`);
  }
  return text.length;
}

/**
 * The same page and JSON call through HAProxy, to one replica and to REPLICAS replicas of the
 * release build against the one Postgres, in interleaved rounds: throughput and the replicas'
 * CPU per request (summed). Returns the table's lines.
 */
async function replicaScaling({ BIN, appEnv, app, appPort, page, form }) {
  const more = [];
  for (let i = 2; i <= REPLICAS; i++) {
    const port = await freePort();
    more.push({ port, proc: start(`tenantry-${i}`, BIN, ['serve'], appEnv(port)) });
  }
  for (const r of more) await waitFor(`http://127.0.0.1:${r.port}/healthz`);
  const [onePort, allPort] = [await freePort(), await freePort()];
  const server = (n, port) => `  server app${n} 127.0.0.1:${port}`;
  const cfg = join(TMP, 'haproxy-bench.cfg');
  writeFileSync(cfg, `global
  maxconn 4000
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
frontend one
  bind 127.0.0.1:${onePort}
  default_backend one
frontend all
  bind 127.0.0.1:${allPort}
  default_backend all
backend one
  balance roundrobin
${server(1, appPort)}
backend all
  balance roundrobin
${[appPort, ...more.map((r) => r.port)].map((p, i) => server(i + 1, p)).join('\n')}
`);
  execFileSync('haproxy', ['-c', '-q', '-f', cfg], { stdio: 'inherit' });
  start('haproxy-bench', 'haproxy', ['-db', '-f', cfg], process.env);
  const one = (p) => `http://127.0.0.1:${onePort}${p}`;
  const all = (p) => `http://127.0.0.1:${allPort}${p}`;
  await waitFor(one('/healthz'));
  await waitFor(all('/healthz'));
  const procs = { one: [app], all: [app, ...more.map((r) => r.proc)] };
  const routes = [
    ['workspace page', (u) => ({ url: u('/app/projects'), headers: page, status: 200, contains: ['Project 5', '</html>'] })],
    ['projects JSON', (u) => ({ url: u('/api/projects/list'), headers: form, body: 'search=&status=active', status: 200, contains: ['Project 5'] })],
  ];
  const results = new Map();
  const cpu = (ps) => ps.reduce((sum, p) => sum + cpuMicros(p.pid), 0);
  for (const [label, make] of routes) {
    for (const [setup, u] of [['one', one], ['all', all]]) await verify({ name: `${label} ${setup}`, ...make(u) });
  }
  log(`replicas: HAProxy to 1 replica on :${onePort}, to ${REPLICAS} on :${allPort}; checked`);
  for (let round = 1; round <= ROUNDS; round++) {
    log(`replicas round ${round} of ${ROUNDS}`);
    for (const [label, make] of routes) {
      for (const [setup, u] of [['one', one], ['all', all]]) {
        const route = { name: `${label} ${setup}`, ...make(u) };
        wrk(route, WARMUP);
        const before = cpu(procs[setup]);
        const r = wrk(route, SECONDS);
        r.cpu = (cpu(procs[setup]) - before) / r.requests;
        if (!results.has(route.name)) results.set(route.name, []);
        results.get(route.name).push(r);
      }
    }
  }
  const med = (name, k) => median(results, name, k);
  const lines = [
    `Through HAProxy, ${REPLICAS} replicas against 1 (one Postgres, ${availableParallelism()} cores shared by wrk, HAProxy, Postgres and the replicas):`,
    '',
    `| request | 1 replica req/s | p99 | CPU/req | ${REPLICAS} replicas req/s | p99 | CPU/req | throughput ratio |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const [label] of routes) {
    const [o, a] = [`${label} one`, `${label} all`];
    lines.push(`| ${label} | ${fmt(med(o, 'rps'))} | ${fmt(med(o, 'p99'), 1)} ms | ${fmt(med(o, 'cpu'))} µs | ${fmt(med(a, 'rps'))} | ${fmt(med(a, 'p99'), 1)} ms | ${fmt(med(a, 'cpu'))} µs | ${fmt(med(a, 'rps') / med(o, 'rps'), 2)}× |`);
  }
  return lines;
}


async function main() {
  const pgPort = await freePort();
  pgEnv = { ...process.env, TENANTRY_PG_DIR: PGDIR, TENANTRY_PG_PORT: String(pgPort) };
  delete pgEnv.DATABASE_URL;
  const dbEnv = Object.fromEntries(
    execFileSync(join(ROOT, 'scripts', 'pg'), ['start'], { env: pgEnv, encoding: 'utf8' })
      .trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  const BIN = join(RELEASE, 'tenantry');
  execFileSync(BIN, ['migrate'], { env: { ...process.env, ...dbEnv }, stdio: ['ignore', 'ignore', 'inherit'] });
  const psql = (sql) => execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', dbEnv.DATABASE_ADMIN_URL, '-c', sql]);
  // The same 5-row organization as the measurement, with its user and membership mirrored.
  psql(`INSERT INTO organizations (id, slug, name) VALUES ('org_bench', 'bench', 'Bench Org');
        INSERT INTO users (clerk_id, email, name) VALUES ('user_bench', 'bench@example.test', 'Bench User');
        INSERT INTO org_memberships (org_id, user_clerk_id, role) VALUES ('org_bench', 'user_bench', 'org:admin');
        INSERT INTO projects (org_id, name, description, created_by)
          SELECT 'org_bench', 'Project ' || i, 'project number ' || i, 'user_bench' FROM generate_series(1, 5) i;`);

  const appPort = await freePort();
  const ceilingPort = await freePort();
  const appEnv = (port) => ({
    ...process.env, ...readEnvFile(join(RELEASE, 'leptos.env')),
    DATABASE_URL: dbEnv.DATABASE_URL,
    TENANTRY_ADDR: `127.0.0.1:${port}`,
    CLERK_PUBLISHABLE_KEY: 'pk_live_Y2xlcmsuZXhhbXBsZS5jb20k',
    CLERK_SECRET_KEY: 'sk_live_bench',
    CLERK_API_URL: 'http://127.0.0.1:9',
    CLERK_JWT_KEY: readFileSync(join(FIXTURES, 'instance-public.pem'), 'utf8'),
    CLERK_AUTHORIZED_PARTIES: AZP,
    CLERK_WEBHOOK_SIGNING_SECRET: 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD',
    CLERK_SIGN_IN_URL: 'https://accounts.example.com/sign-in',
    CLERK_SIGN_UP_URL: 'https://accounts.example.com/sign-up',
    RUST_LOG: process.env.RUST_LOG || 'info',
  });
  const app = start('tenantry', BIN, ['serve'], appEnv(appPort));
  // The same build with the verified-signature cache off: wrk sends one token over and over,
  // which the cache answers after the first request; this one verifies every signature, as a
  // request with a token not seen before (crates/clerk/src/signatures.rs).
  const uncachedPort = await freePort();
  const uncached = start('tenantry-uncached', BIN, ['serve'], { ...appEnv(uncachedPort), TENANTRY_VERIFIED_SIGNATURES: '0' });
  // The ceiling reads as the schema owner: it sets no row-level-security context (that is part
  // of what it leaves out), and filters on the organization itself. Its scoped call reads as
  // Tenantry's runtime role, under row-level security.
  const ceiling = start('ceiling', CEILING, [], {
    ...process.env,
    CEILING_ADDR: `127.0.0.1:${ceilingPort}`,
    DATABASE_URL: dbEnv.DATABASE_ADMIN_URL,
    SCOPED_DATABASE_URL: dbEnv.DATABASE_URL,
    CLERK_JWT_KEY: readFileSync(join(FIXTURES, 'instance-public.pem'), 'utf8'),
    CLERK_AUTHORIZED_PARTIES: AZP,
  });
  await waitFor(`http://127.0.0.1:${appPort}/healthz`);
  await waitFor(`http://127.0.0.1:${uncachedPort}/healthz`);
  await waitFor(`http://127.0.0.1:${ceilingPort}/healthz`);

  const token = sessionToken();
  const cookie = `__session=${token}; __client_uat=${Math.floor(Date.now() / 1000) - 100}`;
  const t = (p) => `http://127.0.0.1:${appPort}${p}`;
  const c = (p) => `http://127.0.0.1:${ceilingPort}${p}`;
  const u = (p) => `http://127.0.0.1:${uncachedPort}${p}`;
  const page = { accept: 'text/html', cookie };
  const bearer = { authorization: `Bearer ${token}` };
  const form = { ...bearer, 'content-type': 'application/x-www-form-urlencoded' };
  // Pairs: [Tenantry, ceiling] for each kind of request.
  const pairs = [
    ['workspace page (cookie, SSR)',
      { name: 'page', url: t('/app/projects'), headers: page, status: 200, contains: ['Project 5', 'Bench Org', '<leptos-island', '</html>'] },
      { name: 'ceiling page', url: c('/app/projects'), headers: page, status: 200, contains: ['Project 5'] }],
    // As a browser asks for it (Chrome's Accept-Encoding over HTTPS), which wrk does not unless
    // told: the page comes gzipped (startup::compression).
    ['workspace page, compressed (a browser\'s Accept-Encoding)',
      { name: 'page compressed', url: t('/app/projects'), headers: { ...page, 'accept-encoding': 'gzip, deflate, br, zstd' }, status: 200, contains: ['Project 5', 'Bench Org', '<leptos-island', '</html>'] },
      'ceiling page'],
    // Not the goal's baseline either: the ceiling's page with the workspace page's database work
    // added, as Tenantry does it (crates/bench-ceiling: the shell's statement and the projects'
    // side by side, each entering its scope itself).
    ['workspace page against the scoped ceiling page',
      'page',
      { name: 'ceiling page scoped', url: c('/app/projects-scoped'), headers: page, status: 200, contains: ['Project 5', 'Bench Org'] }],
    ['projects JSON (Bearer, server fn)',
      { name: 'json', url: t('/api/projects/list'), headers: form, body: 'search=&status=active', status: 200, contains: ['Project 5'] },
      { name: 'ceiling json', url: c('/api/projects/list'), headers: form, body: 'search=&status=active', status: 200, contains: ['Project 5'] }],
    // Not the goal's baseline: the ceiling's JSON call with Tenantry's tenant scope's database
    // work added (crates/bench-ceiling), to tell that work from the rest of the JSON call's cost.
    ['projects JSON against the scoped ceiling',
      'json',
      { name: 'ceiling json scoped', url: c('/api/projects/list-scoped'), headers: form, body: 'search=&status=active', status: 200, contains: ['Project 5'] }],
    ['workspace page, every signature verified',
      { name: 'page uncached', url: u('/app/projects'), headers: page, status: 200, contains: ['Project 5', 'Bench Org', '<leptos-island', '</html>'], proc: uncached },
      'ceiling page'],
    ['projects JSON, every signature verified',
      { name: 'json uncached', url: u('/api/projects/list'), headers: form, body: 'search=&status=active', status: 200, contains: ['Project 5'], proc: uncached },
      'ceiling json'],
    ['REST v1 list (Bearer)',
      { name: 'v1', url: t('/api/v1/projects'), headers: bearer, status: 200, contains: ['Project 5'] },
      'ceiling json'],
    ['signed-out redirect',
      { name: 'redirect', url: t('/app/projects'), headers: { accept: 'text/html' }, status: 307 },
      null],
    ['/healthz',
      { name: 'healthz', url: t('/healthz'), status: 200 },
      { name: 'ceiling healthz', url: c('/healthz'), status: 200 }],
  ];
  // A string instead of a route: compared with that route's measurement, not measured again.
  const measured = (b) => b && typeof b === 'object';
  const named = (r) => (typeof r === 'string' ? r : r.name);
  for (const [, a, b] of pairs) {
    if (measured(a)) await verify(a);
    if (measured(b)) await verify(b);
  }
  const pageBytes = await verify(pairs[0][1]);
  log(`checked every route; the page is ${pageBytes} bytes of HTML`);
  await checkReleaseServing(t, join(RELEASE, 'site', 'pkg'), page);

  // --hold: leave everything running for a profiler (perf record -p <pid>) until Ctrl-C.
  if (process.argv.includes('--hold')) {
    log(`holding: tenantry pid ${app.pid} on ${t('')}, ceiling pid ${ceiling.pid} on ${c('')}`);
    writeFileSync(join(TMP, 'hold.env'), `APP_PID=${app.pid}\nAPP=${t('')}\nCEILING=${c('')}\nCOOKIE='${cookie}'\nTOKEN=${token}\n`);
    log(`env for scripts in ${join(TMP, 'hold.env')}`);
    await new Promise((resolve) => process.once('SIGINT', resolve));
    return;
  }
  const results = new Map();
  const measure = (route, proc) => {
    wrk(route, WARMUP);
    const [before, dbBefore] = [cpuMicros(proc.pid), postgresMicros()];
    const r = wrk(route, SECONDS);
    r.cpu = (cpuMicros(proc.pid) - before) / r.requests;
    r.db = (postgresMicros() - dbBefore) / r.requests;
    if (!results.has(route.name)) results.set(route.name, []);
    results.get(route.name).push(r);
  };
  for (let round = 1; round <= ROUNDS; round++) {
    log(`round ${round} of ${ROUNDS}`);
    // Each round starts one row later, and every other round measures the ceiling first: no
    // row always runs first (after the checks, on a machine just busy with them) or always
    // after the same neighbour.
    const start = (round - 1) % pairs.length;
    for (const [, a, b] of [...pairs.slice(start), ...pairs.slice(0, start)]) {
      const both = [[a, a.proc || app], [b, ceiling]].filter(([route]) => measured(route));
      if (round % 2 === 0) both.reverse();
      for (const [route, proc] of both) measure(route, proc);
    }
  }
  // One connection at a time: a request's own latency, which a queue of 64 hides (a streamed
  // page once waited 40 ms per request for the client's delayed acknowledgement, Nagle's
  // algorithm being on, and only this showed it).
  const alone = new Map();
  const alonePairs = pairs.filter(([, a]) => a.name === 'page' || a.name === 'json');
  const aloneSeconds = Math.max(2, Math.round(SECONDS / 3));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const route of alonePairs.flatMap(([, a, b]) => [a, b])) {
      const r = wrk(route, aloneSeconds, 1);
      if (!alone.has(route.name)) alone.set(route.name, []);
      alone.get(route.name).push(r);
    }
  }
  const med = (name, k) => median(results, name, k);
  const lines = [];
  lines.push(`wrk -t2 -c${CONNECTIONS}, ${SECONDS} s after ${WARMUP} s of warm-up, median of ${ROUNDS} interleaved rounds, release builds, 5-row organization`);
  lines.push('');
  lines.push('| request | Tenantry req/s | p99 | CPU/req | Postgres CPU/req | ceiling req/s | p99 | CPU/req | Postgres CPU/req | throughput ratio | p99 ratio |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [label, a, b] of pairs) {
    const [ar, ap, ac, ad] = ['rps', 'p99', 'cpu', 'db'].map((k) => med(named(a), k));
    if (!b) {
      lines.push(`| ${label} | ${fmt(ar)} | ${fmt(ap, 1)} ms | ${fmt(ac)} µs | ${fmt(ad)} µs | | | | | | |`);
      continue;
    }
    const [br, bp, bc, bd] = ['rps', 'p99', 'cpu', 'db'].map((k) => med(named(b), k));
    lines.push(`| ${label} | ${fmt(ar)} | ${fmt(ap, 1)} ms | ${fmt(ac)} µs | ${fmt(ad)} µs | ${fmt(br)} | ${fmt(bp, 1)} ms | ${fmt(bc)} µs | ${fmt(bd)} µs | ${fmt((ar / br) * 100)} % | ${fmt(ap / bp, 1)}× |`);
  }
  lines.push('', `One connection at a time (wrk -t1 -c1, ${aloneSeconds} s, median of ${ROUNDS} rounds):`, '');
  lines.push('| request | Tenantry req/s | p50 | p99 | ceiling req/s | p50 | p99 | p50 ratio |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [label, a, b] of alonePairs) {
    const m = (name, k) => median(alone, name, k);
    lines.push(`| ${label} | ${fmt(m(a.name, 'rps'))} | ${fmt(m(a.name, 'p50'), 2)} ms | ${fmt(m(a.name, 'p99'), 2)} ms | ${fmt(m(b.name, 'rps'))} | ${fmt(m(b.name, 'p50'), 2)} ms | ${fmt(m(b.name, 'p99'), 2)} ms | ${fmt(m(a.name, 'p50') / m(b.name, 'p50'), 1)}× |`);
  }
  lines.push('', 'Every signature verified: the same build with TENANTRY_VERIFIED_SIGNATURES=0 (wrk repeats one token, which the other rows answer from the verified-signature cache after the first request; the ceiling verifies it every time).');
  lines.push('', 'The scoped ceiling: the ceiling\'s JSON call as Tenantry\'s runtime role, with Tenantry\'s own statement for a list that is its request\'s only read (tenant_projects_page: read-only, the settings, the tombstone check, the list query). The scoped ceiling page likewise: the ceiling\'s page as Tenantry\'s runtime role, with the workspace page\'s database work (the shell\'s statement, member_workspace_shell, and the projects\' side by side, each entering its scope itself). Not the goal\'s baseline: they tell Tenantry\'s database work from the rest.');
  if (REPLICAS) lines.push('', ...(await replicaScaling({ BIN, appEnv, app, appPort, page, form })));
  lines.push('');
  // The first load's goal (issue 18), for every page; scripts/release enforces
  // scripts/first-load.mjs's budgets, which are tighter where the goal is met.
  const goal = GOAL;
  for (const [kind, weight] of pageKinds(firstLoad(join(RELEASE, 'site', 'pkg')))) {
    lines.push(`First load of ${kind} (wasm + JS + CSS, gzip -9): ${fmt(weight.total / 1024, 1)} KiB (goal ${goal / 1024} KiB: ${weight.total <= goal ? 'met' : 'not met'}); ${fmt(weight.served / 1024, 1)} KiB as served with brotli`);
    for (const f of weight.files) lines.push(`  ${f.name}: ${fmt(f.raw)} bytes raw, ${fmt(f.gzip)} gzip`);
  }
  console.log(lines.join('\n'));
  writeFileSync(join(ROOT, '.data', 'bench-http.txt'), `${lines.join('\n')}\n`);
}

let failed = false;
try {
  await main();
} catch (e) {
  failed = true;
  console.error(e.stack || e);
  console.error(`logs in ${TMP}`);
} finally {
  await stopAll();
  if (!failed) rmSync(TMP, { recursive: true, force: true });
  rmSync(PGDIR, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
