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
log() { printf '\033[1m[%s]\033[0m %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }
