# The Helm release of helm/lakehouse, and the Secrets it references (the chart never holds a
# secret as a value: it names a Secret and a key, and this module makes them).

terraform {
  required_version = ">= 1.5.0"
  required_providers {
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

variable "name" {
  description = "The release name."
  type        = string
  default     = "lakehouse"
}

variable "namespace" {
  description = "The namespace, created when create_namespace is true."
  type        = string
  default     = "analytics"
}

variable "create_namespace" {
  description = "Create the namespace."
  type        = bool
  default     = true
}

variable "chart_path" {
  description = "The chart: this repository's helm/lakehouse by default, or a packaged chart."
  type        = string
  default     = null
}

variable "image_repository" {
  description = "Where the image built from the repository's Dockerfile is pushed."
  type        = string
}

variable "image_tag" {
  description = "The image tag; null uses the chart's appVersion."
  type        = string
  default     = null
}

variable "kafka_brokers" {
  description = "KAFKA_BROKERS."
  type        = string
}

variable "kafka_topic" {
  description = "KAFKA_TOPIC (the kafka-topics module's output)."
  type        = string
}

variable "kafka_dlq_topic" {
  description = "KAFKA_DLQ_TOPIC (the kafka-topics module's output)."
  type        = string
}

variable "lake_uri" {
  description = "LAKE_URI (a bucket module's output)."
  type        = string
}

variable "lake_endpoint_url" {
  description = "AWS_ENDPOINT_URL for MinIO; null for AWS S3."
  type        = string
  default     = null
}

variable "lake_region" {
  description = "AWS_REGION."
  type        = string
  default     = "us-east-1"
}

variable "lake_access_key_id" {
  description = "S3 key of the lake; null with a pod identity (then set service_account_annotations)."
  type        = string
  default     = null
}

variable "lake_secret_access_key" {
  description = "S3 secret of the lake; null with a pod identity."
  type        = string
  default     = null
  sensitive   = true
}

variable "api_keys" {
  description = "API_KEYS: project_id:key or project_id:sha256:<hex>, comma-separated."
  type        = string
  sensitive   = true
}

variable "database_url" {
  description = "DATABASE_URL of the schema owner (the postgres module's owner login)."
  type        = string
  sensitive   = true
}

variable "api_database_url" {
  description = "The api's DATABASE_URL (the postgres module's api login, which reads api_keys only), for keys made with `lakehouse keys create`; null: API_KEYS only."
  type        = string
  default     = null
  sensitive   = true
}

variable "visitor_id_secret" {
  description = "VISITOR_ID_SECRET (16 characters or more): every api replica derives visitor ids from it, so keep it across applies (e.g. from a random_password resource)."
  type        = string
  sensitive   = true
  validation {
    condition     = length(var.visitor_id_secret) >= 16
    error_message = "visitor_id_secret must be 16 characters or more."
  }
}

variable "lake_browser" {
  description = "Deploy the lake browser (lakeBrowser.enabled): an internal Service only, reached over a VPN or a port-forward."
  type        = bool
  default     = false
}

variable "lake_browser_token" {
  description = "LAKE_BROWSER_TOKEN (16 characters or more) that every page of the lake browser asks for; required with lake_browser."
  type        = string
  default     = null
  sensitive   = true
  validation {
    condition     = var.lake_browser_token == null || length(coalesce(var.lake_browser_token, "")) >= 16
    error_message = "lake_browser_token must be 16 characters or more."
  }
}

variable "service_account_annotations" {
  description = "Annotations of the pods' service account (e.g. eks.amazonaws.com/role-arn)."
  type        = map(string)
  default     = {}
}

variable "service_monitor" {
  description = "Create ServiceMonitors (needs the Prometheus Operator's CRDs)."
  type        = bool
  default     = false
}

variable "values" {
  description = "Further chart values, merged over this module's (see helm/lakehouse/values.yaml)."
  type        = any
  default     = {}
}

locals {
  namespace   = var.create_namespace ? kubernetes_namespace.this[0].metadata[0].name : var.namespace
  lake_secret = var.lake_access_key_id == null ? "" : "${var.name}-lake"
}

resource "kubernetes_namespace" "this" {
  count = var.create_namespace ? 1 : 0
  metadata {
    name = var.namespace
  }
}

resource "kubernetes_secret" "api_keys" {
  metadata {
    name      = "${var.name}-api-keys"
    namespace = local.namespace
  }
  data = { API_KEYS = var.api_keys }
}

resource "kubernetes_secret" "database" {
  metadata {
    name      = "${var.name}-database"
    namespace = local.namespace
  }
  data = { DATABASE_URL = var.database_url }
}

resource "kubernetes_secret" "visitor_id" {
  metadata {
    name      = "${var.name}-visitor-id"
    namespace = local.namespace
  }
  data = { VISITOR_ID_SECRET = var.visitor_id_secret }
}

resource "kubernetes_secret" "api_database" {
  count = var.api_database_url == null ? 0 : 1
  metadata {
    name      = "${var.name}-api-database"
    namespace = local.namespace
  }
  data = { DATABASE_URL = var.api_database_url }
}

resource "kubernetes_secret" "lake" {
  count = var.lake_access_key_id == null ? 0 : 1
  metadata {
    name      = local.lake_secret
    namespace = local.namespace
  }
  data = {
    AWS_ACCESS_KEY_ID     = var.lake_access_key_id
    AWS_SECRET_ACCESS_KEY = var.lake_secret_access_key
  }
}

resource "kubernetes_secret" "lake_browser" {
  count = var.lake_browser ? 1 : 0
  metadata {
    name      = "${var.name}-lake-browser"
    namespace = local.namespace
  }
  data = { LAKE_BROWSER_TOKEN = var.lake_browser_token }
  lifecycle {
    precondition {
      condition     = var.lake_browser_token != null
      error_message = "lake_browser needs lake_browser_token."
    }
  }
}

resource "helm_release" "lakehouse" {
  name      = var.name
  namespace = local.namespace
  chart     = coalesce(var.chart_path, "${path.module}/../../../helm/lakehouse")
  # A failed upgrade rolls back rather than leaving a half-updated pipeline.
  atomic  = true
  wait    = true
  timeout = 600
  values = [
    yamlencode({
      image          = { repository = var.image_repository, tag = coalesce(var.image_tag, "") }
      serviceAccount = { annotations = var.service_account_annotations }
      kafka          = { brokers = var.kafka_brokers, topic = var.kafka_topic, dlqTopic = var.kafka_dlq_topic }
      lake           = { uri = var.lake_uri, region = var.lake_region, endpointUrl = coalesce(var.lake_endpoint_url, "") }
      secrets = {
        apiKeys     = { existingSecret = kubernetes_secret.api_keys.metadata[0].name, key = "API_KEYS" }
        database    = { existingSecret = kubernetes_secret.database.metadata[0].name, key = "DATABASE_URL" }
        visitorId   = { existingSecret = kubernetes_secret.visitor_id.metadata[0].name, key = "VISITOR_ID_SECRET" }
        apiDatabase = { existingSecret = var.api_database_url == null ? "" : "${var.name}-api-database", key = "DATABASE_URL" }
        lake        = { existingSecret = local.lake_secret }
        lakeBrowser = { existingSecret = "${var.name}-lake-browser", key = "LAKE_BROWSER_TOKEN" }
      }
      lakeBrowser    = { enabled = var.lake_browser }
      serviceMonitor = { enabled = var.service_monitor }
    }),
    yamlencode(var.values),
  ]
  depends_on = [kubernetes_secret.lake, kubernetes_secret.lake_browser, kubernetes_secret.api_database]
}

output "api_service" {
  description = "The api's in-cluster Service (port 80)."
  value       = "${var.name}-api.${local.namespace}.svc"
}
