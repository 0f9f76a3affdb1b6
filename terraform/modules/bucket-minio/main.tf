# The lake's bucket on MinIO and its policy (DESIGN.md §8): a bucket, a policy that allows only the
# lake's prefix, and a user holding only that policy, whose keys go to the delta-writer. MinIO
# honours conditional writes (If-None-Match), which concurrent Delta writers need.

terraform {
  required_version = ">= 1.5.0"
  required_providers {
    minio = {
      source  = "aminueza/minio"
      version = "~> 3.2"
    }
  }
}

variable "bucket" {
  description = "The bucket name."
  type        = string
  default     = "lakehouse"
}

variable "prefix" {
  description = "The lake's root inside the bucket: LAKE_URI is s3://<bucket>/<prefix>."
  type        = string
  default     = "lake"
}

variable "user" {
  description = "The MinIO user the delta-writer authenticates as."
  type        = string
  default     = "lakehouse-lake"
}

variable "versioning" {
  description = "Keep overwritten and deleted object versions (a second line behind the restore window)."
  type        = bool
  default     = true
}

resource "minio_s3_bucket" "lake" {
  bucket = var.bucket
  acl    = "private"
}

resource "minio_s3_bucket_versioning" "lake" {
  count  = var.versioning ? 1 : 0
  bucket = minio_s3_bucket.lake.bucket
  versioning_configuration {
    status = "Enabled"
  }
}

resource "minio_iam_policy" "lake" {
  name = "${var.user}-policy"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect    = "Allow"
        Action    = ["s3:ListBucket", "s3:GetBucketLocation"]
        Resource  = ["arn:aws:s3:::${minio_s3_bucket.lake.bucket}"]
        Condition = { StringLike = { "s3:prefix" = ["${var.prefix}/*", var.prefix] } }
      },
      {
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
        Resource = ["arn:aws:s3:::${minio_s3_bucket.lake.bucket}/${var.prefix}/*"]
      },
    ]
  })
}

resource "minio_iam_user" "lake" {
  name = var.user
}

resource "minio_iam_user_policy_attachment" "lake" {
  user_name   = minio_iam_user.lake.name
  policy_name = minio_iam_policy.lake.name
}

output "lake_uri" {
  description = "LAKE_URI for the delta-writer and the lake CronJobs."
  value       = "s3://${minio_s3_bucket.lake.bucket}/${var.prefix}"
}

output "access_key_id" {
  description = "AWS_ACCESS_KEY_ID of the lake user."
  value       = minio_iam_user.lake.name
}

output "secret_access_key" {
  description = "AWS_SECRET_ACCESS_KEY of the lake user."
  value       = minio_iam_user.lake.secret
  sensitive   = true
}
