# The warehouse database and its roles (DESIGN.md §7), as scripts/stack makes them locally: the
# owner the stream-processor logs in as (it migrates, then grants), the NOLOGIN roles
# lakehouse_reader, lakehouse_writer and lakehouse_key_reader it grants to, Grafana's read-only
# login, and the api's login, which may read api_keys and nothing else. Table
# privileges are not granted here: the processor grants them after every migration, so a table
# added later is never invisible to the dashboards.

terraform {
  required_version = ">= 1.5.0"
  required_providers {
    postgresql = {
      source  = "cyrilgdn/postgresql"
      version = "~> 1.25"
    }
  }
}

variable "database" {
  description = "The warehouse database."
  type        = string
  default     = "lakehouse"
}

variable "owner" {
  description = "The login that owns the schema: the stream-processor's DATABASE_URL user."
  type        = string
  default     = "lakehouse"
}

variable "owner_password" {
  description = "Password of the owner login."
  type        = string
  sensitive   = true
}

variable "grafana_password" {
  description = "Password of lakehouse_grafana, Grafana's read-only login."
  type        = string
  sensitive   = true
}

variable "api_password" {
  description = "Password of lakehouse_api, the api's login (it reads the stored keys, api_keys, only)."
  type        = string
  sensitive   = true
}

variable "timescaledb" {
  description = "Create the timescaledb extension (the server must have it installed)."
  type        = bool
  default     = true
}

variable "connection_limit" {
  description = "Connections the owner may hold (each processor replica keeps a small pool)."
  type        = number
  default     = 40
}

resource "postgresql_role" "owner" {
  name             = var.owner
  login            = true
  password         = var.owner_password
  connection_limit = var.connection_limit
}

resource "postgresql_database" "warehouse" {
  name  = var.database
  owner = postgresql_role.owner.name
}

resource "postgresql_extension" "timescaledb" {
  count    = var.timescaledb ? 1 : 0
  name     = "timescaledb"
  database = postgresql_database.warehouse.name
}

# The roles the processor grants to (WAREHOUSE_READER_ROLE, WAREHOUSE_WRITER_ROLE).
resource "postgresql_role" "reader" {
  name  = "lakehouse_reader"
  login = false
}

resource "postgresql_role" "writer" {
  name  = "lakehouse_writer"
  login = false
}

# WAREHOUSE_KEY_READER_ROLE: SELECT on api_keys only, for the api's login below.
resource "postgresql_role" "key_reader" {
  name  = "lakehouse_key_reader"
  login = false
}

resource "postgresql_role" "api" {
  name             = "lakehouse_api"
  login            = true
  password         = var.api_password
  roles            = [postgresql_role.key_reader.name]
  connection_limit = 20
}

resource "postgresql_role" "grafana" {
  name             = "lakehouse_grafana"
  login            = true
  password         = var.grafana_password
  roles            = [postgresql_role.reader.name]
  connection_limit = 10
}

output "database" {
  description = "The warehouse database name."
  value       = postgresql_database.warehouse.name
}

output "owner" {
  description = "The login for the stream-processor's DATABASE_URL."
  value       = postgresql_role.owner.name
}

output "reader_role" {
  description = "WAREHOUSE_READER_ROLE."
  value       = postgresql_role.reader.name
}

output "writer_role" {
  description = "WAREHOUSE_WRITER_ROLE."
  value       = postgresql_role.writer.name
}

output "grafana_login" {
  description = "The login Grafana's data source uses."
  value       = postgresql_role.grafana.name
}

output "key_reader_role" {
  description = "WAREHOUSE_KEY_READER_ROLE."
  value       = postgresql_role.key_reader.name
}

output "api_login" {
  description = "The login for the api's DATABASE_URL (release module's api_database_url)."
  value       = postgresql_role.api.name
}
