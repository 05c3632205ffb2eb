#!/usr/bin/env bash
# Bounded Schemathesis run against the service's own OpenAPI document (GET /openapi.json).
#
#   bash scripts/schemathesis.sh            # exit 0: no failure; 1: failures (see the report dir)
#
# What it does, every time from scratch (idempotent; safe to run next to `npm start` or the tests):
#   1. installs Schemathesis (pinned) into a virtualenv cached under
#      ${XDG_CACHE_HOME:-~/.cache}/appointment-orchestrator/schemathesis, only if missing;
#   2. starts the service as a user does (`node -r @swc-node/register src/main.ts start`: embedded
#      PostgreSQL + Temporal CLI dev server + worker + API) with a fresh temporary DATA_DIR and free
#      ports, and waits for "Appointment orchestrator is running";
#   3. creates a company (platform token) and, with its admin key, one branch, service, staff
#      member, customer, appointment, a spare API key and its Cal.com and Retell integrations (their
#      webhook URLs' hook ids), so the ids Schemathesis is given exist;
#   4. runs `schemathesis run` with the checks not_a_server_error, status_code_conformance,
#      content_type_conformance, response_schema_conformance, a fixed seed and a bounded number of
#      examples per operation, under a wall-clock cap;
#   5. always stops the service (SIGTERM, then waits; SIGKILL of its process group only after a
#      grace period; PostgreSQL runs in its own session and is stopped by the service's SIGTERM
#      handler) and removes the temporary directory.
#
# Settings (environment):
#   SCHEMATHESIS_MAX_EXAMPLES  examples per operation and phase   (default 150)
#   SCHEMATHESIS_SEED          Hypothesis seed                    (default 20240601)
#   SCHEMATHESIS_WORKERS       concurrent Schemathesis workers    (default 1: deterministic order, and
#                              Python 3.11.7's ast.parse is not thread-safe (CPython gh-106905), which
#                              Hypothesis calls while building strategies: >1 worker can end an
#                              operation with "SystemError: AST constructor recursion depth mismatch")
#   SCHEMATHESIS_PHASES        phases to run                      (default examples,coverage,fuzzing,stateful)
#   SCHEMATHESIS_TIME_CAP      hard wall-clock cap of the Schemathesis run, seconds (default 600)
#   SCHEMATHESIS_REPORT_DIR    where reports and the service log go (default ./schemathesis-report)
#   SCHEMATHESIS_EXTRA_ARGS    extra arguments appended to `schemathesis run` (word-split)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ST_VERSION="4.32.5"
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/appointment-orchestrator/schemathesis"
VENV="$CACHE_DIR/venv-$ST_VERSION"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-150}"
SEED="${SCHEMATHESIS_SEED:-20240601}"
WORKERS="${SCHEMATHESIS_WORKERS:-1}"
PHASES="${SCHEMATHESIS_PHASES:-examples,coverage,fuzzing,stateful}"
TIME_CAP="${SCHEMATHESIS_TIME_CAP:-600}"
REPORT_DIR="${SCHEMATHESIS_REPORT_DIR:-$ROOT/schemathesis-report}"
CHECKS="not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
START_TIMEOUT_S=240
STOP_GRACE_S=60

log() { printf '[schemathesis.sh] %s\n' "$*" >&2; }
die() { log "$*"; exit 2; }
PY="$(command -v python3 || command -v python)" || die "python3 is required"

# --- 1. Schemathesis, pinned, in a cached virtualenv ------------------------------------------
install_schemathesis() {
  if "$VENV/bin/schemathesis" --version 2>/dev/null | grep -qx "schemathesis, version $ST_VERSION"; then return; fi
  mkdir -p "$CACHE_DIR"
  # One installer at a time (a concurrent run waits, then finds it installed).
  exec 9>"$CACHE_DIR/.install.lock"
  flock 9
  if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -qx "schemathesis, version $ST_VERSION"; then
    log "installing schemathesis==$ST_VERSION into $VENV"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$ST_VERSION"
  fi
  flock -u 9
  exec 9>&-
  "$VENV/bin/schemathesis" --version >/dev/null || die "schemathesis did not install"
}
install_schemathesis
ST="$VENV/bin/schemathesis"

# --- 2. The service ---------------------------------------------------------------------------
bash scripts/install-temporal.sh >/dev/null

TMP="$(mktemp -d "${TMPDIR:-/tmp}/schemathesis-run.XXXXXX")"
SERVICE_PID=""
stop_service() {
  [[ -n "$SERVICE_PID" ]] || return 0
  if kill -0 "$SERVICE_PID" 2>/dev/null; then
    log "stopping the service (SIGTERM to pid $SERVICE_PID)"
    kill -TERM "$SERVICE_PID" 2>/dev/null || true
    local waited=0
    while kill -0 "$SERVICE_PID" 2>/dev/null && ((waited < STOP_GRACE_S * 5)); do sleep 0.2; waited=$((waited + 1)); done
    if kill -0 "$SERVICE_PID" 2>/dev/null; then
      log "the service did not stop within ${STOP_GRACE_S}s; SIGKILL to its process group"
      kill -KILL -- "-$SERVICE_PID" 2>/dev/null || true
    fi
  fi
  wait "$SERVICE_PID" 2>/dev/null || true
  # Whatever the service started and left behind in its own process group (it should be nothing).
  kill -KILL -- "-$SERVICE_PID" 2>/dev/null || true
  SERVICE_PID=""
}
cleanup() {
  local code=$?
  stop_service
  if [[ -f "$TMP/service.log" ]]; then mkdir -p "$REPORT_DIR" && cp "$TMP/service.log" "$REPORT_DIR/service.log" || true; fi
  rm -rf "$TMP"
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Four distinct free ports, all held at once while they are chosen.
read -r PORT PG_PORT TEMPORAL_PORT UI_PORT < <("$PY" - <<'PY'
import socket
socks = []
for _ in range(4):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(*(s.getsockname()[1] for s in socks))
for s in socks: s.close()
PY
)
PLATFORM_TOKEN="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(32))')"
BASE="http://127.0.0.1:$PORT"

log "starting the service: API $BASE, PostgreSQL :$PG_PORT, Temporal :$TEMPORAL_PORT (UI :$UI_PORT), DATA_DIR $TMP/data"
# Its own session/process group (setsid), so a last-resort SIGKILL reaches its children too.
DATA_DIR="$TMP/data" PORT="$PORT" HOST=127.0.0.1 EMBEDDED_POSTGRES_PORT="$PG_PORT" \
  TEMPORAL_DEV_PORT="$TEMPORAL_PORT" TEMPORAL_UI_PORT="$UI_PORT" PLATFORM_ADMIN_TOKEN="$PLATFORM_TOKEN" \
  API_RATE_LIMIT_PER_MINUTE=0 API_AUTH_FAILURES_PER_MINUTE=0 LOG_LEVEL="${LOG_LEVEL:-info}" \
  setsid node -r @swc-node/register src/main.ts start >"$TMP/service.log" 2>&1 </dev/null &
SERVICE_PID=$!

started=$SECONDS
until grep -q 'Appointment orchestrator is running' "$TMP/service.log" 2>/dev/null; do
  if ! kill -0 "$SERVICE_PID" 2>/dev/null; then tail -n 40 "$TMP/service.log" >&2; die "the service exited during start-up"; fi
  if ((SECONDS - started > START_TIMEOUT_S)); then tail -n 40 "$TMP/service.log" >&2; die "the service did not start within ${START_TIMEOUT_S}s"; fi
  sleep 0.5
done
log "service up after $((SECONDS - started))s"

# --- 3. A company, its admin key, and one of each directory entity -----------------------------
# POST (or another method) JSON to the API; prints the reply body; fails unless the status is 2xx.
api_post() { # token path json [method]
  "$PY" - "$BASE$2" "$1" "$3" "${4:-POST}" <<'PY'
import json, sys, urllib.request, urllib.error
url, token, body, method = sys.argv[1:5]
req = urllib.request.Request(url, data=body.encode(), method=method,
                             headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=30) as r:
        print(r.read().decode())
except urllib.error.HTTPError as e:
    sys.exit(f"{method} {url} -> {e.code}: {e.read().decode()}")
PY
}
json_get() { "$PY" -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[k]
print(v)' "$1"; }

company="$(api_post "$PLATFORM_TOKEN" /v1/companies '{"name":"Schemathesis Salon"}')"
ADMIN_KEY="$(json_get apiKey.key <<<"$company")"
BRANCH_ID="$(api_post "$ADMIN_KEY" /v1/branches '{"name":"Main branch","timeZone":"Europe/Madrid"}' | json_get id)"
SERVICE_ID="$(api_post "$ADMIN_KEY" /v1/services "{\"branchId\":\"$BRANCH_ID\",\"name\":\"Haircut\",\"durationMinutes\":30,\"priceCents\":2500}" | json_get id)"
STAFF_ID="$(api_post "$ADMIN_KEY" /v1/staff "{\"branchId\":\"$BRANCH_ID\",\"name\":\"Alex\",\"serviceIds\":[\"$SERVICE_ID\"]}" | json_get id)"
CUSTOMER_ID="$(api_post "$ADMIN_KEY" /v1/customers "{\"name\":\"Sam\",\"email\":\"sam@example.test\",\"homeBranchId\":\"$BRANCH_ID\"}" | json_get id)"
# A key for DELETE /v1/api-keys/{id} to revoke: Schemathesis reuses ids it saw in responses
# (GET /v1/api-keys lists the admin key), so that operation gets this id and no other.
SPARE_KEY_ID="$(api_post "$ADMIN_KEY" /v1/api-keys '{"name":"revoked by schemathesis","role":"agent"}' | json_get id)"
APPOINTMENT_ID="$(api_post "$ADMIN_KEY" /v1/appointments "{\"customerId\":\"$CUSTOMER_ID\",\"branchId\":\"$BRANCH_ID\",\"serviceId\":\"$SERVICE_ID\",\"staffId\":\"$STAFF_ID\",\"startsAt\":\"2030-03-01T10:00:00+01:00\",\"endsAt\":\"2030-03-01T10:30:00+01:00\"}" | json_get id)"
# The company's Cal.com and Retell integrations: their webhook URLs carry an id of their own
# (/webhooks/<provider>/<hook id>), offered to the webhook operations half of the time (401 without
# a valid signature; the other half, generated ids: 404).
CALCOM_HOOK="$(api_post "$ADMIN_KEY" /v1/integrations/calcom '{}' PUT | json_get webhookPath)"
RETELL_HOOK="$(api_post "$ADMIN_KEY" /v1/integrations/retell '{"secret":"key_schemathesis_0123456789abcdef"}' PUT | json_get webhookPath)"
CALCOM_HOOK_ID="${CALCOM_HOOK##*/}"
RETELL_HOOK_ID="${RETELL_HOOK##*/}"
log "company ready: admin key ${ADMIN_KEY:0:8}…, branch $BRANCH_ID, service $SERVICE_ID, staff $STAFF_ID, customer $CUSTOMER_ID, appointment $APPOINTMENT_ID, webhooks $CALCOM_HOOK $RETELL_HOOK"

# The ids above, offered for path `id` of the matching operations (half of the time; the other half
# Schemathesis generates its own UUIDs, i.e. 404s), and for the id fields of request bodies and
# queries. DELETE /v1/api-keys/{id} only ever gets the spare key's id: revoking the admin key would
# turn the rest of the run into 401s.
cat >"$TMP/schemathesis.toml" <<TOML
# Schemathesis' persistent state (requests replayed at start-up, learned feedback, crash files for
# \`st replay\`) goes to this run's report dir, which starts empty: no run depends on an earlier one,
# and nothing is written to ./.schemathesis.
[cache]
directory = "$REPORT_DIR/cache"

[dictionaries]
branch = { values = ["$BRANCH_ID"] }
service = { values = ["$SERVICE_ID"] }
staff = { values = ["$STAFF_ID"] }
customer = { values = ["$CUSTOMER_ID"] }
appointment = { values = ["$APPOINTMENT_ID"] }
directory = { values = ["$BRANCH_ID", "$SERVICE_ID", "$STAFF_ID", "$CUSTOMER_ID", "$APPOINTMENT_ID"] }
calcom_hook = { values = ["$CALCOM_HOOK_ID"] }
retell_hook = { values = ["$RETELL_HOOK_ID"] }

[parameters]
"body.branchId" = { dictionary = "branch", probability = 0.5 }
"body.serviceId" = { dictionary = "service", probability = 0.5 }
"body.staffId" = { dictionary = "staff", probability = 0.5 }
"body.customerId" = { dictionary = "customer", probability = 0.5 }
"body.homeBranchId" = { dictionary = "branch", probability = 0.5 }
"body.preferredStaffId" = { dictionary = "staff", probability = 0.5 }
"body.serviceIds[*]" = { dictionary = "service", probability = 0.5 }
"body.configurableId" = { dictionary = "directory", probability = 0.5 }
"body.notifiable.id" = { dictionary = "directory", probability = 0.5 }
"body.items[*].notifiable.id" = { dictionary = "directory", probability = 0.5 }
"query.branchId" = { dictionary = "branch", probability = 0.5 }
"query.customerId" = { dictionary = "customer", probability = 0.5 }
"query.staffId" = { dictionary = "staff", probability = 0.5 }
"query.notifiableId" = { dictionary = "directory", probability = 0.5 }
"body.entityId" = { dictionary = "directory", probability = 0.5 }
"query.entityId" = { dictionary = "directory", probability = 0.5 }
"query.serviceId" = { dictionary = "service", probability = 0.5 }

[[operations]]
include-path-regex = "^/v1/api-keys/"
parameters = { "path.id" = "$SPARE_KEY_ID" }

[[operations]]
include-path-regex = "^/v1/branches/"
parameters = { "path.id" = { dictionary = "branch", probability = 0.5 } }

[[operations]]
include-path-regex = "^/v1/services/"
parameters = { "path.id" = { dictionary = "service", probability = 0.5 } }

[[operations]]
include-path-regex = "^/v1/staff/"
parameters = { "path.id" = { dictionary = "staff", probability = 0.5 } }

[[operations]]
include-path-regex = "^/v1/customers/"
parameters = { "path.id" = { dictionary = "customer", probability = 0.5 } }

[[operations]]
include-path-regex = "^/v1/appointments/"
parameters = { "path.id" = { dictionary = "appointment", probability = 0.5 } }

[[operations]]
include-path-regex = "^/webhooks/calcom/"
parameters = { "path.hookId" = { dictionary = "calcom_hook", probability = 0.5 } }

[[operations]]
include-path-regex = "^/webhooks/retell/"
parameters = { "path.hookId" = { dictionary = "retell_hook", probability = 0.5 } }
TOML

# --- 4. Schemathesis ---------------------------------------------------------------------------
mkdir -p "$REPORT_DIR"
rm -rf "$REPORT_DIR"/{cache,junit-*.xml,ndjson-*.ndjson,schemathesis.txt,schemathesis.toml,server-errors.txt,service.log}
cp "$TMP/schemathesis.toml" "$REPORT_DIR/schemathesis.toml"
args=(
  run "$BASE/openapi.json"
  --header "Authorization: Bearer $ADMIN_KEY"
  --checks "$CHECKS"
  --phases "$PHASES"
  --max-examples "$MAX_EXAMPLES"
  --seed "$SEED"
  --generation-database none
  --workers "$WORKERS"
  --request-timeout 30
  --report junit,ndjson
  --report-dir "$REPORT_DIR"
  --no-color
)
# shellcheck disable=SC2206
[[ -n "${SCHEMATHESIS_EXTRA_ARGS:-}" ]] && args+=(${SCHEMATHESIS_EXTRA_ARGS})
log "schemathesis ${args[*]/$ADMIN_KEY/<admin key>}"
st_started=$SECONDS
set +e
# The hard cap: SIGINT first (Schemathesis then prints its summary and exits non-zero), SIGKILL 30 s later.
# Hypothesis' own storage (charmap cache, constants) per run too, instead of ./.hypothesis.
HYPOTHESIS_STORAGE_DIRECTORY="$TMP/hypothesis" \
  timeout --signal=INT --kill-after=30 "$TIME_CAP" "$ST" --config-file "$TMP/schemathesis.toml" "${args[@]}" 2>&1 | tee "$REPORT_DIR/schemathesis.txt"
st_code=${PIPESTATUS[0]}
set -e
# The server's side of every 5xx (the service logs the cause of each), grouped by route and error.
"$PY" - "$TMP/service.log" <<'PY' | tee "$REPORT_DIR/server-errors.txt"
import collections, json, re, sys
groups = collections.Counter()
for line in open(sys.argv[1], errors="replace"):
    try:
        event = json.loads(line)
    except ValueError:
        continue
    if event.get("msg") != "request failed" or "req" not in event:
        continue
    path = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "{id}", event["req"]["url"].split("?")[0])
    err = event.get("err") or {}
    message = re.sub(r'"[^"]{12,}"', '"…"', str(err.get("message", "")))[:100]
    groups[(event["req"]["method"], path, str(err.get("code", "-")), message)] += 1
print(f"server errors (5xx) logged by the service: {sum(groups.values())}")
for (method, path, code, message), n in sorted(groups.items()):
    print(f"  {n:4d}  {method} {path}  [{code}] {message}")
PY

# The run is only meaningful if its credentials survived it.
if ! "$PY" - "$BASE/v1/company" "$ADMIN_KEY" <<'PY'
import sys, urllib.request
req = urllib.request.Request(sys.argv[1], headers={"Authorization": f"Bearer {sys.argv[2]}"})
urllib.request.urlopen(req, timeout=30)
PY
then
  log "the admin key no longer works after the run: results after its loss are 401s and mean nothing"
  st_code=3
fi
log "schemathesis finished in $((SECONDS - st_started))s with exit code $st_code (reports in $REPORT_DIR)"
if ((st_code == 124)); then log "the run hit the ${TIME_CAP}s cap"; fi
exit $((st_code == 0 ? 0 : 1))
