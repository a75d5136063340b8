# The viewer bucket: the published case bundles the learnHPB viewer reads anonymously
# (<viewer_bundle_prefix>/<case folder>/manifest.json, volume, meshes, de-identified PDFs).
# Why a public-read bucket and not CloudFront with origin access control: terraform/README.md,
# "The viewer bucket". In short: the unmodified viewer lists the bucket itself and turns listing on
# only for host names containing ".s3." or ending in ".amazonaws.com", so it must talk to S3.
#
# Public exactly as far as the viewer needs: anonymous s3:GetObject on the case prefix and
# s3:ListBucket restricted by s3:prefix to it; nothing else of the bucket, no ACLs, no writes.
# Only the worker role writes (IAM grants it; the bucket policy denies object writes and deletes
# to every other principal). Encrypted with SSE-S3: anonymous readers cannot use a KMS key.

locals {
  viewer_bucket_name = "${local.name}-viewer-${local.account_id}"
  viewer_prefix      = trim(var.viewer_bundle_prefix, "/")
}

resource "aws_s3_bucket" "viewer" {
  #checkov:skip=CKV_AWS_144:Cross-region replication would double storage cost; every bundle is rebuilt from the database and the assets bucket by manage.py publish_viewer_bundles.
  #checkov:skip=CKV_AWS_145:SSE-S3 (AES256), not KMS: anonymous GETs of KMS-encrypted objects fail, and the viewer reads anonymously; the objects are published, de-identified data.
  #checkov:skip=CKV2_AWS_62:Nothing consumes events of the viewer bucket; the worker writes it and knows what it wrote.
  #checkov:skip=CKV2_AWS_6:The public access block exists but allows the bucket policy to be public: the viewer reads anonymously (see terraform/README.md).
  bucket = local.viewer_bucket_name
}

resource "aws_s3_bucket_ownership_controls" "viewer" {
  bucket = aws_s3_bucket.viewer.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "viewer" {
  #checkov:skip=CKV_AWS_54:The viewer reads this bucket anonymously by design; its policy grants only GetObject on the case prefix and ListBucket of it.
  #checkov:skip=CKV_AWS_56:The viewer reads this bucket anonymously by design; its policy grants only GetObject on the case prefix and ListBucket of it.
  bucket = aws_s3_bucket.viewer.id

  # ACLs stay blocked (and disabled by BucketOwnerEnforced); only the bucket policy may make objects public.
  block_public_acls       = true
  ignore_public_acls      = true
  block_public_policy     = false
  restrict_public_buckets = false
}

resource "aws_s3_bucket_versioning" "viewer" {
  bucket = aws_s3_bucket.viewer.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "viewer" {
  #checkov:skip=CKV_AWS_145:SSE-S3 (AES256), not KMS: anonymous GETs of KMS-encrypted objects fail, and the viewer reads anonymously.
  bucket = aws_s3_bucket.viewer.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_logging" "viewer" {
  bucket = aws_s3_bucket.viewer.id

  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3/viewer/"
}

data "aws_iam_policy_document" "viewer_bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.viewer.arn,
      "${aws_s3_bucket.viewer.arn}/*",
    ]

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
    sid       = "PublicReadOfTheCasePrefix"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.viewer.arn}/${local.viewer_prefix}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }
  }

  statement {
    sid       = "PublicListingOfTheCasePrefixOnly"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.viewer.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.viewer_prefix}/", "${local.viewer_prefix}/*"]
    }
  }

  statement {
    sid       = "OnlyTheWorkerWrites"
    effect    = "Deny"
    actions   = ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:RestoreObject"]
    resources = ["${aws_s3_bucket.viewer.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = [aws_iam_role.worker.arn]
    }
  }
}

resource "aws_s3_bucket_policy" "viewer" {
  bucket = aws_s3_bucket.viewer.id
  policy = data.aws_iam_policy_document.viewer_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.viewer]
}

resource "aws_s3_bucket_lifecycle_configuration" "viewer" {
  bucket = aws_s3_bucket.viewer.id

  rule {
    id     = "old-versions-and-incomplete-uploads"
    status = "Enabled"

    filter {}

    # Replaced bundle files stay recoverable for a while; a withdrawn case's files go after that.
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiry_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }

    expiration {
      expired_object_delete_marker = true
    }
  }

  depends_on = [aws_s3_bucket_versioning.viewer]
}

resource "aws_s3_bucket_cors_configuration" "viewer" {
  bucket = aws_s3_bucket.viewer.id

  # The viewer lists the bucket and fetches manifests and files from its own origin.
  cors_rule {
    allowed_methods = ["GET", "HEAD"]
    allowed_origins = var.viewer_origins
    allowed_headers = ["*"]
    expose_headers  = ["Content-Length", "Content-Type", "ETag"]
    max_age_seconds = 3600
  }
}
