# Shared settings for the project scripts (sourced, not run).
# Cargo's target directory lives outside the clone so fresh clones (CI) reuse earlier builds.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${TENANTRY_CACHE:-$HOME/.cache/tenantry}/target}"
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export PATH="$CARGO_HOME/bin:$PATH"
# Build the committed .sqlx query data, never a live database, unless asked (scripts/sqlx-prepare).
export SQLX_OFFLINE="${SQLX_OFFLINE:-true}"
# Incremental caches grow without bound in a reused target directory and buy nothing in CI.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
# The toolchain chosen by scripts/bootstrap (rustup's own with wasm32, or Debian's rustc-web).
if [ -f "$ROOT/.data/toolchain.env" ]; then . "$ROOT/.data/toolchain.env"; fi
# The bin directory of a cargo and rustc of one version whose library source is installed (to
# build the release wasm's std: scripts/release-wasm/cargo): the active toolchain's if it has
# rust-src, else Debian's cargo-web and rustc-web with rust-web-src (scripts/bootstrap installs
# them). Fails if there is none.
wasm_std_toolchain() {
  local active dir
  active=$(rustup which rustc 2>/dev/null || true)
  for dir in ${active:+"$(dirname "$active")"} /usr/bin; do
    [ -x "$dir/rustc" ] && [ -x "$dir/cargo" ] || continue
    [ -d "$("$dir/rustc" --print sysroot)/lib/rustlib/src/rust/library" ] || continue
    # The same release of both: `rustc 1.96.0 (…)` and `cargo 1.96.0 (…)`.
    [ "$("$dir/rustc" -V | awk '{print $2}')" = "$("$dir/cargo" -V | awk '{print $2}')" ] || continue
    echo "$dir"
    return 0
  done
  return 1
}
log() { printf '\033[1m[%s]\033[0m %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }
