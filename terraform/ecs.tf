# ECS Fargate: one cluster, three services from one image (var.image):
#   web      gunicorn behind the load balancer (alb.tf)
#   worker   Celery worker converting DICOM to VTK
#   listener manage.py ingest_listen, turning S3 events into ingest jobs
# Every container gets the same app settings (local.app_environment, also exported as outputs)
# and the same secrets (from Secrets Manager through the execution role). Root filesystems are
# read-only; a task-local scratch volume is mounted at /tmp and TMPDIR points at it.

locals {
  # The settings the app reads from its environment. outputs.tf exports each one.
  app_environment = {
    DJANGO_SETTINGS_MODULE        = "config.settings.production"
    DJANGO_ALLOWED_HOSTS          = join(",", concat([var.api_domain_name], var.extra_allowed_hosts))
    DJANGO_CSRF_TRUSTED_ORIGINS   = "https://${var.api_domain_name}"
    DATABASE_HOST                 = aws_db_instance.main.address
    DATABASE_PORT                 = tostring(aws_db_instance.main.port)
    DATABASE_NAME                 = var.db_name
    AWS_REGION                    = local.region
    S3_DOCUMENTS_BUCKET           = aws_s3_bucket.documents.id
    S3_ASSETS_BUCKET              = aws_s3_bucket.assets.id
    S3_UPLOADS_BUCKET             = aws_s3_bucket.uploads.id
    S3_VIEWER_BUCKET              = aws_s3_bucket.viewer.id
    VIEWER_BUNDLE_PREFIX          = local.viewer_prefix
    VIEWER_BUNDLE_VOLUME          = var.viewer_bundle_volume
    STORAGE_URL_EXPIRY_SECONDS    = tostring(var.storage_url_expiry_seconds)
    CELERY_BROKER_URL             = "sqs://"
    CELERY_SQS_QUEUE_NAME         = aws_sqs_queue.celery.name
    CELERY_SQS_QUEUE_URL          = aws_sqs_queue.celery.url
    INGEST_QUEUE_URL              = aws_sqs_queue.ingest.url
    CONVERSION_TIME_LIMIT_SECONDS = tostring(var.conversion_time_limit_seconds)
    FEATURE_FLAG_LIGHTWEIGHT_MODE = tostring(var.feature_flag_lightweight_mode)
    CORS_ORIGINS                  = join(",", var.viewer_origins)
    LOG_FORMAT                    = "json"
    LOG_LEVEL                     = var.log_level
  }

  # Container runtime settings (not app settings): temp files, caches and gunicorn's control
  # socket ($XDG_RUNTIME_DIR/gunicorn.ctl) go to the scratch volume, and no .pyc files are
  # written to the read-only root filesystem.
  runtime_environment = {
    TMPDIR                  = "/tmp"
    XDG_RUNTIME_DIR         = "/tmp"
    XDG_CACHE_HOME          = "/tmp/.cache"
    PYTHONDONTWRITEBYTECODE = "1"
    PYTHONUNBUFFERED        = "1"
  }

  container_environment = [
    for name, value in merge(local.app_environment, local.runtime_environment) : {
      name  = name
      value = value
    }
  ]

  # Secrets: ECS resolves these at task start; JSON keys of the RDS-managed secret select the
  # user name and the password.
  container_secrets = [
    { name = "DJANGO_SECRET_KEY", valueFrom = aws_secretsmanager_secret.django_secret_key.arn },
    { name = "DATABASE_USER", valueFrom = "${local.db_master_secret_arn}:username::" },
    { name = "DATABASE_PASSWORD", valueFrom = "${local.db_master_secret_arn}:password::" },
  ]

  scratch_mount = [{ sourceVolume = "scratch", containerPath = "/tmp", readOnly = false }]

  web_command      = ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", tostring(var.gunicorn_workers)]
  worker_command   = ["celery", "-A", "config", "worker", "-l", "info", "--concurrency", tostring(var.celery_concurrency)]
  listener_command = ["python", "manage.py", "ingest_listen"]
}

resource "aws_ecs_cluster" "main" {
  name = local.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecs_cluster_capacity_providers" "main" {
  cluster_name       = aws_ecs_cluster.main.name
  capacity_providers = ["FARGATE"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

# ---------------------------------------------------------------------------------------------
# Task definitions
# ---------------------------------------------------------------------------------------------

resource "aws_ecs_task_definition" "web" {
  family                   = "${local.name}-web"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.web_cpu
  memory                   = var.web_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.web.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  volume {
    name = "scratch"
  }

  container_definitions = jsonencode([
    {
      name                   = "web"
      image                  = var.image
      essential              = true
      command                = local.web_command
      portMappings           = [{ containerPort = 8000, protocol = "tcp" }]
      environment            = local.container_environment
      secrets                = local.container_secrets
      readonlyRootFilesystem = true
      privileged             = false
      mountPoints            = local.scratch_mount
      linuxParameters        = { initProcessEnabled = true }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.web.name
          awslogs-region        = local.region
          awslogs-stream-prefix = "web"
        }
      }
    }
  ])
}

resource "aws_ecs_task_definition" "worker" {
  family                   = "${local.name}-worker"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.worker_cpu
  memory                   = var.worker_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.worker.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  ephemeral_storage {
    size_in_gib = var.worker_ephemeral_storage_gib
  }

  volume {
    name = "scratch"
  }

  container_definitions = jsonencode([
    {
      name                   = "worker"
      image                  = var.image
      essential              = true
      command                = local.worker_command
      environment            = local.container_environment
      secrets                = local.container_secrets
      readonlyRootFilesystem = true
      privileged             = false
      mountPoints            = local.scratch_mount
      linuxParameters        = { initProcessEnabled = true }
      # Fargate's maximum: time for Celery's warm shutdown before SIGKILL.
      stopTimeout = 120
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.worker.name
          awslogs-region        = local.region
          awslogs-stream-prefix = "worker"
        }
      }
    }
  ])
}

resource "aws_ecs_task_definition" "listener" {
  family                   = "${local.name}-listener"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.listener_cpu
  memory                   = var.listener_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.listener.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  volume {
    name = "scratch"
  }

  container_definitions = jsonencode([
    {
      name                   = "listener"
      image                  = var.image
      essential              = true
      command                = local.listener_command
      environment            = local.container_environment
      secrets                = local.container_secrets
      readonlyRootFilesystem = true
      privileged             = false
      mountPoints            = local.scratch_mount
      linuxParameters        = { initProcessEnabled = true }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.listener.name
          awslogs-region        = local.region
          awslogs-stream-prefix = "listener"
        }
      }
    }
  ])
}

# ---------------------------------------------------------------------------------------------
# Services (private subnets, no public IPs)
# ---------------------------------------------------------------------------------------------

resource "aws_ecs_service" "web" {
  name                              = "web"
  cluster                           = aws_ecs_cluster.main.id
  task_definition                   = aws_ecs_task_definition.web.arn
  desired_count                     = var.web_desired_count
  launch_type                       = "FARGATE"
  platform_version                  = "LATEST"
  health_check_grace_period_seconds = 60
  propagate_tags                    = "SERVICE"

  network_configuration {
    subnets          = local.private_subnet_ids
    security_groups  = [aws_security_group.app.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.web.arn
    container_name   = "web"
    container_port   = 8000
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  depends_on = [aws_lb_listener.https]
}

resource "aws_ecs_service" "worker" {
  name             = "worker"
  cluster          = aws_ecs_cluster.main.id
  task_definition  = aws_ecs_task_definition.worker.arn
  desired_count    = var.worker_desired_count
  launch_type      = "FARGATE"
  platform_version = "LATEST"
  propagate_tags   = "SERVICE"

  network_configuration {
    subnets          = local.private_subnet_ids
    security_groups  = [aws_security_group.app.id]
    assign_public_ip = false
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
}

resource "aws_ecs_service" "listener" {
  name             = "listener"
  cluster          = aws_ecs_cluster.main.id
  task_definition  = aws_ecs_task_definition.listener.arn
  desired_count    = var.listener_desired_count
  launch_type      = "FARGATE"
  platform_version = "LATEST"
  propagate_tags   = "SERVICE"

  network_configuration {
    subnets          = local.private_subnet_ids
    security_groups  = [aws_security_group.app.id]
    assign_public_ip = false
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
}
