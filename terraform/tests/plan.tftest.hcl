# `terraform test` with a mocked AWS provider: no credentials, no AWS calls (the providers must be
# installed: terraform init). Checks what the static checks cannot: the variable validations
# reject bad input, and the computed wiring (visibility timeout, ECR repository ARN, existing-VPC
# mode, secrets in the container definitions) evaluates as intended.
#
#   cd terraform && terraform init -backend=false && terraform test

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_availability_zones" {
    defaults = { names = ["eu-west-1a", "eu-west-1b"] }
  }
  mock_data "aws_elb_service_account" {
    defaults = { arn = "arn:aws:iam::156460612806:root" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{}" }
  }
  mock_resource "aws_db_instance" {
    defaults = {
      address            = "hpb-prod-db.abc.eu-west-1.rds.amazonaws.com"
      port               = 5432
      master_user_secret = [{ secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1-AbCdEf", kms_key_id = "k", secret_status = "active" }]
    }
  }
  mock_resource "aws_sqs_queue" {
    defaults = {
      arn = "arn:aws:sqs:eu-west-1:123456789012:q"
      url = "https://sqs.eu-west-1.amazonaws.com/123456789012/q"
    }
  }
  mock_resource "aws_sfn_state_machine" {
    defaults = { arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:x" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:123456789012:key/1" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/r" }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:s" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::b" }
  }
  mock_resource "aws_ecs_task_definition" {
    defaults = { arn = "arn:aws:ecs:eu-west-1:123456789012:task-definition/x:1" }
  }
  mock_resource "aws_lb_target_group" {
    defaults = { arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/x/1" }
  }
  mock_resource "aws_lb" {
    defaults = { arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/x/1" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:x" }
  }
}

variables {
  image           = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/hpb:1.0.0"
  certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/0b1c2d3e-aaaa-bbbb-cccc-123456789012"
  api_domain_name = "api.hpb.example.org"
  viewer_origins  = ["https://viewer.hpb.example.org"]
}

run "defaults" {
  command = apply

  assert {
    condition     = aws_sqs_queue.celery.visibility_timeout_seconds == 2100
    error_message = "visibility"
  }
  assert {
    condition     = local.ecr_repository_arn == "arn:aws:ecr:eu-west-1:123456789012:repository/hpb"
    error_message = "ecr arn ${coalesce(local.ecr_repository_arn, "null")}"
  }
  assert {
    condition     = length(aws_subnet.private) == 2 && length(aws_nat_gateway.main) == 1
    error_message = "subnets"
  }
  assert {
    condition     = output.django_allowed_hosts == "api.hpb.example.org"
    error_message = "hosts"
  }
  assert {
    condition     = join(",", local.availability_zones) == "eu-west-1a,eu-west-1b"
    error_message = "azs"
  }
  assert {
    condition     = output.app_environment.FEATURE_FLAG_LIGHTWEIGHT_MODE == "false"
    error_message = "flag"
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.web.container_definitions)[0].secrets[2].valueFrom == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1-AbCdEf:password::"
    error_message = "secrets"
  }
}

run "rotation_redeploys_all_services" {
  command = apply

  assert {
    condition     = join(",", jsondecode(aws_cloudwatch_event_target.redeploy.input).services) == "web,worker,listener"
    error_message = "The redeploy target must list the three services."
  }
  assert {
    condition     = jsondecode(aws_cloudwatch_event_rule.db_password_rotated.event_pattern).resources[0] == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1-AbCdEf"
    error_message = "The rotation rule must watch the RDS-managed secret."
  }
  assert {
    condition     = aws_secretsmanager_secret_rotation.db_master.rotation_rules[0].automatically_after_days == 30
    error_message = "Rotation period."
  }
}

run "bad_slow_query_ms" {
  command = plan
  variables {
    db_slow_query_ms = -5
  }
  expect_failures = [var.db_slow_query_ms]
}

run "non_ecr_image_existing_vpc" {
  command = plan
  variables {
    image                       = "ghcr.io/example/hpb@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    existing_vpc_id             = "vpc-0123456789abcdef0"
    existing_public_subnet_ids  = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
    existing_private_subnet_ids = ["subnet-0123456789abcdef2", "subnet-0123456789abcdef3"]
    single_nat_gateway          = false
  }
  assert {
    condition     = local.ecr_repository_arn == null
    error_message = "ecr"
  }
  assert {
    condition     = length(aws_subnet.private) == 0 && length(aws_nat_gateway.main) == 0 && length(aws_flow_log.main) == 0
    error_message = "no vpc"
  }
  assert {
    condition     = join(",", output.private_subnet_ids) == "subnet-0123456789abcdef2,subnet-0123456789abcdef3"
    error_message = "subnet ids"
  }
}

run "two_nats" {
  command = plan
  variables {
    single_nat_gateway = false
    availability_zones = ["eu-west-1a", "eu-west-1c"]
  }
  assert {
    condition     = length(aws_nat_gateway.main) == 2
    error_message = "nat"
  }
}

run "bad_visibility" {
  command = plan
  variables {
    conversion_time_limit_seconds = 43000
  }
  expect_failures = [var.conversion_time_limit_seconds]
}

run "bad_memory" {
  command = plan
  variables {
    worker_cpu    = 256
    worker_memory = 4096
  }
  expect_failures = [var.worker_memory]
}

run "bad_image" {
  command = plan
  variables {
    image = "hpb"
  }
  expect_failures = [var.image]
}

run "bad_existing_vpc" {
  command = plan
  variables {
    existing_vpc_id = "vpc-0123456789abcdef0"
  }
  expect_failures = [var.existing_public_subnet_ids, var.existing_private_subnet_ids]
}

run "bad_region_azs" {
  command = plan
  variables {
    availability_zones = ["us-east-1a", "us-east-1b"]
  }
  expect_failures = [var.availability_zones]
}

run "bad_storage" {
  command = plan
  variables {
    db_allocated_storage_gib     = 200
    db_max_allocated_storage_gib = 100
  }
  expect_failures = [var.db_max_allocated_storage_gib]
}
