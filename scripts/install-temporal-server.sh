#!/usr/bin/env bash
# Builds the full Temporal server (all services in one process: frontend, history, matching,
# worker) and its SQL schema tool from the Go module proxy, for the production topology on
# PostgreSQL (src/dev/temporal-server.ts, TEMPORAL_PERSISTENCE=postgres):
#
#   server   go.temporal.io/server/cmd/server      (`temporal-server` in the temporalio/server image)
#   sql      go.temporal.io/server/cmd/tools/sql   (`temporal-sql-tool` in temporalio/admin-tools;
#                                                   the PostgreSQL schemas are embedded in it)
#
# into the same per-user cache as scripts/install-temporal.sh, one directory per version:
#   ~/.cache/appointment-orchestrator/temporal/bin-server-<version>/{server,sql}
# Needs `go` (any version: GOTOOLCHAIN fetches the one the module requires, go1.27.3 for 1.32.2,
# through the same proxy). The first build takes 6-9 minutes on two cores.
# Idempotent: exits at once when both binaries are present. Prints their paths.
set -euo pipefail

SERVER_VERSION="${TEMPORAL_SERVER_VERSION:-1.32.2}"
export GOTOOLCHAIN="${TEMPORAL_SERVER_GOTOOLCHAIN:-go1.27.3}"
TOOLS_DIR="${TEMPORAL_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/appointment-orchestrator/temporal}"
SERVER_DIR="$TOOLS_DIR/bin-server-$SERVER_VERSION"

log() { printf '[install-temporal-server] %s\n' "$*" >&2; }
print_paths() {
  echo "TEMPORAL_SERVER_PATH=$SERVER_DIR/server"
  echo "TEMPORAL_SQL_TOOL_PATH=$SERVER_DIR/sql"
}

if [ -x "$SERVER_DIR/server" ] && [ -x "$SERVER_DIR/sql" ]; then
  log "Temporal server $SERVER_VERSION present: $SERVER_DIR"
  print_paths
  exit 0
fi

command -v go >/dev/null || { log "needs the go command (e.g. apt-get install golang-go); GOTOOLCHAIN=$GOTOOLCHAIN does the rest"; exit 1; }

# Build into a scratch GOBIN and move both binaries in at the end, so an interrupted build never
# leaves a directory that looks complete. `go install module@version` runs outside any module.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$TOOLS_DIR"
started=$(date +%s)
log "building go.temporal.io/server@v$SERVER_VERSION (cmd/server, cmd/tools/sql) with $GOTOOLCHAIN; the first build takes minutes"
(
  cd "$work"
  GOBIN="$work/bin" GOFLAGS=-mod=mod go install "go.temporal.io/server/cmd/server@v$SERVER_VERSION"
  GOBIN="$work/bin" GOFLAGS=-mod=mod go install "go.temporal.io/server/cmd/tools/sql@v$SERVER_VERSION"
)
mkdir -p "$SERVER_DIR"
install -m 0755 "$work/bin/sql" "$SERVER_DIR/sql"
install -m 0755 "$work/bin/server" "$SERVER_DIR/server"
log "built in $(($(date +%s) - started)) s: $("$SERVER_DIR/server" --version)"
print_paths
