//! Throwaway Postgres for tests.
//!
//! `DATABASE_URL` given (a role allowed to create databases and roles) → it is used.
//! Otherwise one cluster per test process is started from the local binaries (`initdb`,
//! `postgres`) in a temporary directory, listening on a free loopback port. The postmaster is a
//! child of a long-lived helper thread with `PR_SET_PDEATHSIG`, so it dies with the test process
//! even when tests panic; the data directory of dead processes is swept on the next start.
//!
//! Every test then asks for a fresh database ([`fresh_database`]) so tests never share rows.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

/// Name of the non-superuser, non-BYPASSRLS role the app runs as in tests.
pub const APP_ROLE: &str = "tenantry_app_test";
pub const APP_PASSWORD: &str = "tenantry_app_test_pw";

#[derive(Debug, Clone)]
pub struct Cluster {
    /// Superuser (or `DATABASE_URL` role) URL without a database path, e.g. `postgres://u@127.0.0.1:5433`.
    pub admin_base: String,
    /// Database that always exists, used to run `CREATE DATABASE`.
    pub maintenance_db: String,
}

impl Cluster {
    pub fn admin_url(&self, db: &str) -> String {
        format!("{}/{}", self.admin_base, db)
    }
    /// URL of the app role for a database, same host and port as the admin URL.
    pub fn app_url(&self, db: &str) -> String {
        let after_scheme = self.admin_base.trim_start_matches("postgres://").trim_start_matches("postgresql://");
        let host = after_scheme.rsplit('@').next().unwrap_or(after_scheme);
        format!("postgres://{APP_ROLE}:{APP_PASSWORD}@{host}/{db}")
    }
}

/// A database created for one test.
#[derive(Debug, Clone)]
pub struct TestDatabase {
    pub name: String,
    /// URL of the superuser / admin role (migrations, fixtures).
    pub admin_url: String,
    /// URL of the restricted runtime role (what the app uses).
    pub app_url: String,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The process-wide cluster, started on first use.
pub fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => from_url(&url),
        _ => start_local().unwrap_or_else(|e| panic!("pg-harness: cannot start a throwaway Postgres: {e}")),
    })
}

/// Create an empty database plus the restricted app role (idempotent), and return their URLs.
/// Schema is the caller's business (tests run the app's migrations).
pub fn fresh_database() -> TestDatabase {
    let c = cluster();
    let name = format!("t_{}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst), nanos());
    psql(c, &c.maintenance_db, &format!("CREATE DATABASE {name}"));
    ensure_app_role(c);
    psql(
        c,
        &name,
        &format!("GRANT CONNECT, TEMP ON DATABASE {name} TO {APP_ROLE}; GRANT USAGE ON SCHEMA public TO {APP_ROLE};"),
    );
    TestDatabase { admin_url: c.admin_url(&name), app_url: c.app_url(&name), name }
}

fn ensure_app_role(c: &Cluster) {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        psql(
            c,
            &c.maintenance_db,
            &format!(
                "DO $$ BEGIN \
                   IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN \
                     CREATE ROLE {APP_ROLE} LOGIN PASSWORD '{APP_PASSWORD}' NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE; \
                   END IF; \
                 EXCEPTION WHEN unique_violation OR duplicate_object THEN NULL; END $$;"
            ),
        );
    });
}

/// Run SQL as the admin role through `psql` (keeps this crate free of an async runtime).
pub fn psql(c: &Cluster, db: &str, sql: &str) {
    let out = Command::new(psql_bin())
        .arg(c.admin_url(db))
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-X", "-c", sql])
        .output()
        .expect("pg-harness: psql not found");
    if !out.status.success() {
        panic!("pg-harness: psql failed for `{sql}`: {}", String::from_utf8_lossy(&out.stderr));
    }
}

fn from_url(url: &str) -> Cluster {
    // Split `postgres://user:pw@host:port/db?x` into base and database.
    let (scheme, rest) = url.split_once("://").expect("DATABASE_URL must be a postgres:// URL");
    let (authority, db) = match rest.split_once('/') {
        Some((a, d)) => (a, d.split('?').next().unwrap_or("postgres")),
        None => (rest, "postgres"),
    };
    Cluster {
        admin_base: format!("{scheme}://{authority}"),
        maintenance_db: if db.is_empty() { "postgres".into() } else { db.into() },
    }
}

fn nanos() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0)
}

fn bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("PG_BIN_DIR") {
        return Some(PathBuf::from(dir));
    }
    // Debian keeps the server binaries out of PATH.
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn tool(name: &str) -> PathBuf {
    bin_dir().map(|d| d.join(name)).filter(|p| p.exists()).unwrap_or_else(|| PathBuf::from(name))
}

fn psql_bin() -> PathBuf {
    tool("psql")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("no free port")
}

/// When running as root, Postgres refuses to start: drop to the `postgres` system user.
fn run_as() -> Option<(libc::uid_t, libc::gid_t)> {
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let name = std::ffi::CString::new("postgres").unwrap();
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        panic!("pg-harness: running as root and there is no `postgres` user to run the cluster as");
    }
    Some(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

fn sweep_stale(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if let Some(pid) = name.strip_prefix("tenantry-pg-").and_then(|p| p.parse::<i32>().ok()) {
            let alive = unsafe { libc::kill(pid, 0) } == 0;
            if !alive {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

fn start_local() -> Result<Cluster, String> {
    let tmp = std::env::temp_dir();
    sweep_stale(&tmp);
    let dir = tmp.join(format!("tenantry-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("data");
    std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
    let creds = run_as();
    if let Some((uid, gid)) = creds {
        chown_r(&dir, uid, gid);
    }
    let user = "postgres";
    let mut initdb = Command::new(tool("initdb"));
    initdb.args(["-D"]).arg(&data).args(["-U", user, "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]);
    initdb.stdout(Stdio::null()).stderr(Stdio::piped());
    with_creds(&mut initdb, creds, false);
    let out = initdb.output().map_err(|e| format!("initdb: {e} (install the postgresql package)"))?;
    if !out.status.success() {
        return Err(format!("initdb failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let port = free_port();
    let (tx, rx) = mpsc::channel();
    let postgres = tool("postgres");
    let data2 = data.clone();
    let dir2 = dir.clone();
    // The helper thread owns the postmaster and lives as long as the process: PDEATHSIG fires
    // when the *thread* that forked the child exits, so it must not be a short-lived test thread.
    std::thread::Builder::new()
        .name("pg-harness-postmaster".into())
        .spawn(move || {
            let mut cmd = Command::new(postgres);
            cmd.arg("-D")
                .arg(&data2)
                .args([
                    "-p",
                    &port.to_string(),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=300",
                    // For tests that count what a request ran (tests/it/page_reads.rs). Utility
                    // statements (every test database's migrations) untracked, and room for the
                    // statements of every test of a run: none of a test's is evicted under it.
                    "-c",
                    "shared_preload_libraries=pg_stat_statements",
                    "-c",
                    "pg_stat_statements.track_utility=off",
                    "-c",
                    "pg_stat_statements.max=20000",
                    "-c",
                    "pg_stat_statements.save=off",
                ])
                .arg("-k")
                .arg(&dir2);
            cmd.stdout(Stdio::null())
                .stderr(Stdio::from(std::fs::File::create(dir2.join("postgres.log")).expect("log file")));
            with_creds(&mut cmd, creds, true);
            match cmd.spawn() {
                Ok(mut child) => {
                    let _ = tx.send(Ok(()));
                    let _ = child.wait();
                }
                Err(e) => {
                    let _ = tx.send(Err(format!("postgres: {e}")));
                    return;
                }
            }
            loop {
                std::thread::park();
            }
        })
        .map_err(|e| e.to_string())?;
    rx.recv().map_err(|e| e.to_string())??;
    let cluster =
        Cluster { admin_base: format!("postgres://{user}@127.0.0.1:{port}"), maintenance_db: "postgres".into() };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok = Command::new(psql_bin())
            .arg(cluster.admin_url("postgres"))
            .args(["-X", "-q", "-c", "select 1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            return Ok(cluster);
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("postgres.log")).unwrap_or_default();
            return Err(format!("postgres did not become ready within 30 s:\n{log}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn chown_r(path: &Path, uid: libc::uid_t, gid: libc::gid_t) {
    let c = std::ffi::CString::new(path.as_os_str().to_string_lossy().as_bytes()).unwrap();
    unsafe { libc::chown(c.as_ptr(), uid, gid) };
    if let Ok(entries) = std::fs::read_dir(path) {
        for e in entries.flatten() {
            chown_r(&e.path(), uid, gid);
        }
    }
}

fn with_creds(cmd: &mut Command, creds: Option<(libc::uid_t, libc::gid_t)>, die_with_parent: bool) {
    use std::os::unix::process::CommandExt;
    unsafe {
        cmd.pre_exec(move || {
            if let Some((uid, gid)) = creds {
                if libc::setgroups(0, std::ptr::null()) != 0 || libc::setgid(gid) != 0 || libc::setuid(uid) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // After the uid change: changing credentials clears the parent-death signal.
            if die_with_parent && libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
