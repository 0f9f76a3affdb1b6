# The env printer: `export` lines for the stack's settings, for `eval "$(scripts/stack env)"` and
# for the tests, which read them (crates/testkit/src/stack.rs). Sourced by scripts/stack.

# export_line NAME VALUE: the value bare, or single-quoted when a shell would read it otherwise.
export_line() {
  local value=$2
  if [[ ! $value =~ ^[A-Za-z0-9_./:@%+,=-]*$ ]]; then
    value="'${value//\'/\'\\\'\'}'"
  fi
  printf 'export %s=%s\n' "$1" "$value"
}

print_env() {
  export_line KAFKA_BROKERS "$HOST:$KAFKA_PORT"
  export_line KAFKA_TOPIC "$TOPIC"
  export_line KAFKA_DLQ_TOPIC "$DLQ_TOPIC"
  export_line DATABASE_URL "postgres://$PG_USER:$PG_PASSWORD@$HOST:$PG_PORT/$PG_DATABASE"
  export_line LAKEHOUSE_GRAFANA_DB_PASSWORD "$GRAFANA_DB_PASSWORD"
  export_line LAKEHOUSE_API_DB_PASSWORD "$API_DB_PASSWORD"
  # The api's login (lakehouse_api: it reads api_keys only), for its DATABASE_URL.
  export_line API_DATABASE_URL "postgres://lakehouse_api:$API_DB_PASSWORD@$HOST:$PG_PORT/$PG_DATABASE"
  export_line AWS_ENDPOINT_URL "http://$HOST:$S3_PORT"
  export_line AWS_ACCESS_KEY_ID "$S3_KEY"
  export_line AWS_SECRET_ACCESS_KEY "$S3_SECRET"
  export_line AWS_REGION "$S3_REGION"
  export_line LAKE_BUCKET "$BUCKET"
  export_line LAKE_URI "${LAKE_URI:-file://$ROOT/data/lake}"
  export_line API_KEYS "${API_KEYS:-local:local-dev-key}"
  export_line LAKEHOUSE_PYTHON "$PYDELTA_VENV/bin/python"
  export_line LAKEHOUSE_READERS_PYTHON "$READERS_VENV/bin/python"
  export_line LAKEHOUSE_DEPLOY_PYTHON "$DEPLOY_VENV/bin/python"
  export_line LAKEHOUSE_CHECKOV "$CHECKOV_VENV/bin/checkov"
  export_line LAKEHOUSE_PROMETHEUS "$PROMETHEUS_DIR/usr/bin/prometheus"
  export_line LAKEHOUSE_PROMTOOL "$PROMETHEUS_DIR/usr/bin/promtool"
}
