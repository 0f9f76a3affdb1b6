#!/bin/sh
# First start of the compose TimescaleDB: the warehouse's roles, made as a DBA would (the same as
# scripts/stack and terraform/modules/postgres). The stream-processor grants them their privileges
# after each migration; Grafana logs in as lakehouse_grafana, a member of lakehouse_reader.
set -eu
: "${LAKEHOUSE_GRAFANA_DB_PASSWORD:?LAKEHOUSE_GRAFANA_DB_PASSWORD must be set}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v grafana_password="$LAKEHOUSE_GRAFANA_DB_PASSWORD" <<'SQL'
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE ROLE lakehouse_reader NOLOGIN;
CREATE ROLE lakehouse_writer NOLOGIN;
CREATE ROLE lakehouse_grafana LOGIN PASSWORD :'grafana_password' IN ROLE lakehouse_reader;
SQL
