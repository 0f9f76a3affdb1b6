#!/bin/sh
# First start of the compose TimescaleDB: the warehouse's roles, made as a DBA would (the same as
# scripts/stack and terraform/modules/postgres). The stream-processor grants them their privileges
# after each migration; Grafana logs in as lakehouse_grafana, a member of lakehouse_reader, and the
# api as lakehouse_api, a member of lakehouse_key_reader (it reads api_keys only).
set -eu
: "${LAKEHOUSE_GRAFANA_DB_PASSWORD:?LAKEHOUSE_GRAFANA_DB_PASSWORD must be set}"
: "${LAKEHOUSE_API_DB_PASSWORD:?LAKEHOUSE_API_DB_PASSWORD must be set}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v grafana_password="$LAKEHOUSE_GRAFANA_DB_PASSWORD" -v api_password="$LAKEHOUSE_API_DB_PASSWORD" <<'SQL'
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE ROLE lakehouse_reader NOLOGIN;
CREATE ROLE lakehouse_writer NOLOGIN;
CREATE ROLE lakehouse_key_reader NOLOGIN;
CREATE ROLE lakehouse_grafana LOGIN PASSWORD :'grafana_password' IN ROLE lakehouse_reader;
CREATE ROLE lakehouse_api LOGIN PASSWORD :'api_password' IN ROLE lakehouse_key_reader;
SQL
