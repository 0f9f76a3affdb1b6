# An on-premises deployment: Kafka topics, a MinIO bucket with its own user, the warehouse database
# and roles on PostgreSQL/TimescaleDB, and the Helm release wired to all three.
#
#   terraform init && terraform apply -var-file=example.tfvars   (see variables below)

terraform {
  required_version = ">= 1.5.0"
  required_providers {
    kafka = {
      source  = "Mongey/kafka"
      version = "~> 0.8"
    }
    minio = {
      source  = "aminueza/minio"
      version = "~> 3.2"
    }
    postgresql = {
      source  = "cyrilgdn/postgresql"
      version = "~> 1.25"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "~> 2.17"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 2.36"
    }
  }
}

variable "kafka_brokers" {
  description = "Bootstrap brokers, comma-separated."
  type        = string
  default     = "kafka.kafka.svc:9092"
}

variable "minio_endpoint" {
  description = "MinIO's S3 endpoint, host:port."
  type        = string
  default     = "minio.storage.svc:9000"
}

variable "minio_user" {
  description = "MinIO administrator."
  type        = string
}

variable "minio_password" {
  description = "MinIO administrator's password."
  type        = string
  sensitive   = true
}

variable "postgres_host" {
  description = "PostgreSQL/TimescaleDB host."
  type        = string
  default     = "timescaledb.databases.svc"
}

variable "postgres_admin_password" {
  description = "Password of the postgres superuser, to make the database and roles."
  type        = string
  sensitive   = true
}

variable "warehouse_password" {
  description = "Password of the lakehouse owner login (the stream-processor's)."
  type        = string
  sensitive   = true
}

variable "grafana_password" {
  description = "Password of lakehouse_grafana."
  type        = string
  sensitive   = true
}

variable "api_password" {
  description = "Password of lakehouse_api, the api's login (it reads the stored keys only)."
  type        = string
  sensitive   = true
}

variable "visitor_id_secret" {
  description = "VISITOR_ID_SECRET (16 characters or more, e.g. `openssl rand -hex 32`): one for every api replica, kept across applies."
  type        = string
  sensitive   = true
}

variable "api_keys" {
  description = "API_KEYS for the api."
  type        = string
  sensitive   = true
}

variable "image_repository" {
  description = "Where the lakehouse image is pushed."
  type        = string
}

variable "kubeconfig" {
  description = "Path of the kubeconfig for the target cluster."
  type        = string
  default     = "~/.kube/config"
}

provider "kafka" {
  bootstrap_servers = split(",", var.kafka_brokers)
  tls_enabled = false
}

provider "minio" {
  minio_server   = var.minio_endpoint
  minio_user     = var.minio_user
  minio_password = var.minio_password
  minio_ssl      = false
}

provider "postgresql" {
  host     = var.postgres_host
  username = "postgres"
  password = var.postgres_admin_password
  sslmode  = "require"
}

provider "kubernetes" {
  config_path = var.kubeconfig
}

provider "helm" {
  kubernetes {
    config_path = var.kubeconfig
  }
}

module "topics" {
  source     = "../../modules/kafka-topics"
  partitions = 6
}

module "bucket" {
  source = "../../modules/bucket-minio"
  bucket = "lakehouse"
}

module "warehouse" {
  source           = "../../modules/postgres"
  owner_password   = var.warehouse_password
  grafana_password = var.grafana_password
  api_password     = var.api_password
}

module "release" {
  source                 = "../../modules/release"
  image_repository       = var.image_repository
  kafka_brokers          = var.kafka_brokers
  kafka_topic            = module.topics.topic
  kafka_dlq_topic        = module.topics.dlq_topic
  lake_uri               = module.bucket.lake_uri
  lake_endpoint_url      = "http://${var.minio_endpoint}"
  lake_access_key_id     = module.bucket.access_key_id
  lake_secret_access_key = module.bucket.secret_access_key
  api_keys               = var.api_keys
  database_url           = "postgres://${module.warehouse.owner}:${var.warehouse_password}@${var.postgres_host}:5432/${module.warehouse.database}?sslmode=require"
  api_database_url       = "postgres://${module.warehouse.api_login}:${var.api_password}@${var.postgres_host}:5432/${module.warehouse.database}?sslmode=require"
  visitor_id_secret      = var.visitor_id_secret
}

output "api_service" {
  description = "Where the api answers inside the cluster."
  value       = module.release.api_service
}
