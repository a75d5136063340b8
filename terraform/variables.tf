# Input variables. Every variable has a description and a type; validations reject values AWS
# would refuse at apply time (or that would break the app) before anything is created.

# ---------------------------------------------------------------------------------------------
# Naming and region
# ---------------------------------------------------------------------------------------------

variable "project_name" {
  description = "Short project name used as the prefix of every resource name (lowercase letters, digits, hyphens)."
  type        = string
  default     = "hpb"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,19}$", var.project_name))
    error_message = "project_name must be 2-20 characters: lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "environment" {
  description = "Environment name (e.g. prod, staging), part of every resource name."
  type        = string
  default     = "prod"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,9}$", var.environment))
    error_message = "environment must be 2-10 lowercase letters or digits, starting with a letter."
  }
}

variable "aws_region" {
  description = "AWS region to deploy into (also passed to the app as AWS_REGION)."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must look like an AWS region name, e.g. eu-west-1 or us-east-2."
  }
}

variable "tags" {
  description = "Extra tags applied to every resource (merged into the provider's default_tags)."
  type        = map(string)
  default     = {}
}

# ---------------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------------

variable "vpc_cidr" {
  description = "CIDR block of the VPC created by this stack (ignored when existing_vpc_id is set)."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 24
    error_message = "vpc_cidr must be a valid IPv4 CIDR block with a prefix length between /16 and /24."
  }
}

variable "public_subnet_cidrs" {
  description = "Two CIDR blocks (one per availability zone) for the public subnets holding the load balancer and the NAT gateway."
  type        = list(string)
  default     = ["10.40.0.0/24", "10.40.1.0/24"]

  validation {
    condition     = length(var.public_subnet_cidrs) == 2 && alltrue([for c in var.public_subnet_cidrs : can(cidrhost(c, 0))])
    error_message = "public_subnet_cidrs must hold exactly two valid IPv4 CIDR blocks."
  }
}

variable "private_subnet_cidrs" {
  description = "Two CIDR blocks (one per availability zone) for the private subnets holding the ECS tasks and the database."
  type        = list(string)
  default     = ["10.40.10.0/24", "10.40.11.0/24"]

  validation {
    condition     = length(var.private_subnet_cidrs) == 2 && alltrue([for c in var.private_subnet_cidrs : can(cidrhost(c, 0))])
    error_message = "private_subnet_cidrs must hold exactly two valid IPv4 CIDR blocks."
  }
}

variable "availability_zones" {
  description = "The two availability zones (names) of the created subnets. Empty means the region's \"a\" and \"b\" zones (e.g. eu-west-1a, eu-west-1b)."
  type        = list(string)
  default     = []

  validation {
    condition = (
      length(var.availability_zones) == 0
      || (length(var.availability_zones) == 2 && length(distinct(var.availability_zones)) == 2
      && alltrue([for z in var.availability_zones : startswith(z, var.aws_region)]))
    )
    error_message = "availability_zones must be empty or two distinct zone names in aws_region, e.g. [\"eu-west-1a\", \"eu-west-1c\"]."
  }
}

variable "single_nat_gateway" {
  description = "Use one NAT gateway for both private subnets (cheaper) instead of one per availability zone (survives an AZ outage)."
  type        = bool
  default     = true
}

variable "existing_vpc_id" {
  description = "ID of an existing VPC to deploy into instead of creating one. When set, existing_public_subnet_ids and existing_private_subnet_ids are required, and that VPC's routing, NAT and flow logs are its owner's business."
  type        = string
  default     = null

  validation {
    condition     = var.existing_vpc_id == null || can(regex("^vpc-[0-9a-f]{8,17}$", var.existing_vpc_id))
    error_message = "existing_vpc_id must be null or a VPC ID such as vpc-0123456789abcdef0."
  }
}

variable "existing_public_subnet_ids" {
  description = "Public subnet IDs (at least two, in different AZs) of the existing VPC, for the load balancer. Used only with existing_vpc_id."
  type        = list(string)
  default     = []

  validation {
    condition = (
      alltrue([for s in var.existing_public_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
      && (var.existing_vpc_id == null || length(var.existing_public_subnet_ids) >= 2)
    )
    error_message = "existing_public_subnet_ids must hold subnet IDs, at least two when existing_vpc_id is set."
  }
}

variable "existing_private_subnet_ids" {
  description = "Private subnet IDs (at least two, in different AZs, with a route to a NAT gateway) of the existing VPC, for the ECS tasks and the database. Used only with existing_vpc_id."
  type        = list(string)
  default     = []

  validation {
    condition = (
      alltrue([for s in var.existing_private_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
      && (var.existing_vpc_id == null || length(var.existing_private_subnet_ids) >= 2)
    )
    error_message = "existing_private_subnet_ids must hold subnet IDs, at least two when existing_vpc_id is set."
  }
}

# ---------------------------------------------------------------------------------------------
# Public endpoint (load balancer) and browser origins
# ---------------------------------------------------------------------------------------------

variable "api_domain_name" {
  description = "Host name the API is served under (e.g. api.hpb.example.org). It goes into DJANGO_ALLOWED_HOSTS and DJANGO_CSRF_TRUSTED_ORIGINS; point a DNS record at the alb_dns_name output."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.api_domain_name))
    error_message = "api_domain_name must be a lowercase DNS host name such as api.hpb.example.org."
  }
}

variable "extra_allowed_hosts" {
  description = "Additional host names appended to DJANGO_ALLOWED_HOSTS (e.g. a second domain)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for h in var.extra_allowed_hosts : can(regex("^\\.?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", h))])
    error_message = "extra_allowed_hosts must hold lowercase DNS host names (a leading dot is allowed for subdomains)."
  }
}

variable "certificate_arn" {
  description = "ARN of the ACM certificate (in aws_region) for api_domain_name, used by the HTTPS listener."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]+$", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID)."
  }
}

variable "viewer_origins" {
  description = "Origins of the React viewer (scheme://host[:port], no path), allowed by CORS on the API (CORS_ORIGINS) and on the documents, assets and viewer buckets."
  type        = list(string)

  validation {
    condition     = length(var.viewer_origins) > 0 && alltrue([for o in var.viewer_origins : can(regex("^https?://[a-z0-9.-]+(:[0-9]{1,5})?$", o))])
    error_message = "viewer_origins must hold at least one origin like https://viewer.example.org (no trailing slash, no path)."
  }
}

variable "upload_cors_origins" {
  description = "Origins allowed to PUT presigned uploads straight into the uploads bucket from a browser. Empty (the default) means no CORS on the uploads bucket."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for o in var.upload_cors_origins : can(regex("^https://[a-z0-9.-]+(:[0-9]{1,5})?$", o))])
    error_message = "upload_cors_origins must hold HTTPS origins like https://viewer.example.org."
  }
}

variable "alb_ingress_cidrs" {
  description = "IPv4 CIDR blocks allowed to reach the load balancer on ports 80 (redirect only) and 443."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.alb_ingress_cidrs) > 0 && alltrue([for c in var.alb_ingress_cidrs : can(cidrhost(c, 0))])
    error_message = "alb_ingress_cidrs must hold at least one valid IPv4 CIDR block."
  }
}

variable "alb_deletion_protection" {
  description = "Enable deletion protection on the load balancer (turn off before a deliberate terraform destroy)."
  type        = bool
  default     = true
}

variable "alb_idle_timeout_seconds" {
  description = "Load balancer idle timeout; long enough for an admin upload of a DICOM zip over a slow link."
  type        = number
  default     = 300

  validation {
    condition     = var.alb_idle_timeout_seconds >= 1 && var.alb_idle_timeout_seconds <= 4000
    error_message = "alb_idle_timeout_seconds must be between 1 and 4000."
  }
}

# ---------------------------------------------------------------------------------------------
# Container image and ECS services
# ---------------------------------------------------------------------------------------------

variable "image" {
  description = "Container image (with tag or digest) run by the web, worker and listener services, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/hpb:1.0.0. When it is an ECR image, the execution role may pull from that repository only."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._/:-]*[a-z0-9](:[A-Za-z0-9._-]{1,128}|@sha256:[0-9a-f]{64})$", var.image))
    error_message = "image must be a container image reference with an explicit tag or digest (no implicit :latest)."
  }
}

variable "cpu_architecture" {
  description = "CPU architecture of the image: X86_64 or ARM64 (Graviton, about 20% cheaper, if the image is built for arm64)."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "web_cpu" {
  description = "Fargate CPU units for a web task (256 = 0.25 vCPU)."
  type        = number
  default     = 512

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096], var.web_cpu)
    error_message = "web_cpu must be one of 256, 512, 1024, 2048, 4096."
  }
}

variable "web_memory" {
  description = "Fargate memory (MiB) for a web task; must be a valid combination with web_cpu."
  type        = number
  default     = 1024

  validation {
    condition = (
      (var.web_cpu == 256 && contains([512, 1024, 2048], var.web_memory))
      || (var.web_cpu == 512 && var.web_memory >= 1024 && var.web_memory <= 4096 && var.web_memory % 1024 == 0)
      || (var.web_cpu == 1024 && var.web_memory >= 2048 && var.web_memory <= 8192 && var.web_memory % 1024 == 0)
      || (var.web_cpu == 2048 && var.web_memory >= 4096 && var.web_memory <= 16384 && var.web_memory % 1024 == 0)
      || (var.web_cpu == 4096 && var.web_memory >= 8192 && var.web_memory <= 30720 && var.web_memory % 1024 == 0)
    )
    error_message = "web_memory is not a valid Fargate memory size for web_cpu (see the Fargate task size table)."
  }
}

variable "web_desired_count" {
  description = "Number of web tasks (2 keeps the API up during a deployment or an AZ outage)."
  type        = number
  default     = 1

  validation {
    condition     = var.web_desired_count >= 0 && var.web_desired_count <= 20 && floor(var.web_desired_count) == var.web_desired_count
    error_message = "web_desired_count must be a whole number between 0 and 20."
  }
}

variable "gunicorn_workers" {
  description = "Gunicorn worker processes per web task (--workers)."
  type        = number
  default     = 2

  validation {
    condition     = var.gunicorn_workers >= 1 && var.gunicorn_workers <= 16 && floor(var.gunicorn_workers) == var.gunicorn_workers
    error_message = "gunicorn_workers must be a whole number between 1 and 16."
  }
}

variable "worker_cpu" {
  description = "Fargate CPU units for a Celery worker task (DICOM to VTK conversion)."
  type        = number
  default     = 1024

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096], var.worker_cpu)
    error_message = "worker_cpu must be one of 256, 512, 1024, 2048, 4096."
  }
}

variable "worker_memory" {
  description = "Fargate memory (MiB) for a Celery worker task; a CT series and its meshes are held in memory during conversion."
  type        = number
  default     = 4096

  validation {
    condition = (
      (var.worker_cpu == 256 && contains([512, 1024, 2048], var.worker_memory))
      || (var.worker_cpu == 512 && var.worker_memory >= 1024 && var.worker_memory <= 4096 && var.worker_memory % 1024 == 0)
      || (var.worker_cpu == 1024 && var.worker_memory >= 2048 && var.worker_memory <= 8192 && var.worker_memory % 1024 == 0)
      || (var.worker_cpu == 2048 && var.worker_memory >= 4096 && var.worker_memory <= 16384 && var.worker_memory % 1024 == 0)
      || (var.worker_cpu == 4096 && var.worker_memory >= 8192 && var.worker_memory <= 30720 && var.worker_memory % 1024 == 0)
    )
    error_message = "worker_memory is not a valid Fargate memory size for worker_cpu (see the Fargate task size table)."
  }
}

variable "worker_desired_count" {
  description = "Number of Celery worker tasks."
  type        = number
  default     = 1

  validation {
    condition     = var.worker_desired_count >= 0 && var.worker_desired_count <= 20 && floor(var.worker_desired_count) == var.worker_desired_count
    error_message = "worker_desired_count must be a whole number between 0 and 20."
  }
}

variable "celery_concurrency" {
  description = "Celery worker processes per worker task (--concurrency); each conversion holds a whole series in memory."
  type        = number
  default     = 1

  validation {
    condition     = var.celery_concurrency >= 1 && var.celery_concurrency <= 16 && floor(var.celery_concurrency) == var.celery_concurrency
    error_message = "celery_concurrency must be a whole number between 1 and 16."
  }
}

variable "worker_ephemeral_storage_gib" {
  description = "Ephemeral storage (GiB) of a worker task; the scratch volume mounted at /tmp lives on it (raw series, intermediate files)."
  type        = number
  default     = 30

  validation {
    condition     = var.worker_ephemeral_storage_gib >= 21 && var.worker_ephemeral_storage_gib <= 200 && floor(var.worker_ephemeral_storage_gib) == var.worker_ephemeral_storage_gib
    error_message = "worker_ephemeral_storage_gib must be a whole number between 21 and 200 (Fargate limits)."
  }
}

variable "listener_cpu" {
  description = "Fargate CPU units for the ingest listener task."
  type        = number
  default     = 256

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096], var.listener_cpu)
    error_message = "listener_cpu must be one of 256, 512, 1024, 2048, 4096."
  }
}

variable "listener_memory" {
  description = "Fargate memory (MiB) for the ingest listener task."
  type        = number
  default     = 512

  validation {
    condition = (
      (var.listener_cpu == 256 && contains([512, 1024, 2048], var.listener_memory))
      || (var.listener_cpu == 512 && var.listener_memory >= 1024 && var.listener_memory <= 4096 && var.listener_memory % 1024 == 0)
      || (var.listener_cpu == 1024 && var.listener_memory >= 2048 && var.listener_memory <= 8192 && var.listener_memory % 1024 == 0)
      || (var.listener_cpu == 2048 && var.listener_memory >= 4096 && var.listener_memory <= 16384 && var.listener_memory % 1024 == 0)
      || (var.listener_cpu == 4096 && var.listener_memory >= 8192 && var.listener_memory <= 30720 && var.listener_memory % 1024 == 0)
    )
    error_message = "listener_memory is not a valid Fargate memory size for listener_cpu (see the Fargate task size table)."
  }
}

variable "listener_desired_count" {
  description = "Number of ingest listener tasks (one is enough; 0 disables S3-event ingestion)."
  type        = number
  default     = 1

  validation {
    condition     = var.listener_desired_count >= 0 && var.listener_desired_count <= 4 && floor(var.listener_desired_count) == var.listener_desired_count
    error_message = "listener_desired_count must be a whole number between 0 and 4."
  }
}

# ---------------------------------------------------------------------------------------------
# Application settings passed to every container
# ---------------------------------------------------------------------------------------------

variable "conversion_time_limit_seconds" {
  description = "Hard time limit of one DICOM conversion task (CONVERSION_TIME_LIMIT_SECONDS). The Celery broker queue's visibility timeout is this plus broker_visibility_margin_seconds, so a running task is never handed to a second worker."
  type        = number
  default     = 1800

  validation {
    condition     = var.conversion_time_limit_seconds >= 60 && floor(var.conversion_time_limit_seconds) == var.conversion_time_limit_seconds
    error_message = "conversion_time_limit_seconds must be a whole number of at least 60."
  }

  validation {
    condition     = var.conversion_time_limit_seconds + var.broker_visibility_margin_seconds <= 43200
    error_message = "conversion_time_limit_seconds + broker_visibility_margin_seconds must not exceed 43200 (the SQS visibility timeout maximum, 12 hours)."
  }
}

variable "broker_visibility_margin_seconds" {
  description = "Seconds added to conversion_time_limit_seconds to get the broker queue's visibility timeout (time for the hard kill, cleanup and the ack)."
  type        = number
  default     = 300

  validation {
    condition     = var.broker_visibility_margin_seconds >= 60 && floor(var.broker_visibility_margin_seconds) == var.broker_visibility_margin_seconds
    error_message = "broker_visibility_margin_seconds must be a whole number of at least 60."
  }
}

variable "storage_url_expiry_seconds" {
  description = "Lifetime of the presigned URLs the API hands out (STORAGE_URL_EXPIRY_SECONDS)."
  type        = number
  default     = 900

  validation {
    condition     = var.storage_url_expiry_seconds >= 60 && var.storage_url_expiry_seconds <= 43200
    error_message = "storage_url_expiry_seconds must be between 60 and 43200 (task-role credentials cap presigned URL lifetime anyway)."
  }
}

variable "feature_flag_lightweight_mode" {
  description = "Start the API in lightweight mode (FEATURE_FLAG_LIGHTWEIGHT_MODE): only cases marked lightweight, no large assets."
  type        = bool
  default     = false
}

variable "log_level" {
  description = "Application log level (LOG_LEVEL)."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], var.log_level)
    error_message = "log_level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL."
  }
}

# ---------------------------------------------------------------------------------------------
# Storage (S3)
# ---------------------------------------------------------------------------------------------

variable "uploads_expiry_days" {
  description = "Days after which raw uploads (DICOM as it arrived) expire from the uploads bucket. Derived volumes and meshes in the assets bucket are kept."
  type        = number
  default     = 90

  validation {
    condition     = var.uploads_expiry_days > 0 && floor(var.uploads_expiry_days) == var.uploads_expiry_days
    error_message = "uploads_expiry_days must be a whole number greater than 0."
  }
}

variable "noncurrent_version_expiry_days" {
  description = "Days a replaced or deleted object version is kept in the documents, assets and uploads buckets before it is removed."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiry_days > 0 && floor(var.noncurrent_version_expiry_days) == var.noncurrent_version_expiry_days
    error_message = "noncurrent_version_expiry_days must be a whole number greater than 0."
  }
}

variable "access_log_expiry_days" {
  description = "Days the S3, load balancer and VPC flow logs are kept in the log bucket."
  type        = number
  default     = 365

  validation {
    condition     = var.access_log_expiry_days > 0 && floor(var.access_log_expiry_days) == var.access_log_expiry_days
    error_message = "access_log_expiry_days must be a whole number greater than 0."
  }
}

# ---------------------------------------------------------------------------------------------
# Queues (SQS)
# ---------------------------------------------------------------------------------------------

variable "ingest_max_receive_count" {
  description = "Receives of an S3 event message by the ingest listener before it moves to the ingest dead-letter queue."
  type        = number
  default     = 5

  validation {
    condition     = var.ingest_max_receive_count >= 1 && var.ingest_max_receive_count <= 1000 && floor(var.ingest_max_receive_count) == var.ingest_max_receive_count
    error_message = "ingest_max_receive_count must be a whole number between 1 and 1000."
  }
}

variable "ingest_visibility_timeout_seconds" {
  description = "Visibility timeout of the ingest queue: the listener only turns an event into a job, so this is short."
  type        = number
  default     = 120

  validation {
    condition     = var.ingest_visibility_timeout_seconds >= 30 && var.ingest_visibility_timeout_seconds <= 43200
    error_message = "ingest_visibility_timeout_seconds must be between 30 and 43200."
  }
}

variable "broker_max_receive_count" {
  description = "Deliveries of a Celery task message before it moves to the broker dead-letter queue (a task whose worker died repeatedly)."
  type        = number
  default     = 3

  validation {
    condition     = var.broker_max_receive_count >= 1 && var.broker_max_receive_count <= 1000 && floor(var.broker_max_receive_count) == var.broker_max_receive_count
    error_message = "broker_max_receive_count must be a whole number between 1 and 1000."
  }
}

variable "queue_message_retention_seconds" {
  description = "How long messages stay in the ingest and broker queues (dead-letter queues keep them 14 days)."
  type        = number
  default     = 345600

  validation {
    condition     = var.queue_message_retention_seconds >= 60 && var.queue_message_retention_seconds <= 1209600
    error_message = "queue_message_retention_seconds must be between 60 and 1209600 (14 days)."
  }
}

# ---------------------------------------------------------------------------------------------
# Database (RDS PostgreSQL 16)
# ---------------------------------------------------------------------------------------------

variable "db_instance_class" {
  description = "RDS instance class (Graviton burstable classes are the cheapest that run PostgreSQL 16)."
  type        = string
  default     = "db.t4g.micro"

  validation {
    condition = contains([
      "db.t4g.micro", "db.t4g.small", "db.t4g.medium", "db.t4g.large",
      "db.t3.micro", "db.t3.small", "db.t3.medium", "db.t3.large",
      "db.m7g.large", "db.m7g.xlarge", "db.m6g.large", "db.m6g.xlarge",
      "db.r7g.large", "db.r6g.large",
    ], var.db_instance_class)
    error_message = "db_instance_class must be one of the listed burstable, general-purpose or memory-optimised classes."
  }
}

variable "db_engine_version" {
  description = "PostgreSQL engine version: the major version 16 (RDS picks the default minor and upgrades minors automatically) or a pinned 16.x."
  type        = string
  default     = "16"

  validation {
    condition     = can(regex("^16(\\.[0-9]+)?$", var.db_engine_version))
    error_message = "db_engine_version must be 16 or 16.x (the parameter group family is postgres16)."
  }
}

variable "db_allocated_storage_gib" {
  description = "Initial gp3 storage of the database (GiB)."
  type        = number
  default     = 20

  validation {
    condition     = var.db_allocated_storage_gib >= 20 && var.db_allocated_storage_gib <= 65536
    error_message = "db_allocated_storage_gib must be between 20 and 65536."
  }
}

variable "db_max_allocated_storage_gib" {
  description = "Upper bound for storage autoscaling (GiB); must be at least db_allocated_storage_gib."
  type        = number
  default     = 100

  validation {
    condition     = var.db_max_allocated_storage_gib >= var.db_allocated_storage_gib && var.db_max_allocated_storage_gib <= 65536
    error_message = "db_max_allocated_storage_gib must be between db_allocated_storage_gib and 65536."
  }
}

variable "db_name" {
  description = "Name of the application database (DATABASE_NAME)."
  type        = string
  default     = "hpb"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.db_name))
    error_message = "db_name must start with a lowercase letter and contain only lowercase letters, digits and underscores (max 63)."
  }
}

variable "db_username" {
  description = "Master user name of the database (DATABASE_USER). Its password is generated by RDS and kept in Secrets Manager; there is no password variable."
  type        = string
  default     = "hpb_admin"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.db_username)) && !contains(["admin", "postgres", "rdsadmin", "root"], var.db_username)
    error_message = "db_username must start with a lowercase letter, contain only lowercase letters, digits and underscores, and not be a reserved name."
  }
}

variable "db_backup_retention_days" {
  description = "Days of automated RDS backups (point-in-time recovery window)."
  type        = number
  default     = 7

  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 35 && floor(var.db_backup_retention_days) == var.db_backup_retention_days
    error_message = "db_backup_retention_days must be a whole number between 1 and 35."
  }
}

variable "db_password_rotation_days" {
  description = "Days between rotations of the RDS-managed master password. After each rotation the services are redeployed automatically (redeploy.tf) so new tasks read the new password."
  type        = number
  default     = 30

  validation {
    condition     = var.db_password_rotation_days >= 1 && var.db_password_rotation_days <= 365 && floor(var.db_password_rotation_days) == var.db_password_rotation_days
    error_message = "db_password_rotation_days must be a whole number between 1 and 365."
  }
}

variable "db_multi_az" {
  description = "Run the database as a Multi-AZ deployment (a standby in a second AZ; doubles the database cost)."
  type        = bool
  default     = false
}

variable "db_slow_query_ms" {
  description = "Log statements slower than this many ms (log_min_duration_statement); -1 (the default) logs none. The logged text includes literal values, which may be patient identifiers: enable only for a tuning session."
  type        = number
  default     = -1

  validation {
    condition     = var.db_slow_query_ms >= -1 && floor(var.db_slow_query_ms) == var.db_slow_query_ms
    error_message = "db_slow_query_ms must be -1 (off) or a whole number of milliseconds."
  }
}

# ---------------------------------------------------------------------------------------------
# Logs
# ---------------------------------------------------------------------------------------------

variable "log_retention_days" {
  description = "Retention of the CloudWatch log groups (ECS services, RDS)."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "viewer_bundle_prefix" {
  description = "Folder of the viewer bucket holding one folder per published case (VIEWER_BUNDLE_PREFIX); the viewer's VITE_CASE_ASSET_BASE_URL ends in it. Only this prefix is public."
  type        = string
  default     = "liverCases"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$", var.viewer_bundle_prefix))
    error_message = "viewer_bundle_prefix must be one folder name: letters, digits, dot, dash or underscore."
  }
}

variable "viewer_bundle_volume" {
  description = "Volume level the viewer bundles carry (VIEWER_BUNDLE_VOLUME): full, or preview (half resolution, a fast first view)."
  type        = string
  default     = "full"

  validation {
    condition     = contains(["full", "preview"], var.viewer_bundle_volume)
    error_message = "viewer_bundle_volume must be full or preview."
  }
}
