# One customer-managed KMS key for the stack's data at rest: the documents, assets and uploads
# buckets (with S3 bucket keys, so KMS requests stay rare), the secrets, the database storage and
# Performance Insights, and the CloudWatch log groups. Cost: about 1 USD a month plus requests.
# (The log bucket uses SSE-S3 because S3 server access logging and ALB access logs cannot write
# to SSE-KMS buckets; the SQS queues use SSE-SQS, which S3 event notifications can write to.)

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:This is a KMS key policy, not an IAM policy: "*" as resource means this key only, and the root statement is AWS's default key policy that delegates to IAM.
  #checkov:skip=CKV_AWS_111:This is a KMS key policy, not an IAM policy: "*" as resource means this key only, and the root statement is AWS's default key policy that delegates to IAM.
  #checkov:skip=CKV_AWS_356:This is a KMS key policy, not an IAM policy: "*" as resource means this key only (a key policy cannot name its own key ARN before the key exists).
  # The default key policy: lets IAM policies in this account grant use of the key. Without it
  # the key cannot be administered or used by any role below.
  statement {
    sid       = "EnableIAMPolicies"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # CloudWatch Logs encrypts the stack's log groups with this key (only log groups of this account).
  statement {
    sid = "AllowCloudWatchLogs"
    actions = [
      "kms:Encrypt",
      "kms:Decrypt",
      "kms:ReEncryptFrom",
      "kms:ReEncryptTo",
      "kms:GenerateDataKey",
      "kms:GenerateDataKeyWithoutPlaintext",
      "kms:DescribeKey",
    ]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
    }
  }
}

resource "aws_kms_key" "main" {
  description             = "${local.name}: S3 data buckets, secrets, RDS, CloudWatch logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "main" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.main.key_id
}
