# The events topic and its dead-letter topic (DESIGN.md §6). Nothing auto-creates them: the
# partition count is chosen here, once, because it bounds how many consumers of a group work.

terraform {
  required_version = ">= 1.5.0"
  required_providers {
    kafka = {
      source  = "Mongey/kafka"
      version = "~> 0.8"
    }
  }
}

variable "topic" {
  description = "The events topic (KAFKA_TOPIC)."
  type        = string
  default     = "analytics.events"
}

variable "dlq_topic" {
  description = "Where consumers put messages they cannot decode (KAFKA_DLQ_TOPIC)."
  type        = string
  default     = "analytics.events.dlq"
}

variable "partitions" {
  description = "Partitions of the events topic: the most consumers per group that do work."
  type        = number
  default     = 6
}

variable "replication_factor" {
  description = "Copies of each partition; the api's acks=all waits for the in-sync ones."
  type        = number
  default     = 3
}

variable "min_insync_replicas" {
  description = "Replicas that must have a write before acks=all succeeds."
  type        = number
  default     = 2
}

variable "retention_hours" {
  description = "How long Kafka keeps events: the window in which a sink can be rebuilt by replay."
  type        = number
  default     = 168
}

resource "kafka_topic" "events" {
  name               = var.topic
  partitions         = var.partitions
  replication_factor = var.replication_factor
  config = {
    "cleanup.policy"      = "delete"
    "retention.ms"        = tostring(var.retention_hours * 3600 * 1000)
    "min.insync.replicas" = tostring(var.min_insync_replicas)
    "compression.type"    = "producer"
  }
}

resource "kafka_topic" "dlq" {
  name               = var.dlq_topic
  partitions         = 1
  replication_factor = var.replication_factor
  config = {
    "cleanup.policy"      = "delete"
    # Dead letters wait for a person: keep them four times as long as the events.
    "retention.ms"        = tostring(var.retention_hours * 4 * 3600 * 1000)
    "min.insync.replicas" = tostring(var.min_insync_replicas)
  }
}

output "topic" {
  description = "KAFKA_TOPIC for every service."
  value       = kafka_topic.events.name
}

output "dlq_topic" {
  description = "KAFKA_DLQ_TOPIC for the consumers."
  value       = kafka_topic.dlq.name
}
