# Shared by the scripts: where tools live and how to get them. Sourced, not run.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS="${KEYDESK_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/keydesk-tools}"
export PATH="$HOME/.cargo/bin:$TOOLS/node_modules/.bin:$PATH"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# The wasm-bindgen version Trunk will insist on: exactly the one in Cargo.lock.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

# The release server as it ships: the page built into it (dist/ must be built first). One
# definition, so that scripts/build, tests/api/run and scripts/package build the same binary and
# none of them rebuilds it another way.
build_release_server() {
  cargo build --release -p keydesk-server --features embed-page "$@"
}
