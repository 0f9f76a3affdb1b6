# Starting and stopping the pipeline's parts, each on loopback, and the topics and the bucket they
# need; what `up`, `down`, `start`, `stop` and `status` do. Sourced by scripts/stack.

# Where PostgreSQL keeps its files: under STACK_DIR, unless we are root and the postgres user cannot
# reach it (a clone under /root, say); then a folder of this clone's own under /var/tmp.
pg_home() {
  if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$STACK_DIR" 2>/dev/null; then
    echo "/var/tmp/lakehouse-stack/$(printf '%s' "$STACK_DIR" | sha256sum | cut -c1-16)"
  else
    echo "$STACK_DIR"
  fi
}

# PostgreSQL refuses to run as root; as root we run it as the postgres user.
# From /, because the postgres user may not be allowed into the current folder.
as_pg() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

pg_ready() { "$PG_BIN/pg_isready" -q -h "$HOST" -p "$PG_PORT"; }

start_postgres() {
  if pid_alive postgres && pg_ready; then return; fi
  port_open "$PG_PORT" && die "port $PG_PORT is taken by a server this script did not start; set PG_PORT"
  local home; home=$(pg_home)
  local data=$home/postgres socket=$home/pg-socket pglog=$home/postgres.log
  mkdir -p "$data" "$socket"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$data" "$socket"; chmod 755 "$home"; fi
  if [ ! -f "$data/PG_VERSION" ]; then
    log "initialising PostgreSQL in $data"
    as_pg "$PG_BIN/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  fi
  log "starting PostgreSQL on $HOST:$PG_PORT (log: $pglog)"
  touch "$pglog"; [ "$(id -u)" = 0 ] && chown postgres: "$pglog"
  as_pg "$PG_BIN/pg_ctl" -D "$data" -l "$pglog" -w -t 60 \
    -o "-c listen_addresses=$HOST -p $PG_PORT -k $socket -c max_connections=200" start >/dev/null
  head -n 1 "$data/postmaster.pid" >"$STACK_DIR/postgres.pid"
  wait_for postgres 30 pg_ready
  local psql=("$PG_BIN/psql" -q -h "$socket" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1)
  as_pg "${psql[@]}" -d postgres <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  END IF;
  -- The warehouse's roles, made as a DBA would; the stream-processor grants them their privileges.
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lakehouse_reader') THEN
    CREATE ROLE lakehouse_reader NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lakehouse_writer') THEN
    CREATE ROLE lakehouse_writer NOLOGIN;
  END IF;
  -- So that tests can act as the writer (SET ROLE), as lakehouse and the tools log in.
  IF NOT pg_has_role('$PG_USER', 'lakehouse_writer', 'MEMBER') THEN
    GRANT lakehouse_writer TO $PG_USER;
  END IF;
  -- What Grafana logs in as: read-only.
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lakehouse_grafana') THEN
    CREATE ROLE lakehouse_grafana LOGIN PASSWORD '$GRAFANA_DB_PASSWORD' IN ROLE lakehouse_reader;
  END IF;
  -- What the api logs in as: a member of the key reader, which may read api_keys and nothing else.
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lakehouse_key_reader') THEN
    CREATE ROLE lakehouse_key_reader NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lakehouse_api') THEN
    CREATE ROLE lakehouse_api LOGIN PASSWORD '$API_DB_PASSWORD' IN ROLE lakehouse_key_reader;
  END IF;
  -- A project reader for the tests of "lakehouse warehouse grant-project" (DESIGN.md §7): made
  -- here as a DBA would make one, since $PG_USER may not create roles; $PG_USER, a member, acts
  -- as it (SET ROLE). What it may read is granted in each test's own database.
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lakehouse_test_project_reader') THEN
    CREATE ROLE lakehouse_test_project_reader NOLOGIN;
    GRANT lakehouse_test_project_reader TO $PG_USER;
  END IF;
  -- The reliability scenario's processors log in as this, with a password the run sets (so that a
  -- trace of it in a log is found); $PG_USER, a member, hands it the run's database.
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lakehouse_scenario') THEN
    CREATE ROLE lakehouse_scenario LOGIN;
    GRANT lakehouse_scenario TO $PG_USER;
  END IF;
END \$\$;
SQL
  if ! as_pg "${psql[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'" | grep -q 1; then
    as_pg "${psql[@]}" -d postgres -c "CREATE DATABASE $PG_DATABASE OWNER $PG_USER"
  fi
}

start_tansu() {
  if pid_alive tansu && port_open "$KAFKA_PORT"; then return; fi
  port_open "$KAFKA_PORT" && die "port $KAFKA_PORT is taken by a server this script did not start; set KAFKA_PORT"
  log "starting tansu on $HOST:$KAFKA_PORT (memory storage)"
  nohup "$TANSU" broker --storage-engine memory://tansu/ \
    --listener-url "tcp://$HOST:$KAFKA_PORT" --advertised-listener-url "tcp://$HOST:$KAFKA_PORT" \
    >"$STACK_DIR/tansu.log" 2>&1 &
  echo $! >"$STACK_DIR/tansu.pid"
  # Memory storage: every start is a new, empty broker. Consumers of the local pipeline scope their
  # groups to this epoch, because offsets stored against an earlier broker mean nothing here.
  date +%s >"$STACK_DIR/tansu.epoch"
  wait_for tansu 30 port_open "$KAFKA_PORT"
}

s3_ready() { curl -fs -o /dev/null "http://$HOST:$S3_PORT/" 2>/dev/null; }

start_moto() {
  if pid_alive moto && s3_ready; then return; fi
  port_open "$S3_PORT" && die "port $S3_PORT is taken by a server this script did not start; set S3_PORT"
  log "starting moto (S3) on $HOST:$S3_PORT"
  nohup "$MOTO_VENV/bin/moto_server" -H "$HOST" -p "$S3_PORT" >"$STACK_DIR/moto.log" 2>&1 &
  echo $! >"$STACK_DIR/moto.pid"
  wait_for moto 30 s3_ready
}

create_topics() {
  local existing
  existing=$("$TANSU" topic list --broker "tcp://$HOST:$KAFKA_PORT" 2>/dev/null || true)
  for topic in "$TOPIC" "$DLQ_TOPIC"; do
    if ! grep -q "\"$topic\"\|^$topic\$" <<<"$existing"; then
      log "creating topic $topic with $PARTITIONS partitions"
      "$TANSU" topic create "$topic" --partitions "$PARTITIONS" --broker "tcp://$HOST:$KAFKA_PORT" >/dev/null
    fi
  done
}

create_bucket() {
  local status
  status=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "http://$HOST:$S3_PORT/$BUCKET")
  case "$status" in
    200|409) ;;
    *) die "creating bucket $BUCKET answered HTTP $status" ;;
  esac
}

stop() {
  local name=$1
  if ! pid_alive "$name"; then rm -f "$STACK_DIR/$name.pid"; return; fi
  local pid; pid=$(cat "$STACK_DIR/$name.pid")
  log "stopping $name (pid $pid)"
  if [ "$name" = postgres ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$(pg_home)/postgres" -m fast -w stop >/dev/null || kill "$pid"
  else
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$STACK_DIR/$name.pid"
}

status_line() {
  local name=$1 check=$2 where=$3
  if pid_alive "$name" && $check; then echo "$name: up ($where, pid $(cat "$STACK_DIR/$name.pid"))"
  elif pid_alive "$name"; then echo "$name: started but not answering ($where); see $STACK_DIR/$name.log"
  else echo "$name: down"; fi
}

kafka_ready() { port_open "$KAFKA_PORT"; }

start_pipeline_parts() {
  start_postgres
  start_tansu
  start_moto
  create_topics
  create_bucket
}

# start_part NAME: one part, with the topics or the bucket it holds.
start_part() {
  case "$1" in
    postgres) start_postgres ;;
    tansu) start_tansu; create_topics ;;
    moto) start_moto; create_bucket ;;
    *) die "start takes postgres, tansu or moto" ;;
  esac
}

print_status() {
  status_line postgres pg_ready "$HOST:$PG_PORT"
  status_line tansu kafka_ready "$HOST:$KAFKA_PORT"
  status_line moto s3_ready "$HOST:$S3_PORT"
}
