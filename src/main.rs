use std::process::ExitCode;

/// mimalloc rather than glibc's malloc: a server-rendered page is thousands of small, short-lived
/// allocations, and glibc's `malloc`/`free` were ~17 % of the page's CPU profile (README,
/// Performance).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    tenantry::server::cli::run().await
}
