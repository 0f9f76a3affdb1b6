# The stack's settings, each default written once here: `scripts/stack env` prints them, and the
# tests read them from it (crates/testkit/src/stack.rs). Sourced by scripts/stack.
#
# Overridable: KAFKA_PORT (9092), PG_PORT (5432), S3_PORT (9000), PG_USER/PG_PASSWORD/PG_DATABASE
# (lakehouse), LAKEHOUSE_GRAFANA_DB_PASSWORD (the read-only login lakehouse_grafana's: lakehouse_grafana),
# LAKEHOUSE_API_DB_PASSWORD (the api's login lakehouse_api, which reads api_keys only: lakehouse_api),
# AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_REGION, LAKE_BUCKET (lakehouse),
# TOPIC_PARTITIONS (6), STACK_DIR (<repo>/.stack: data, logs, pids), LAKEHOUSE_CACHE
# (~/.cache/lakehouse: the moto venv, the test tools' venvs, Prometheus).

STACK_DIR=${STACK_DIR:-$ROOT/.stack}
CACHE=${LAKEHOUSE_CACHE:-$HOME/.cache/lakehouse}
HOST=127.0.0.1
KAFKA_PORT=${KAFKA_PORT:-9092}
PG_PORT=${PG_PORT:-5432}
S3_PORT=${S3_PORT:-9000}
PG_USER=${PG_USER:-lakehouse}
PG_PASSWORD=${PG_PASSWORD:-lakehouse}
PG_DATABASE=${PG_DATABASE:-lakehouse}
GRAFANA_DB_PASSWORD=${LAKEHOUSE_GRAFANA_DB_PASSWORD:-lakehouse_grafana}
API_DB_PASSWORD=${LAKEHOUSE_API_DB_PASSWORD:-lakehouse_api}
S3_KEY=${AWS_ACCESS_KEY_ID:-lakehouse}
S3_SECRET=${AWS_SECRET_ACCESS_KEY:-lakehouse-secret}
S3_REGION=${AWS_REGION:-us-east-1}
BUCKET=${LAKE_BUCKET:-lakehouse}
TOPIC=${KAFKA_TOPIC:-analytics.events}
DLQ_TOPIC=${KAFKA_DLQ_TOPIC:-analytics.events.dlq}
PARTITIONS=${TOPIC_PARTITIONS:-6}

# The pipeline's parts.
TANSU_VERSION=0.6.0
MOTO_VERSION=5.2.5
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
# tansu with one fix of ours to its group coordinator (install.sh, fix_tansu_forming_leader); the
# fix's name is in the path, so that an unfixed build is never taken for it.
TANSU_FIX=forming-leader
TANSU=${TANSU:-$CACHE/tansu-$TANSU_VERSION-$TANSU_FIX/bin/tansu}
MOTO_VENV=$CACHE/moto-$MOTO_VERSION

# The test tools. The Python `deltalake` reader the tests check our tables with, as an analyst
# would read them.
PYDELTA_VERSION=1.6.6
PYARROW_VERSION=22.0.0
PYDELTA_VENV=$CACHE/pydeltalake-$PYDELTA_VERSION
# The tools the deployment tests validate compose, the chart and Terraform with; pinned in
# scripts/validate/requirements.txt, and a new venv whenever that file changes.
DEPLOY_REQUIREMENTS=$ROOT/scripts/validate/requirements.txt
DEPLOY_VENV=$CACHE/deploy-tools-$(sha256sum "$DEPLOY_REQUIREMENTS" | cut -c1-12)
# checkov apart: its fork of python-hcl2 installs a module of the same name over it.
CHECKOV_REQUIREMENTS=$ROOT/scripts/validate/requirements-checkov.txt
CHECKOV_VENV=$CACHE/checkov-$(sha256sum "$CHECKOV_REQUIREMENTS" | cut -c1-12)
# The readers of the README's "Reading the lake" recipes (deltalake, polars, pandas, DuckDB,
# DataFusion), which crates/e2e/tests/readers.rs runs; pinned in scripts/readers/requirements.txt,
# and a new venv whenever that file changes.
READERS_REQUIREMENTS=$ROOT/scripts/readers/requirements.txt
READERS_VENV=$CACHE/readers-$(sha256sum "$READERS_REQUIREMENTS" | cut -c1-12)
# Prometheus and promtool (the alert rules' unit tests and the live alert test), from Debian's
# `prometheus` package unpacked into the cache rather than installed: installing it would start a
# system Prometheus on :9090 beside every other stack on the machine.
PROMETHEUS_DIR=$CACHE/prometheus-debian

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

pid_alive() { [ -f "$STACK_DIR/$1.pid" ] && kill -0 "$(cat "$STACK_DIR/$1.pid")" 2>/dev/null; }

# wait_for NAME SECONDS COMMAND...: polls the command until it succeeds.
wait_for() {
  local name=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    if ((SECONDS >= deadline)); then
      die "$name did not answer within ${seconds}s; see $STACK_DIR/$name.log"
    fi
    sleep 0.2
  done
}
