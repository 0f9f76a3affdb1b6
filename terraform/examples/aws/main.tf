# An AWS deployment: topics on an existing Kafka cluster (MSK or another, over TLS), the lake on S3
# with the delta-writer's IAM role (IRSA, no keys), the warehouse on an existing PostgreSQL (RDS with
# TimescaleDB or plain PostgreSQL), and the Helm release on an existing EKS cluster.

terraform {
  required_version = ">= 1.5.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
    kafka = {
      source  = "Mongey/kafka"
      version = "~> 0.8"
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

variable "region" {
  description = "AWS region of the bucket and cluster."
  type        = string
  default     = "eu-central-1"
}

variable "kafka_brokers" {
  description = "Bootstrap brokers (TLS listener), comma-separated."
  type        = string
}

variable "bucket" {
  description = "The lake's bucket name."
  type        = string
}

variable "access_log_bucket" {
  description = "The bucket that receives S3 access logs."
  type        = string
}

variable "lake_role_arn" {
  description = "The IAM role the chart's service account assumes (IRSA) to reach the lake."
  type        = string
}

variable "postgres_host" {
  description = "The PostgreSQL endpoint."
  type        = string
}

variable "postgres_admin_password" {
  description = "Password of the administrator login, to make the database and roles."
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
  description = "The ECR repository of the lakehouse image."
  type        = string
}

variable "kubeconfig" {
  description = "Path of the kubeconfig for the EKS cluster."
  type        = string
  default     = "~/.kube/config"
}

provider "aws" {
  region = var.region
}

provider "kafka" {
  bootstrap_servers = split(",", var.kafka_brokers)
  tls_enabled       = true
}

provider "postgresql" {
  host      = var.postgres_host
  username  = "postgres"
  password  = var.postgres_admin_password
  sslmode   = "verify-full"
  superuser = false
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
  source = "../../modules/kafka-topics"
}

module "bucket" {
  source            = "../../modules/bucket-aws"
  bucket            = var.bucket
  writer_role_arns  = [var.lake_role_arn]
  access_log_bucket = var.access_log_bucket
}

module "warehouse" {
  source           = "../../modules/postgres"
  owner_password   = var.warehouse_password
  grafana_password = var.grafana_password
  api_password     = var.api_password
}

module "release" {
  source            = "../../modules/release"
  image_repository  = var.image_repository
  kafka_brokers     = var.kafka_brokers
  kafka_topic       = module.topics.topic
  kafka_dlq_topic   = module.topics.dlq_topic
  lake_uri          = module.bucket.lake_uri
  lake_region       = var.region
  api_keys          = var.api_keys
  database_url      = "postgres://${module.warehouse.owner}:${var.warehouse_password}@${var.postgres_host}:5432/${module.warehouse.database}?sslmode=verify-full"
  api_database_url  = "postgres://${module.warehouse.api_login}:${var.api_password}@${var.postgres_host}:5432/${module.warehouse.database}?sslmode=verify-full"
  visitor_id_secret = var.visitor_id_secret
  service_account_annotations = {
    "eks.amazonaws.com/role-arn" = var.lake_role_arn
  }
  values = {
    kafka = { securityProtocol = "ssl" }
  }
}

output "api_service" {
  description = "Where the api answers inside the cluster."
  value       = module.release.api_service
}
