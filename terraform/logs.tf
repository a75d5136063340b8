# CloudWatch log groups, encrypted with the stack key and kept for log_retention_days. The app
# logs JSON (LOG_FORMAT=json) and must never log patient identifiers.

resource "aws_cloudwatch_log_group" "web" {
  name              = "/ecs/${local.name}/web"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_cloudwatch_log_group" "worker" {
  name              = "/ecs/${local.name}/worker"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_cloudwatch_log_group" "listener" {
  name              = "/ecs/${local.name}/listener"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

# Created here (before the instance) so RDS log exports get a retention and encryption instead
# of RDS creating never-expiring, unencrypted groups.
resource "aws_cloudwatch_log_group" "rds_postgresql" {
  name              = "/aws/rds/instance/${local.name}-db/postgresql"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_cloudwatch_log_group" "rds_upgrade" {
  name              = "/aws/rds/instance/${local.name}-db/upgrade"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}
