# Outputs: one per setting the app reads (named after the environment variable, lowercased),
# the ARNs of the secrets (never their values), and what an operator needs to deploy and run
# one-off tasks. scripts/env_from_terraform.py turns `terraform output -json` into a .env file.

# --- App settings (non-secret) ----------------------------------------------------------------

output "django_settings_module" {
  description = "DJANGO_SETTINGS_MODULE"
  value       = local.app_environment.DJANGO_SETTINGS_MODULE
}

output "django_allowed_hosts" {
  description = "DJANGO_ALLOWED_HOSTS (comma-separated)"
  value       = local.app_environment.DJANGO_ALLOWED_HOSTS
}

output "django_csrf_trusted_origins" {
  description = "DJANGO_CSRF_TRUSTED_ORIGINS (comma-separated)"
  value       = local.app_environment.DJANGO_CSRF_TRUSTED_ORIGINS
}

output "database_host" {
  description = "DATABASE_HOST: the RDS endpoint address (reachable from the private subnets only)"
  value       = local.app_environment.DATABASE_HOST
}

output "database_port" {
  description = "DATABASE_PORT"
  value       = local.app_environment.DATABASE_PORT
}

output "database_name" {
  description = "DATABASE_NAME"
  value       = local.app_environment.DATABASE_NAME
}

output "database_user" {
  description = "DATABASE_USER (the master user name; the containers read it from the RDS-managed secret's \"username\" key)"
  value       = var.db_username
}

output "aws_region" {
  description = "AWS_REGION"
  value       = local.app_environment.AWS_REGION
}

output "s3_documents_bucket" {
  description = "S3_DOCUMENTS_BUCKET"
  value       = local.app_environment.S3_DOCUMENTS_BUCKET
}

output "s3_assets_bucket" {
  description = "S3_ASSETS_BUCKET"
  value       = local.app_environment.S3_ASSETS_BUCKET
}

output "s3_uploads_bucket" {
  description = "S3_UPLOADS_BUCKET"
  value       = local.app_environment.S3_UPLOADS_BUCKET
}

output "s3_viewer_bucket" {
  description = "S3_VIEWER_BUCKET"
  value       = local.app_environment.S3_VIEWER_BUCKET
}

output "viewer_bundle_prefix" {
  description = "VIEWER_BUNDLE_PREFIX"
  value       = local.app_environment.VIEWER_BUNDLE_PREFIX
}

output "viewer_bundle_volume" {
  description = "VIEWER_BUNDLE_VOLUME"
  value       = local.app_environment.VIEWER_BUNDLE_VOLUME
}

output "viewer_case_asset_base_url" {
  description = "The learnHPB viewer's VITE_CASE_ASSET_BASE_URL for this stack (virtual-hosted S3 URL of the case prefix)"
  value       = "https://${aws_s3_bucket.viewer.bucket_regional_domain_name}/${local.viewer_prefix}"
}

output "storage_url_expiry_seconds" {
  description = "STORAGE_URL_EXPIRY_SECONDS"
  value       = local.app_environment.STORAGE_URL_EXPIRY_SECONDS
}

output "celery_broker_url" {
  description = "CELERY_BROKER_URL (SQS; credentials come from the task role)"
  value       = local.app_environment.CELERY_BROKER_URL
}

output "celery_sqs_queue_name" {
  description = "CELERY_SQS_QUEUE_NAME"
  value       = local.app_environment.CELERY_SQS_QUEUE_NAME
}

output "celery_sqs_queue_url" {
  description = "CELERY_SQS_QUEUE_URL"
  value       = local.app_environment.CELERY_SQS_QUEUE_URL
}

output "ingest_queue_url" {
  description = "INGEST_QUEUE_URL"
  value       = local.app_environment.INGEST_QUEUE_URL
}

output "conversion_time_limit_seconds" {
  description = "CONVERSION_TIME_LIMIT_SECONDS"
  value       = local.app_environment.CONVERSION_TIME_LIMIT_SECONDS
}

output "feature_flag_lightweight_mode" {
  description = "FEATURE_FLAG_LIGHTWEIGHT_MODE (\"true\" or \"false\")"
  value       = local.app_environment.FEATURE_FLAG_LIGHTWEIGHT_MODE
}

output "cors_origins" {
  description = "CORS_ORIGINS (comma-separated)"
  value       = local.app_environment.CORS_ORIGINS
}

output "log_format" {
  description = "LOG_FORMAT"
  value       = local.app_environment.LOG_FORMAT
}

output "log_level" {
  description = "LOG_LEVEL"
  value       = local.app_environment.LOG_LEVEL
}

# --- Secrets (ARNs only) ------------------------------------------------------------------------

output "django_secret_key_secret_arn" {
  description = "Secrets Manager ARN holding DJANGO_SECRET_KEY (plain string)"
  value       = aws_secretsmanager_secret.django_secret_key.arn
}

output "database_credentials_secret_arn" {
  description = "Secrets Manager ARN of the RDS-managed master secret: JSON keys \"username\" (DATABASE_USER) and \"password\" (DATABASE_PASSWORD)"
  value       = local.db_master_secret_arn
}

# --- Everything, as the containers see it ------------------------------------------------------

output "app_environment" {
  description = "All non-secret app settings as one map (the same values as the individual outputs)"
  value       = local.app_environment
}

# --- Operations --------------------------------------------------------------------------------

output "alb_dns_name" {
  description = "DNS name of the load balancer: point api_domain_name at it (CNAME or alias record)"
  value       = aws_lb.main.dns_name
}

output "alb_zone_id" {
  description = "Hosted zone ID of the load balancer, for a Route 53 alias record"
  value       = aws_lb.main.zone_id
}

output "api_base_url" {
  description = "Base URL of the API for the viewer's VITE_API_BASE_URL"
  value       = "https://${var.api_domain_name}/api/v1"
}

output "ecs_cluster_name" {
  description = "ECS cluster name"
  value       = aws_ecs_cluster.main.name
}

output "ecs_service_names" {
  description = "ECS service names by role"
  value = {
    web      = aws_ecs_service.web.name
    worker   = aws_ecs_service.worker.name
    listener = aws_ecs_service.listener.name
  }
}

output "web_task_definition_family" {
  description = "Task definition family of the web service (run one-off commands such as migrate with it)"
  value       = aws_ecs_task_definition.web.family
}

output "private_subnet_ids" {
  description = "Private subnet IDs (for one-off ECS tasks)"
  value       = local.private_subnet_ids
}

output "app_security_group_id" {
  description = "Security group of the ECS tasks (for one-off ECS tasks; the only one the database accepts)"
  value       = aws_security_group.app.id
}

output "log_group_names" {
  description = "CloudWatch log groups by service"
  value = {
    web      = aws_cloudwatch_log_group.web.name
    worker   = aws_cloudwatch_log_group.worker.name
    listener = aws_cloudwatch_log_group.listener.name
  }
}

output "ingest_dlq_url" {
  description = "Dead-letter queue of the ingest queue (S3 events the listener could not handle)"
  value       = aws_sqs_queue.ingest_dlq.url
}

output "celery_dlq_url" {
  description = "Dead-letter queue of the Celery broker queue"
  value       = aws_sqs_queue.celery_dlq.url
}

output "log_bucket" {
  description = "Bucket holding S3 access logs, load balancer logs and VPC flow logs"
  value       = aws_s3_bucket.logs.id
}

output "kms_key_arn" {
  description = "ARN of the stack's KMS key (data buckets, secrets, RDS, log groups)"
  value       = aws_kms_key.main.arn
}
