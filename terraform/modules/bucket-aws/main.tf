# The lake's bucket on AWS S3 and its policy (DESIGN.md §8): private, versioned, encrypted, TLS only,
# and readable and writable under the lake's prefix by the delta-writer's role alone. AWS S3 honours
# conditional writes (If-None-Match), which concurrent Delta writers need.

terraform {
  required_version = ">= 1.5.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
  }
}

variable "bucket" {
  description = "The bucket name."
  type        = string
}

variable "prefix" {
  description = "The lake's root inside the bucket: LAKE_URI is s3://<bucket>/<prefix>."
  type        = string
  default     = "lake"
}

variable "writer_role_arns" {
  description = "IAM roles that run the delta-writer and its CronJobs (e.g. the IRSA role)."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "A customer-managed KMS key for the objects; null uses the AWS-managed aws/s3 key."
  type        = string
  default     = null
}

variable "access_log_bucket" {
  description = "A bucket that receives the server access logs."
  type        = string
}

variable "noncurrent_version_days" {
  description = "Days an overwritten or deleted object version is kept. Vacuum deletes data files no version within the restore window needs; this is a second line behind it."
  type        = number
  default     = 30
}

resource "aws_s3_bucket" "lake" {
  # checkov:skip=CKV_AWS_144: cross-region replication is a disaster-recovery choice of region and cost that belongs to the operator (add an aws_s3_bucket_replication_configuration where the lake must outlive a region); versioning already keeps overwritten objects.
  # checkov:skip=CKV2_AWS_62: nothing consumes object events from the lake; readers list the Delta log.
  bucket = var.bucket
}

resource "aws_s3_bucket_ownership_controls" "lake" {
  bucket = aws_s3_bucket.lake.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "lake" {
  bucket                  = aws_s3_bucket.lake.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "lake" {
  bucket = aws_s3_bucket.lake.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "lake" {
  bucket = aws_s3_bucket.lake.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_logging" "lake" {
  bucket        = aws_s3_bucket.lake.id
  target_bucket = var.access_log_bucket
  target_prefix = "s3/${var.bucket}/"
}

resource "aws_s3_bucket_lifecycle_configuration" "lake" {
  bucket = aws_s3_bucket.lake.id
  rule {
    id     = "old-versions-and-uploads"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 2
    }
  }
  depends_on = [aws_s3_bucket_versioning.lake]
}

data "aws_iam_policy_document" "lake" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.lake.arn, "${aws_s3_bucket.lake.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
  statement {
    sid       = "LakeWritersList"
    effect    = "Allow"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [aws_s3_bucket.lake.arn]
    principals {
      type        = "AWS"
      identifiers = var.writer_role_arns
    }
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.prefix}/*", var.prefix]
    }
  }
  statement {
    sid       = "LakeWritersObjects"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.lake.arn}/${var.prefix}/*"]
    principals {
      type        = "AWS"
      identifiers = var.writer_role_arns
    }
  }
}

resource "aws_s3_bucket_policy" "lake" {
  bucket     = aws_s3_bucket.lake.id
  policy     = data.aws_iam_policy_document.lake.json
  depends_on = [aws_s3_bucket_public_access_block.lake]
}

output "lake_uri" {
  description = "LAKE_URI for the delta-writer and the lake CronJobs."
  value       = "s3://${aws_s3_bucket.lake.bucket}/${var.prefix}"
}

output "bucket_arn" {
  description = "The bucket's ARN."
  value       = aws_s3_bucket.lake.arn
}
