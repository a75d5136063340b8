# Restart the services when RDS rotates the master password.
#
# RDS rotates the secret it manages (every db_password_rotation_days). ECS injects secrets only
# when a task starts, so without this, running tasks keep the old password and every new database
# connection fails after a rotation. When the AWSCURRENT label of the RDS secret moves (the native
# Secrets Manager "Secret Label Updated" event), EventBridge starts a small Step Functions state
# machine that forces a new deployment of the web, worker and listener services; new tasks read
# the new password. Celery tasks interrupted by the restart are redelivered after the broker
# queue's visibility timeout (the conversion tasks are idempotent).

resource "aws_secretsmanager_secret_rotation" "db_master" {
  secret_id          = local.db_master_secret_arn
  rotate_immediately = false

  rotation_rules {
    automatically_after_days = var.db_password_rotation_days
  }
}

resource "aws_cloudwatch_log_group" "redeploy" {
  name              = "/aws/vendedlogs/states/${local.name}-redeploy"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_sfn_state_machine" "redeploy" {
  name     = "${local.name}-redeploy-services"
  role_arn = aws_iam_role.redeploy.arn
  type     = "STANDARD"

  definition = jsonencode({
    Comment = "Force a new deployment of the ${local.name} services (new tasks read current secrets)"
    StartAt = "Redeploy"
    States = {
      Redeploy = {
        Type      = "Map"
        ItemsPath = "$.services"
        ItemSelector = {
          "service.$" = "$$.Map.Item.Value"
        }
        ItemProcessor = {
          ProcessorConfig = { Mode = "INLINE" }
          StartAt         = "UpdateService"
          States = {
            UpdateService = {
              Type     = "Task"
              Resource = "arn:${local.partition}:states:::aws-sdk:ecs:updateService"
              Parameters = {
                Cluster            = aws_ecs_cluster.main.name
                "Service.$"        = "$.service"
                ForceNewDeployment = true
              }
              Retry = [{
                ErrorEquals     = ["States.ALL"]
                IntervalSeconds = 10
                MaxAttempts     = 3
                BackoffRate     = 2
              }]
              End = true
            }
          }
        }
        End = true
      }
    }
  })

  # Execution data is the list of service names and ECS's UpdateService replies (no secrets,
  # no patient data).
  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.redeploy.arn}:*"
    include_execution_data = true
    level                  = "ALL"
  }

  tracing_configuration {
    enabled = true
  }
}

resource "aws_cloudwatch_event_rule" "db_password_rotated" {
  name        = "${local.name}-db-password-rotated"
  description = "The RDS-managed master secret of ${local.name} has a new current version"

  event_pattern = jsonencode({
    source        = ["aws.secretsmanager"]
    "detail-type" = ["Secret Label Updated"]
    resources     = [local.db_master_secret_arn]
    detail = {
      labelUpdated = ["AWSCURRENT"]
    }
  })
}

resource "aws_cloudwatch_event_target" "redeploy" {
  rule     = aws_cloudwatch_event_rule.db_password_rotated.name
  arn      = aws_sfn_state_machine.redeploy.arn
  role_arn = aws_iam_role.redeploy_trigger.arn
  input = jsonencode({
    services = [
      aws_ecs_service.web.name,
      aws_ecs_service.worker.name,
      aws_ecs_service.listener.name,
    ]
  })
}

# ---------------------------------------------------------------------------------------------
# IAM: the state machine may only update the three services; EventBridge may only start it.
# ---------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "states_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

data "aws_iam_policy_document" "redeploy" {
  statement {
    sid     = "RedeployServices"
    actions = ["ecs:UpdateService"]
    resources = [
      aws_ecs_service.web.id,
      aws_ecs_service.worker.id,
      aws_ecs_service.listener.id,
    ]
  }

  # CloudWatch Logs delivery for Step Functions: these actions do not support resource-level
  # permissions (AWS documents "*" for them).
  statement {
    sid = "StepFunctionsLogDelivery"
    actions = [
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:DescribeLogGroups",
    ]
    resources = ["*"]
  }

  # X-Ray segments: PutTraceSegments and PutTelemetryRecords do not support resource-level
  # permissions either.
  statement {
    sid       = "XRayTracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
    resources = ["*"]
  }
}

resource "aws_iam_role" "redeploy" {
  name               = "${local.name}-redeploy-services"
  description        = "Step Functions: force a new deployment of the ${local.name} services"
  assume_role_policy = data.aws_iam_policy_document.states_assume.json
}

resource "aws_iam_role_policy" "redeploy" {
  name   = "redeploy"
  role   = aws_iam_role.redeploy.id
  policy = data.aws_iam_policy_document.redeploy.json
}

data "aws_iam_policy_document" "events_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

data "aws_iam_policy_document" "redeploy_trigger" {
  statement {
    sid       = "StartRedeploy"
    actions   = ["states:StartExecution"]
    resources = [aws_sfn_state_machine.redeploy.arn]
  }
}

resource "aws_iam_role" "redeploy_trigger" {
  name               = "${local.name}-redeploy-trigger"
  description        = "EventBridge: start the ${local.name} redeploy state machine"
  assume_role_policy = data.aws_iam_policy_document.events_assume.json
}

resource "aws_iam_role_policy" "redeploy_trigger" {
  name   = "start-redeploy"
  role   = aws_iam_role.redeploy_trigger.id
  policy = data.aws_iam_policy_document.redeploy_trigger.json
}
