# SQS: the ingest queue (S3 ObjectCreated events from the uploads bucket, read by the listener)
# and the Celery broker queue, each with a dead-letter queue. All four use SSE-SQS encryption:
# S3 event notifications cannot write to a queue encrypted with a key S3 may not use, and SSE-SQS
# needs no key policy or extra IAM permissions.

locals {
  celery_queue_name = "${local.name}-celery"
  # A Celery task must stay invisible for longer than its hard time limit, or SQS hands it to a
  # second worker while the first is still converting.
  broker_visibility_timeout_seconds = var.conversion_time_limit_seconds + var.broker_visibility_margin_seconds
}

# ---------------------------------------------------------------------------------------------
# Ingest queue
# ---------------------------------------------------------------------------------------------

resource "aws_sqs_queue" "ingest_dlq" {
  name                      = "${local.name}-ingest-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "ingest" {
  name                       = "${local.name}-ingest"
  visibility_timeout_seconds = var.ingest_visibility_timeout_seconds
  message_retention_seconds  = var.queue_message_retention_seconds
  receive_wait_time_seconds  = 20
  sqs_managed_sse_enabled    = true

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.ingest_dlq.arn
    maxReceiveCount     = var.ingest_max_receive_count
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "ingest_dlq" {
  queue_url = aws_sqs_queue.ingest_dlq.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.ingest.arn]
  })
}

# Only S3, on behalf of the uploads bucket of this account, may send to the ingest queue.
data "aws_iam_policy_document" "ingest_queue" {
  statement {
    sid       = "AllowUploadsBucketNotifications"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.ingest.arn]

    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.uploads.arn]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sqs_queue_policy" "ingest" {
  queue_url = aws_sqs_queue.ingest.id
  policy    = data.aws_iam_policy_document.ingest_queue.json
}

# ---------------------------------------------------------------------------------------------
# Celery broker queue
# ---------------------------------------------------------------------------------------------

resource "aws_sqs_queue" "celery_dlq" {
  name                      = "${local.celery_queue_name}-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "celery" {
  name                       = local.celery_queue_name
  visibility_timeout_seconds = local.broker_visibility_timeout_seconds
  message_retention_seconds  = var.queue_message_retention_seconds
  receive_wait_time_seconds  = 20
  sqs_managed_sse_enabled    = true

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.celery_dlq.arn
    maxReceiveCount     = var.broker_max_receive_count
  })

  lifecycle {
    precondition {
      condition     = local.broker_visibility_timeout_seconds > var.conversion_time_limit_seconds
      error_message = "The broker queue's visibility timeout must exceed the conversion time limit."
    }
  }
}

resource "aws_sqs_queue_redrive_allow_policy" "celery_dlq" {
  queue_url = aws_sqs_queue.celery_dlq.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.celery.arn]
  })
}
