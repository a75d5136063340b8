# IAM for the ECS services: one shared execution role (pull the image, write the service log
# streams, read the two secrets) and one task role per service with only the buckets and queues
# that service uses.
#
# s3:ListBucket is granted on the buckets a service reads: without it S3 answers 403 instead of
# 404 for a missing key, which django-storages' exists() treats as an error.
# KMS use is limited to requests S3 makes on the service's behalf (kms:ViaService), because the
# data buckets are SSE-KMS encrypted.

locals {
  # When the image lives in ECR, the execution role may pull from that one repository only.
  ecr_image_parts = try(
    regex("^([0-9]{12})\\.dkr\\.ecr\\.([a-z0-9-]+)\\.amazonaws\\.com/([^:@]+)", var.image),
    null,
  )
  ecr_repository_arn = (
    local.ecr_image_parts == null
    ? null
    : "arn:${local.partition}:ecr:${local.ecr_image_parts[1]}:${local.ecr_image_parts[0]}:repository/${local.ecr_image_parts[2]}"
  )

  s3_via_service = "s3.${local.region}.amazonaws.com"
}

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:*"]
    }
  }
}

# ---------------------------------------------------------------------------------------------
# Execution role (used by the ECS agent, not by the app)
# ---------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "execution" {
  dynamic "statement" {
    for_each = local.ecr_repository_arn == null ? [] : [local.ecr_repository_arn]

    content {
      sid = "PullImage"
      actions = [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
      ]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = local.ecr_repository_arn == null ? [] : [local.ecr_repository_arn]

    content {
      # GetAuthorizationToken is account-wide: it does not support resource-level permissions.
      sid       = "EcrLogin"
      actions   = ["ecr:GetAuthorizationToken"]
      resources = ["*"]
    }
  }

  statement {
    sid     = "WriteServiceLogs"
    actions = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [
      "${aws_cloudwatch_log_group.web.arn}:*",
      "${aws_cloudwatch_log_group.worker.arn}:*",
      "${aws_cloudwatch_log_group.listener.arn}:*",
    ]
  }

  statement {
    sid     = "ReadAppSecrets"
    actions = ["secretsmanager:GetSecretValue"]
    resources = [
      aws_secretsmanager_secret.django_secret_key.arn,
      local.db_master_secret_arn,
    ]
  }

  statement {
    sid       = "DecryptAppSecrets"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${local.name}-ecs-execution"
  description        = "ECS agent for ${local.name}: pull the image, write logs, read the app secrets"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "execution" {
  name   = "execution"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

# ---------------------------------------------------------------------------------------------
# Web (gunicorn): read/write documents, read assets, presigned PUTs into uploads, enqueue tasks
# ---------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "web" {
  statement {
    sid       = "Documents"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${aws_s3_bucket.documents.arn}/*"]
  }

  statement {
    sid       = "Assets"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.assets.arn}/*"]
  }

  statement {
    sid       = "Uploads"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.uploads.arn}/*"]
  }

  statement {
    sid       = "ListReadBuckets"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.documents.arn, aws_s3_bucket.assets.arn, aws_s3_bucket.viewer.arn]
  }

  statement {
    # Presigned GETs of bundle files for GET /api/v1/cases/{id}/manifest; the web never writes bundles.
    sid       = "ReadViewerBundles"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.viewer.arn}/*"]
  }

  statement {
    sid       = "BucketKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.s3_via_service]
    }
  }

  statement {
    sid       = "EnqueueCeleryTasks"
    actions   = ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.celery.arn]
  }
}

resource "aws_iam_role" "web" {
  name               = "${local.name}-web-task"
  description        = "Web service of ${local.name}"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "web" {
  name   = "web"
  role   = aws_iam_role.web.id
  policy = data.aws_iam_policy_document.web.json
}

# ---------------------------------------------------------------------------------------------
# Worker (Celery): read uploads and documents, write assets and viewer bundles, consume the broker queue
# ---------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "worker" {
  statement {
    sid       = "ReadUploadsAndDocuments"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.uploads.arn}/*", "${aws_s3_bucket.documents.arn}/*"]
  }

  statement {
    sid       = "WriteAssets"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.assets.arn}/*"]
  }

  statement {
    # Viewer bundles: published, replaced and removed by the worker's bundle task, and only by it.
    sid       = "WriteViewerBundles"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.viewer.arn}/*"]
  }

  statement {
    sid     = "ListBuckets"
    actions = ["s3:ListBucket"]
    resources = [
      aws_s3_bucket.uploads.arn,
      aws_s3_bucket.documents.arn,
      aws_s3_bucket.assets.arn,
      aws_s3_bucket.viewer.arn,
    ]
  }

  statement {
    sid       = "BucketKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.s3_via_service]
    }
  }

  statement {
    sid = "ConsumeCeleryQueue"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:SendMessage",
      "sqs:GetQueueUrl",
      "sqs:GetQueueAttributes",
    ]
    resources = [aws_sqs_queue.celery.arn]
  }
}

resource "aws_iam_role" "worker" {
  name               = "${local.name}-worker-task"
  description        = "Celery worker service of ${local.name}"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "worker" {
  name   = "worker"
  role   = aws_iam_role.worker.id
  policy = data.aws_iam_policy_document.worker.json
}

# ---------------------------------------------------------------------------------------------
# Listener: consume S3 events from the ingest queue, enqueue conversion tasks
# ---------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "listener" {
  statement {
    sid       = "ConsumeIngestQueue"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.ingest.arn]
  }

  statement {
    sid       = "EnqueueCeleryTasks"
    actions   = ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.celery.arn]
  }
}

resource "aws_iam_role" "listener" {
  name               = "${local.name}-listener-task"
  description        = "Ingest listener service of ${local.name}"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "listener" {
  name   = "listener"
  role   = aws_iam_role.listener.id
  policy = data.aws_iam_policy_document.listener.json
}
