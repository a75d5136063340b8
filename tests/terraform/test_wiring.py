"""Wiring checks for the Terraform stack in ``terraform/``, read with python-hcl2.

checkov looks at each resource against generic rules; these tests check what is specific to this
stack: the uploads bucket notifies the ingest queue and the queue lets it, every working queue has
a dead-letter queue, the broker queue outlives a conversion, every bucket is encrypted, versioned,
private and TLS-only, the database is private and encrypted with an RDS-managed password, no IAM
policy grants "*" where a narrower grant serves, each service role only reaches its own buckets and
queues, and an output exists for every setting the app reads.

Every check is a function returning a list of problems. Each is run against the real stack
(expecting none) and against one-line mutations of it (expecting the named problem), so a check
that silently stopped checking would fail. No Django, no database: plain functions, no fixtures.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
import pytest

TERRAFORM_DIR = Path(__file__).resolve().parents[2] / "terraform"

# ---------------------------------------------------------------------------------------------
# The app's settings: environment variable -> the output carrying it (secrets: the ARN output).
# ---------------------------------------------------------------------------------------------

PLAIN_SETTINGS = {
    "DJANGO_SETTINGS_MODULE": "django_settings_module",
    "DJANGO_ALLOWED_HOSTS": "django_allowed_hosts",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "django_csrf_trusted_origins",
    "DATABASE_HOST": "database_host",
    "DATABASE_PORT": "database_port",
    "DATABASE_NAME": "database_name",
    "AWS_REGION": "aws_region",
    "S3_DOCUMENTS_BUCKET": "s3_documents_bucket",
    "S3_ASSETS_BUCKET": "s3_assets_bucket",
    "S3_UPLOADS_BUCKET": "s3_uploads_bucket",
    "S3_VIEWER_BUCKET": "s3_viewer_bucket",
    "VIEWER_BUNDLE_PREFIX": "viewer_bundle_prefix",
    "VIEWER_BUNDLE_VOLUME": "viewer_bundle_volume",
    "STORAGE_URL_EXPIRY_SECONDS": "storage_url_expiry_seconds",
    "CELERY_BROKER_URL": "celery_broker_url",
    "CELERY_SQS_QUEUE_NAME": "celery_sqs_queue_name",
    "CELERY_SQS_QUEUE_URL": "celery_sqs_queue_url",
    "INGEST_QUEUE_URL": "ingest_queue_url",
    "CONVERSION_TIME_LIMIT_SECONDS": "conversion_time_limit_seconds",
    "FEATURE_FLAG_LIGHTWEIGHT_MODE": "feature_flag_lightweight_mode",
    "CORS_ORIGINS": "cors_origins",
    "LOG_FORMAT": "log_format",
    "LOG_LEVEL": "log_level",
}

# Secrets reach the containers through ECS `secrets` (valueFrom); outputs carry only the ARNs.
SECRET_SETTINGS = {
    "DJANGO_SECRET_KEY": ("django_secret_key_secret_arn", "aws_secretsmanager_secret.django_secret_key.arn"),
    "DATABASE_USER": ("database_credentials_secret_arn", "local.db_master_secret_arn:username::"),
    "DATABASE_PASSWORD": ("database_credentials_secret_arn", "local.db_master_secret_arn:password::"),
}

# ---------------------------------------------------------------------------------------------
# Documented exceptions to "no * in IAM policies": (policy document, statement sid) -> reason.
# ---------------------------------------------------------------------------------------------

WILDCARD_RESOURCE_ALLOWED = {
    ("kms", "EnableIAMPolicies"): "in a key policy, Resource '*' is the key itself (AWS default key policy)",
    (
        "kms",
        "AllowCloudWatchLogs",
    ): "in a key policy, Resource '*' is the key itself; encryption context scoped",
    ("execution", "EcrLogin"): "ecr:GetAuthorizationToken does not support resource-level permissions",
    ("redeploy", "StepFunctionsLogDelivery"): "CloudWatch Logs delivery actions have no resource-level scope",
    ("redeploy", "XRayTracing"): "X-Ray PutTraceSegments/PutTelemetryRecords have no resource-level scope",
}
WILDCARD_ACTION_ALLOWED = {
    ("kms", "EnableIAMPolicies"): "kms:* for the account root is AWS's default key policy (delegates to IAM)",
}

# What each service's task role may do: resource reference -> allowed actions. Anything else in
# the role's policy document is a problem, and so is a missing grant the service needs.
TASK_ROLE_GRANTS = {
    "web": {
        "aws_s3_bucket.documents.arn/*": {"s3:GetObject", "s3:PutObject"},
        "aws_s3_bucket.assets.arn/*": {"s3:GetObject"},
        "aws_s3_bucket.uploads.arn/*": {"s3:PutObject"},
        "aws_s3_bucket.documents.arn": {"s3:ListBucket"},
        "aws_s3_bucket.assets.arn": {"s3:ListBucket"},
        "aws_s3_bucket.viewer.arn/*": {"s3:GetObject"},
        "aws_s3_bucket.viewer.arn": {"s3:ListBucket"},
        "aws_kms_key.main.arn": {"kms:Decrypt", "kms:GenerateDataKey"},
        "aws_sqs_queue.celery.arn": {"sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"},
    },
    "worker": {
        "aws_s3_bucket.uploads.arn/*": {"s3:GetObject"},
        "aws_s3_bucket.documents.arn/*": {"s3:GetObject"},
        "aws_s3_bucket.assets.arn/*": {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"},
        "aws_s3_bucket.viewer.arn/*": {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"},
        "aws_s3_bucket.uploads.arn": {"s3:ListBucket"},
        "aws_s3_bucket.documents.arn": {"s3:ListBucket"},
        "aws_s3_bucket.assets.arn": {"s3:ListBucket"},
        "aws_s3_bucket.viewer.arn": {"s3:ListBucket"},
        "aws_kms_key.main.arn": {"kms:Decrypt", "kms:GenerateDataKey"},
        "aws_sqs_queue.celery.arn": {
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:ChangeMessageVisibility",
            "sqs:SendMessage",
            "sqs:GetQueueUrl",
            "sqs:GetQueueAttributes",
        },
    },
    "listener": {
        "aws_sqs_queue.ingest.arn": {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"},
        "aws_sqs_queue.celery.arn": {"sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"},
    },
}

# ---------------------------------------------------------------------------------------------
# Parsing: python-hcl2 keeps the quotes of string literals and wraps expressions in ${...}.
# norm() turns "\"text\"" into "text" and "${a.b.c}" into "a.b.c"; labels lose their quotes.
# ---------------------------------------------------------------------------------------------

_META_KEYS = {"__is_block__", "__comments__"}


def norm(value: Any) -> Any:
    """Strip python-hcl2's quoting: literals lose their quotes, bare expressions their ${}."""
    if isinstance(value, str):
        if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
            return value[1:-1].replace('\\"', '"')
        if value.startswith("${") and value.endswith("}") and _balanced(value[2:-1]):
            return value[2:-1]
        return value
    if isinstance(value, list):
        return [norm(v) for v in value]
    if isinstance(value, dict):
        return {norm(k): norm(v) for k, v in value.items() if k not in _META_KEYS}
    return value


def _balanced(inner: str) -> bool:
    """True when ``inner`` has no unmatched braces (so "${a}-${b}" is not taken for one expression)."""
    depth = 0
    for char in inner:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def ref(value: Any) -> str:
    """A reference written as "${x.y}" or "x.y" (or a quoted "${x.y}/*"), as "x.y" or "x.y/*"."""
    text = norm(value) if isinstance(value, str) else str(value)
    return re.sub(r"\$\{([^}]*)\}", r"\1", text)


@dataclass
class Stack:
    """The parts of a Terraform configuration the checks look at, keyed by type and name."""

    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    data: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {name: body for (rtype, name), body in self.resources.items() if rtype == resource_type}

    def resource(self, address: str) -> dict[str, Any] | None:
        rtype, _, name = address.partition(".")
        return self.resources.get((rtype, name))

    def policy_document(self, reference: str) -> tuple[str, dict[str, Any]] | None:
        """The aws_iam_policy_document a reference like data.aws_iam_policy_document.x.json points at."""
        match = re.fullmatch(r"data\.aws_iam_policy_document\.(\w+)\.(json|minified_json)", ref(reference))
        if not match:
            return None
        body = self.data.get(("aws_iam_policy_document", match.group(1)))
        return (match.group(1), body) if body is not None else None


@functools.lru_cache(maxsize=64)
def _parse_hcl(source: str) -> dict[str, Any]:
    """hcl2.loads, cached: the mutation tests reparse the same unchanged files many times."""
    return hcl2.loads(source)


def _labelled(document: dict[str, Any], kind: str) -> Iterator[tuple[tuple[str, str], Any]]:
    """((type, name), body) of every `kind "type" "name" {...}` block (resources, data sources)."""
    for block in document.get(kind, []):
        for block_type, named in block.items():
            for name, body in named.items():
                yield (norm(block_type), norm(name)), norm(body)


def _named(document: dict[str, Any], kind: str) -> Iterator[tuple[str, Any]]:
    """(name, body) of every `kind "name" {...}` block (variables, outputs)."""
    for block in document.get(kind, []):
        for name, body in block.items():
            yield norm(name), norm(body)


def parse_stack(sources: Iterable[str]) -> Stack:
    """Merge several HCL sources (the contents of .tf files) into one Stack."""
    stack = Stack()
    for source in sources:
        document = _parse_hcl(source)
        stack.resources.update(_labelled(document, "resource"))
        stack.data.update(_labelled(document, "data"))
        stack.variables.update(_named(document, "variable"))
        stack.outputs.update(_named(document, "output"))
        for block in document.get("locals", []):
            stack.locals.update(norm(block))
    return stack


def load_stack(directory: Path = TERRAFORM_DIR) -> Stack:
    files = sorted(directory.glob("*.tf"))
    assert files, f"no .tf files in {directory}"
    return parse_stack(path.read_text() for path in files)


def first_block(body: dict[str, Any], name: str) -> dict[str, Any]:
    blocks = body.get(name) or [{}]
    return blocks[0] if isinstance(blocks, list) else blocks


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def statements(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Statement blocks of an aws_iam_policy_document, including dynamic "statement" contents."""
    yield from as_list(document.get("statement"))
    for dynamic in as_list(document.get("dynamic")):
        for label, body in dynamic.items():
            if label == "statement":
                yield from as_list(body.get("content"))


def resource_for_bucket(stack: Stack, resource_type: str, bucket: str) -> dict[str, Any] | None:
    """The resource of ``resource_type`` whose ``bucket`` argument is aws_s3_bucket.<bucket>."""
    for body in stack.of_type(resource_type).values():
        if ref(body.get("bucket", "")) in {f"aws_s3_bucket.{bucket}.id", f"aws_s3_bucket.{bucket}.bucket"}:
            return body
    return None


def evaluate_number(expression: Any, stack: Stack, depth: int = 0) -> float:
    """Evaluate a sum of numbers, var.x (its default) and local.y, e.g. "var.a + var.b"."""
    if isinstance(expression, int | float) and not isinstance(expression, bool):
        return expression
    if depth > 10:
        raise ValueError(f"reference loop at {expression!r}")
    total = 0.0
    for term in str(ref(expression)).split("+"):
        term = term.strip()
        if re.fullmatch(r"\d+(\.\d+)?", term):
            total += float(term)
        elif match := re.fullmatch(r"var\.(\w+)", term):
            total += evaluate_number(stack.variables[match.group(1)]["default"], stack, depth + 1)
        elif match := re.fullmatch(r"local\.(\w+)", term):
            total += evaluate_number(stack.locals[match.group(1)], stack, depth + 1)
        else:
            raise ValueError(f"cannot evaluate {term!r}")
    return total


# ---------------------------------------------------------------------------------------------
# Checks: each returns a list of problems (empty = fine).
# ---------------------------------------------------------------------------------------------


def check_uploads_notification(stack: Stack) -> list[str]:
    """The uploads bucket notifies the ingest queue of ObjectCreated under uploads/, after its policy."""
    notification = resource_for_bucket(stack, "aws_s3_bucket_notification", "uploads")
    if notification is None:
        return ["no aws_s3_bucket_notification for aws_s3_bucket.uploads"]
    queues = as_list(notification.get("queue"))
    targeting = [q for q in queues if ref(q.get("queue_arn", "")) == "aws_sqs_queue.ingest.arn"]
    if not targeting:
        return ["the uploads notification has no queue block targeting aws_sqs_queue.ingest.arn"]
    problems = []
    for queue in targeting:
        events = as_list(queue.get("events"))
        if not any(e in {"s3:ObjectCreated:*", "s3:ObjectCreated:Put"} for e in events):
            problems.append(f"the ingest notification does not fire on ObjectCreated (events {events})")
        if queue.get("filter_prefix") != "uploads/":
            problems.append(f"the ingest notification prefix is {queue.get('filter_prefix')!r}, not 'uploads/'")
    if "aws_sqs_queue_policy.ingest" not in {ref(d) for d in as_list(notification.get("depends_on"))}:
        problems.append("the uploads notification must depend on aws_sqs_queue_policy.ingest")
    return problems


def check_ingest_queue_policy(stack: Stack) -> list[str]:
    """The ingest queue's policy lets S3 send, only for the uploads bucket of this account."""
    policy = next(
        (
            p
            for p in stack.of_type("aws_sqs_queue_policy").values()
            if ref(p.get("queue_url", "")) == "aws_sqs_queue.ingest.id"
        ),
        None,
    )
    if policy is None:
        return ["no aws_sqs_queue_policy for aws_sqs_queue.ingest"]
    found = stack.policy_document(policy.get("policy", ""))
    if found is None:
        return ["the ingest queue policy is not an aws_iam_policy_document"]
    _, document = found
    for statement in statements(document):
        principals = as_list(statement.get("principals"))
        conditions = {
            c.get("variable"): [ref(v) for v in as_list(c.get("values"))] for c in as_list(statement.get("condition"))
        }
        if (
            statement.get("effect", "Allow") == "Allow"
            and "sqs:SendMessage" in as_list(statement.get("actions"))
            and [ref(r) for r in as_list(statement.get("resources"))] == ["aws_sqs_queue.ingest.arn"]
            and any(
                p.get("type") == "Service" and "s3.amazonaws.com" in as_list(p.get("identifiers")) for p in principals
            )
            and conditions.get("aws:SourceArn") == ["aws_s3_bucket.uploads.arn"]
            and "aws:SourceAccount" in conditions
        ):
            return []
    return [
        "no statement lets s3.amazonaws.com send to the ingest queue for the uploads bucket "
        "(aws:SourceArn + aws:SourceAccount)"
    ]


def dead_letter_target(queue: dict[str, Any]) -> str | None:
    """The queue named as deadLetterTargetArn in a redrive_policy = jsonencode({...})."""
    match = re.search(
        r"deadLetterTargetArn\s*[=:]\s*\"?(?:\$\{)?(aws_sqs_queue\.\w+)\.arn",
        str(queue.get("redrive_policy", "")),
    )
    return match.group(1) if match else None


def check_queues_have_dlqs(stack: Stack) -> list[str]:
    """Every queue but the DLQs redrives to its own *_dlq queue; every queue is encrypted."""
    queues = stack.of_type("aws_sqs_queue")
    if not queues:
        return ["no aws_sqs_queue at all"]
    problems = []
    used_dlqs: list[str] = []
    for name, body in sorted(queues.items()):
        encrypted = body.get("sqs_managed_sse_enabled") is True or bool(body.get("kms_master_key_id"))
        if not encrypted:
            problems.append(f"aws_sqs_queue.{name} is not encrypted")
        if name.endswith("_dlq"):
            if "redrive_policy" in body:
                problems.append(f"dead-letter queue aws_sqs_queue.{name} has a redrive_policy itself")
            continue
        target = dead_letter_target(body)
        if target is None:
            problems.append(f"aws_sqs_queue.{name} has no redrive_policy to a dead-letter queue")
        elif not target.endswith("_dlq") or target.split(".")[1] not in queues:
            problems.append(f"aws_sqs_queue.{name} redrives to {target}, not to a *_dlq queue of this stack")
        else:
            used_dlqs.append(target)
    if len(used_dlqs) != len(set(used_dlqs)):
        problems.append(f"dead-letter queues are shared: {used_dlqs}")
    return problems


def check_broker_visibility(stack: Stack) -> list[str]:
    """The Celery queue's visibility timeout exceeds the conversion's hard time limit."""
    celery = stack.resource("aws_sqs_queue.celery")
    if celery is None:
        return ["no aws_sqs_queue.celery"]
    if "conversion_time_limit_seconds" not in stack.variables:
        return ["no variable conversion_time_limit_seconds"]
    limit = evaluate_number("var.conversion_time_limit_seconds", stack)
    expression = celery.get("visibility_timeout_seconds", 30)
    visibility = evaluate_number(expression, stack)
    problems = []
    if visibility <= limit:
        problems.append(f"broker visibility timeout {visibility:g}s does not exceed the conversion limit {limit:g}s")
    if visibility > 43200:
        problems.append(f"broker visibility timeout {visibility:g}s exceeds the SQS maximum of 43200s")
    # The timeout must follow the variable, not just happen to exceed its default.
    text = ref(expression) if isinstance(expression, str) else ""
    resolved = str(stack.locals.get(text[6:], "")) if text.startswith("local.") else text
    if "var.conversion_time_limit_seconds" not in resolved:
        problems.append("the broker visibility timeout is not derived from var.conversion_time_limit_seconds")
    return problems


def check_buckets(stack: Stack) -> list[str]:
    """Every bucket: SSE, versioning, public access block (4 flags), TLS-only policy, owner-enforced."""
    buckets = stack.of_type("aws_s3_bucket")
    if not buckets:
        return ["no aws_s3_bucket at all"]
    problems = []
    for name in sorted(buckets):
        sse = resource_for_bucket(stack, "aws_s3_bucket_server_side_encryption_configuration", name)
        algorithm = first_block(first_block(sse or {}, "rule"), "apply_server_side_encryption_by_default").get(
            "sse_algorithm"
        )
        if algorithm not in {"aws:kms", "aws:kms:dsse", "AES256"}:
            problems.append(f"bucket {name}: no default encryption")
        versioning = resource_for_bucket(stack, "aws_s3_bucket_versioning", name)
        if first_block(versioning or {}, "versioning_configuration").get("status") != "Enabled":
            problems.append(f"bucket {name}: versioning not enabled")
        block = resource_for_bucket(stack, "aws_s3_bucket_public_access_block", name) or {}
        # The viewer bucket is public by policy (check_viewer_bucket holds that policy to the case prefix).
        flags: tuple[str, ...] = ("block_public_acls", "ignore_public_acls")
        if name not in PUBLIC_BY_POLICY:
            flags += ("block_public_policy", "restrict_public_buckets")
        if not all(block.get(flag) is True for flag in flags):
            problems.append(f"bucket {name}: public access block missing or not all four flags true")
        ownership = resource_for_bucket(stack, "aws_s3_bucket_ownership_controls", name)
        if first_block(ownership or {}, "rule").get("object_ownership") != "BucketOwnerEnforced":
            problems.append(f"bucket {name}: ACLs not disabled (ownership controls BucketOwnerEnforced)")
        if not _denies_insecure_transport(stack, name):
            problems.append(f"bucket {name}: no bucket policy denying aws:SecureTransport = false")
    return problems


PUBLIC_BY_POLICY = {"viewer"}
VIEWER_OBJECTS = "aws_s3_bucket.viewer.arn/local.viewer_prefix/*"


def _viewer_policy_problems(document: dict[str, Any]) -> list[str]:
    """Anyone may GetObject the case prefix and list it (s3:prefix condition); only the worker writes."""
    problems = []
    public_get = public_list = worker_only = False
    for statement in statements(document):
        public = any("*" in as_list(p.get("identifiers")) for p in as_list(statement.get("principals")))
        actions = set(as_list(statement.get("actions")))
        resources = {ref(r) for r in as_list(statement.get("resources"))}
        conditions = as_list(statement.get("condition"))
        if statement.get("effect", "Allow") == "Allow" and public:
            if actions == {"s3:GetObject"} and resources == {VIEWER_OBJECTS}:
                public_get = True
            elif (
                actions == {"s3:ListBucket"}
                and resources == {"aws_s3_bucket.viewer.arn"}
                and any(
                    c.get("test") == "StringLike"
                    and c.get("variable") == "s3:prefix"
                    and as_list(c.get("values"))
                    and all(ref(v).startswith("local.viewer_prefix/") for v in as_list(c.get("values")))
                    for c in conditions
                )
            ):
                public_list = True
            else:
                problems.append(f"viewer bucket: public grant of {sorted(actions)} on {sorted(resources)}")
        if (
            statement.get("effect") == "Deny"
            and {"s3:PutObject", "s3:DeleteObject"} <= actions
            and any(
                c.get("test") == "ArnNotEquals"
                and c.get("variable") == "aws:PrincipalArn"
                and [ref(v) for v in as_list(c.get("values"))] == ["aws_iam_role.worker.arn"]
                for c in conditions
            )
        ):
            worker_only = True
    if not public_get:
        problems.append("viewer bucket: no public s3:GetObject on exactly the case prefix")
    if not public_list:
        problems.append("viewer bucket: no public s3:ListBucket limited to the case prefix by s3:prefix")
    if not worker_only:
        problems.append("viewer bucket: writes are not denied to every principal but the worker role")
    return problems


def check_viewer_bucket(stack: Stack) -> list[str]:
    """The viewer bucket: SSE-S3 (anonymous reads), public read of the prefix only, worker-only writes, CORS."""
    if stack.resource("aws_s3_bucket.viewer") is None:
        return ["no aws_s3_bucket.viewer"]
    problems = []
    sse = resource_for_bucket(stack, "aws_s3_bucket_server_side_encryption_configuration", "viewer") or {}
    default = first_block(first_block(sse, "rule"), "apply_server_side_encryption_by_default")
    if default.get("sse_algorithm") != "AES256":
        problems.append("viewer bucket: encryption must be AES256 (anonymous GETs of KMS objects fail)")
    policy = resource_for_bucket(stack, "aws_s3_bucket_policy", "viewer")
    found = stack.policy_document(policy.get("policy", "")) if policy else None
    problems += _viewer_policy_problems(found[1]) if found else ["viewer bucket: no bucket policy document"]
    cors = first_block(resource_for_bucket(stack, "aws_s3_bucket_cors_configuration", "viewer") or {}, "cors_rule")
    if set(as_list(cors.get("allowed_methods"))) != {"GET", "HEAD"} or ref(cors.get("allowed_origins", "")) != (
        "var.viewer_origins"
    ):
        problems.append("viewer bucket: CORS must allow GET and HEAD from var.viewer_origins only")
    logging = resource_for_bucket(stack, "aws_s3_bucket_logging", "viewer") or {}
    if ref(logging.get("target_bucket", "")) != "aws_s3_bucket.logs.id":
        problems.append("viewer bucket: no access logging to the log bucket")
    return problems


def _denies_insecure_transport(stack: Stack, bucket: str) -> bool:
    policy = resource_for_bucket(stack, "aws_s3_bucket_policy", bucket)
    found = stack.policy_document(policy.get("policy", "")) if policy else None
    if found is None:
        return False
    arn = f"aws_s3_bucket.{bucket}.arn"
    for statement in statements(found[1]):
        conditions = as_list(statement.get("condition"))
        principals = as_list(statement.get("principals"))
        if (
            statement.get("effect") == "Deny"
            and "s3:*" in as_list(statement.get("actions"))
            and {ref(r) for r in as_list(statement.get("resources"))} >= {arn, f"{arn}/*"}
            and any("*" in as_list(p.get("identifiers")) for p in principals)
            and any(
                c.get("test") == "Bool"
                and c.get("variable") == "aws:SecureTransport"
                and as_list(c.get("values")) == ["false"]
                for c in conditions
            )
        ):
            return True
    return False


def check_uploads_lifecycle(stack: Stack) -> list[str]:
    """Raw uploads expire after var.uploads_expiry_days; all buckets drop old versions, stale multiparts."""
    problems = []
    for name in sorted(stack.of_type("aws_s3_bucket")):
        lifecycle = resource_for_bucket(stack, "aws_s3_bucket_lifecycle_configuration", name)
        rules = [r for r in as_list((lifecycle or {}).get("rule")) if r.get("status") == "Enabled"]
        if not any(first_block(r, "noncurrent_version_expiration").get("noncurrent_days") for r in rules):
            problems.append(f"bucket {name}: no noncurrent-version expiry")
        if not any(first_block(r, "abort_incomplete_multipart_upload").get("days_after_initiation") for r in rules):
            problems.append(f"bucket {name}: incomplete multipart uploads are never aborted")
        if name == "uploads" and not any(
            ref(first_block(r, "expiration").get("days", "")) == "var.uploads_expiry_days" for r in rules
        ):
            problems.append("bucket uploads: raw uploads do not expire after var.uploads_expiry_days")
    return problems


def check_rds(stack: Stack) -> list[str]:
    """RDS: private, encrypted, protected, backed up, RDS-managed password, TLS forced, private subnets."""
    instances = stack.of_type("aws_db_instance")
    if not instances:
        return ["no aws_db_instance"]
    problems = []
    for name, db in sorted(instances.items()):
        label = f"aws_db_instance.{name}"
        problems += [f"{label}: {problem}" for problem in _rds_settings_problems(stack, db)]
        problems += [f"{label}: {problem}" for problem in _rds_network_problems(stack, db)]
    problems += _db_ingress_problems(stack)
    return problems


def _rds_settings_problems(stack: Stack, db: dict[str, Any]) -> list[str]:
    """Encryption, protection, the managed password, the engine and backups of one instance."""
    problems = [
        f"{attribute} must be {str(wanted).lower()}"
        for attribute, wanted in (
            ("publicly_accessible", False),
            ("storage_encrypted", True),
            ("deletion_protection", True),
            ("manage_master_user_password", True),
        )
        if db.get(attribute) is not wanted
    ]
    if "password" in db:
        problems.append("sets a password; RDS must manage it (manage_master_user_password)")
    version = str(_default_or_literal(stack, db.get("engine_version")))
    if db.get("engine") != "postgres" or not version.startswith("16"):
        problems.append("not PostgreSQL 16")
    retention = db.get("backup_retention_period")
    if retention is None or evaluate_number(retention, stack) < 1:
        problems.append("automated backups disabled")
    return problems


def _rds_network_problems(stack: Stack, db: dict[str, Any]) -> list[str]:
    """Subnets, forced TLS and the security group of one instance."""
    problems = []
    group_ref = ref(db.get("db_subnet_group_name", ""))
    group = stack.resource(group_ref.rsplit(".", 1)[0]) if group_ref else None
    if group is None or not _is_private_subnet_list(stack, group.get("subnet_ids")):
        problems.append("not in the private subnets")
    parameter_group = stack.resource(ref(db.get("parameter_group_name", "")).rsplit(".", 1)[0]) or {}
    parameters = {p.get("name"): str(p.get("value")) for p in as_list(parameter_group.get("parameter"))}
    if parameters.get("rds.force_ssl") != "1":
        problems.append("its parameter group does not set rds.force_ssl = 1")
    if [ref(s) for s in as_list(db.get("vpc_security_group_ids"))] != ["aws_security_group.db.id"]:
        problems.append("must use exactly aws_security_group.db")
    return problems


def _default_or_literal(stack: Stack, value: Any) -> Any:
    text = ref(value) if isinstance(value, str) else value
    if isinstance(text, str) and text.startswith("var."):
        return stack.variables.get(text[4:], {}).get("default")
    return text


def _is_private_subnet_list(stack: Stack, value: Any) -> bool:
    text = ref(value) if isinstance(value, str) else ""
    if text == "local.private_subnet_ids":
        text = ref(stack.locals.get("private_subnet_ids", ""))
    refs = re.findall(r"aws_subnet\.(\w+)", text)
    return bool(refs) and all(r == "private" for r in refs)


def _db_ingress_problems(stack: Stack) -> list[str]:
    rules = [
        r
        for r in stack.of_type("aws_vpc_security_group_ingress_rule").values()
        if ref(r.get("security_group_id", "")) == "aws_security_group.db.id"
    ]
    db_group = stack.resource("aws_security_group.db") or {}
    problems = []
    if as_list(db_group.get("ingress")):
        problems.append("aws_security_group.db has inline ingress rules")
    if not rules:
        problems.append("the database security group has no ingress rule from the ECS tasks")
    for rule in rules:
        if (
            rule.get("from_port") != 5432
            or rule.get("to_port") != 5432
            or ref(rule.get("referenced_security_group_id", "")) != "aws_security_group.app.id"
            or "cidr_ipv4" in rule
        ):
            problems.append(
                f"database ingress rule {rule.get('description')!r} is not 5432 from the app security group"
            )
    return problems


def _is_wildcard_action(action: str) -> bool:
    return action == "*" or action.endswith(":*")


def check_iam_wildcards(stack: Stack) -> list[str]:
    """No Allow statement grants "*"/"service:*" actions or "*" resources, except the documented ones."""
    problems = []
    documents = {name: body for (dtype, name), body in stack.data.items() if dtype == "aws_iam_policy_document"}
    for name, document in sorted(documents.items()):
        for statement in statements(document):
            if statement.get("effect", "Allow") != "Allow":
                continue
            key = (name, statement.get("sid"))
            actions = as_list(statement.get("actions"))
            if any(_is_wildcard_action(str(a)) for a in actions) and key not in WILDCARD_ACTION_ALLOWED:
                problems.append(f"policy {name} statement {key[1]!r}: wildcard action in {actions}")
            if as_list(statement.get("not_actions")):
                problems.append(f"policy {name} statement {key[1]!r}: Allow with not_actions")
            if "*" in as_list(statement.get("resources")) and key not in WILDCARD_RESOURCE_ALLOWED:
                problems.append(f"policy {name} statement {key[1]!r}: Resource '*' for {actions}")
    # Role policies must come from policy documents (which the loop above checked), not inline JSON.
    for rtype in ("aws_iam_role_policy", "aws_iam_policy", "aws_sqs_queue_policy", "aws_s3_bucket_policy"):
        for name, body in stack.of_type(rtype).items():
            if stack.policy_document(body.get("policy", "")) is None:
                problems.append(f"{rtype}.{name}: policy is not a data.aws_iam_policy_document")
    return problems


def check_task_roles(stack: Stack) -> list[str]:
    """Each service's task role grants exactly its documented actions on its own buckets and queues."""
    problems = []
    for service, expected in TASK_ROLE_GRANTS.items():
        found = stack.policy_document((stack.resource(f"aws_iam_role_policy.{service}") or {}).get("policy", ""))
        if found is None:
            problems.append(f"no aws_iam_role_policy.{service} with a policy document")
            continue
        granted: dict[str, set[str]] = {}
        for statement in statements(found[1]):
            for resource in as_list(statement.get("resources")):
                granted.setdefault(ref(resource), set()).update(as_list(statement.get("actions")))
        for resource, actions in sorted(granted.items()):
            extra = actions - expected.get(resource, set())
            if extra:
                problems.append(f"{service} role: unexpected {sorted(extra)} on {resource}")
        for resource, actions in sorted(expected.items()):
            missing = actions - granted.get(resource, set())
            if missing:
                problems.append(f"{service} role: missing {sorted(missing)} on {resource}")
        task_definition = stack.resource(f"aws_ecs_task_definition.{service}") or {}
        if ref(task_definition.get("task_role_arn", "")) != f"aws_iam_role.{service}.arn":
            problems.append(f"aws_ecs_task_definition.{service} does not use aws_iam_role.{service}")
    return problems


def check_variables_described(stack: Stack) -> list[str]:
    """Every variable has a non-empty description and a type."""
    problems = []
    for name, body in sorted(stack.variables.items()):
        if not str(body.get("description", "")).strip():
            problems.append(f"variable {name} has no description")
        if "type" not in body:
            problems.append(f"variable {name} has no type")
    return problems


def check_app_settings(stack: Stack) -> list[str]:
    """Every app setting is passed to the containers and exported: values as outputs, secrets as ARNs."""
    environment = stack.locals.get("app_environment")
    if not isinstance(environment, dict):
        return ["no local.app_environment map"]
    return [
        *_plain_setting_problems(stack, environment),
        *_secret_setting_problems(stack, environment),
        *(
            f"output {name} exposes a secret value"
            for name, output in stack.outputs.items()
            if "random_password" in str(output.get("value")) or "secret_string" in str(output.get("value"))
        ),
    ]


def _plain_setting_problems(stack: Stack, environment: dict[str, Any]) -> list[str]:
    problems = []
    for env_name, output_name in PLAIN_SETTINGS.items():
        if env_name not in environment:
            problems.append(f"{env_name} is not in local.app_environment")
        output = stack.outputs.get(output_name)
        if output is None:
            problems.append(f"no output {output_name} for {env_name}")
        elif ref(output.get("value", "")) != f"local.app_environment.{env_name}":
            problems.append(f"output {output_name} does not export local.app_environment.{env_name}")
    problems += [
        f"local.app_environment has {env_name}, which is not a listed app setting"
        for env_name in sorted(set(environment) - set(PLAIN_SETTINGS))
    ]
    return problems


def _secret_setting_problems(stack: Stack, environment: dict[str, Any]) -> list[str]:
    problems = []
    secrets = {s.get("name"): ref(s.get("valueFrom", "")) for s in as_list(stack.locals.get("container_secrets"))}
    for env_name, (output_name, value_from) in SECRET_SETTINGS.items():
        if env_name in environment:
            problems.append(f"secret {env_name} is passed as a plain environment variable")
        if secrets.get(env_name) != value_from:
            problems.append(f"secret {env_name} is not passed via secrets valueFrom {value_from}")
        if output_name not in stack.outputs:
            problems.append(f"no output {output_name} (the ARN holding {env_name})")
    return problems


def check_containers(stack: Stack) -> list[str]:
    """One image, the documented commands, env and secrets, read-only root, private networking."""
    commands = {
        "web": ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers"],
        "worker": ["celery", "-A", "config", "worker", "-l", "info", "--concurrency"],
        "listener": ["python", "manage.py", "ingest_listen"],
    }
    problems = []
    for service, command in commands.items():
        definition = stack.resource(f"aws_ecs_task_definition.{service}")
        if definition is None:
            problems.append(f"no aws_ecs_task_definition.{service}")
            continue
        containers = str(definition.get("container_definitions", ""))
        for needle in (
            "image = var.image",
            f"command = local.{service}_command",
            "environment = local.container_environment",
            "secrets = local.container_secrets",
            "readonlyRootFilesystem = true",
        ):
            if needle not in containers:
                problems.append(f"{service} container definition lacks `{needle}`")
        if as_list(stack.locals.get(f"{service}_command"))[: len(command)] != command:
            problems.append(f"local.{service}_command is not {' '.join(command)} ...")
        ecs_service = stack.resource(f"aws_ecs_service.{service}") or {}
        network = first_block(ecs_service, "network_configuration")
        if (
            network.get("assign_public_ip") is not False
            or ref(network.get("subnets", "")) != "local.private_subnet_ids"
        ):
            problems.append(f"aws_ecs_service.{service} is not in the private subnets without a public IP")
    return problems


def check_load_balancer(stack: Stack) -> list[str]:
    """HTTPS with the TLS 1.3 policy, HTTP redirected, invalid headers dropped, logs, /healthz."""
    problems = _listener_problems(stack)
    for name, body in stack.of_type("aws_lb").items():
        if body.get("drop_invalid_header_fields") is not True:
            problems.append(f"aws_lb.{name} does not drop invalid header fields")
        if first_block(body, "access_logs").get("enabled") is not True:
            problems.append(f"aws_lb.{name} has no access logs")
    for name, body in stack.of_type("aws_lb_target_group").items():
        if first_block(body, "health_check").get("path") != "/healthz":
            problems.append(f"aws_lb_target_group.{name} does not check /healthz")
    return problems


def _listener_problems(stack: Stack) -> list[str]:
    problems = []
    listeners = stack.of_type("aws_lb_listener")
    https = [b for b in listeners.values() if b.get("protocol") == "HTTPS"]
    if not https or any(b.get("ssl_policy") != "ELBSecurityPolicy-TLS13-1-2-2021-06" for b in https):
        problems.append("no HTTPS listener with ELBSecurityPolicy-TLS13-1-2-2021-06")
    if any(ref(b.get("certificate_arn", "")) != "var.certificate_arn" for b in https):
        problems.append("the HTTPS listener does not use var.certificate_arn")
    for name, body in listeners.items():
        if body.get("protocol") == "HTTP":
            action = first_block(body, "default_action")
            if action.get("type") != "redirect" or first_block(action, "redirect").get("protocol") != "HTTPS":
                problems.append(f"aws_lb_listener.{name} serves HTTP instead of redirecting to HTTPS")
    return problems


def check_redeploy_on_rotation(stack: Stack) -> list[str]:
    """A rotation of the RDS-managed password (AWSCURRENT moves) redeploys all three services."""
    rule = stack.resource("aws_cloudwatch_event_rule.db_password_rotated")
    if rule is None:
        return ["no aws_cloudwatch_event_rule.db_password_rotated"]
    problems = []
    pattern = re.sub(r"\s+", " ", str(rule.get("event_pattern", "")))
    for needle in (
        '"Secret Label Updated"',
        "local.db_master_secret_arn",
        '"AWSCURRENT"',
        '"aws.secretsmanager"',
    ):
        if needle not in pattern:
            problems.append(f"the rotation rule's event pattern lacks {needle}")
    targets = [
        t
        for t in stack.of_type("aws_cloudwatch_event_target").values()
        if ref(t.get("rule", "")) == "aws_cloudwatch_event_rule.db_password_rotated.name"
    ]
    if not any(ref(t.get("arn", "")) == "aws_sfn_state_machine.redeploy.arn" for t in targets):
        problems.append("the rotation rule does not start aws_sfn_state_machine.redeploy")
    services = " ".join(str(t.get("input", "")) for t in targets)
    for service in ("web", "worker", "listener"):
        if f"aws_ecs_service.{service}.name" not in services:
            problems.append(f"the redeploy input does not list aws_ecs_service.{service}")
    machine = str((stack.resource("aws_sfn_state_machine.redeploy") or {}).get("definition", ""))
    if "aws-sdk:ecs:updateService" not in machine or "ForceNewDeployment = true" not in machine:
        problems.append("the redeploy state machine does not force a new ECS deployment")
    return problems


CHECKS = [
    check_viewer_bucket,
    check_uploads_notification,
    check_ingest_queue_policy,
    check_queues_have_dlqs,
    check_broker_visibility,
    check_buckets,
    check_uploads_lifecycle,
    check_rds,
    check_iam_wildcards,
    check_task_roles,
    check_variables_described,
    check_app_settings,
    check_containers,
    check_load_balancer,
    check_redeploy_on_rotation,
]

# ---------------------------------------------------------------------------------------------
# The real stack passes every check.
# ---------------------------------------------------------------------------------------------


@functools.cache
def real_stack() -> Stack:
    return load_stack()


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
def test_stack_passes(check):
    assert check(real_stack()) == []


def test_every_tf_file_parses():
    files = sorted(TERRAFORM_DIR.glob("*.tf"))
    assert {p.name for p in files} >= {
        "variables.tf",
        "outputs.tf",
        "s3.tf",
        "sqs.tf",
        "rds.tf",
        "ecs.tf",
        "iam.tf",
    }
    for path in files:
        _parse_hcl(path.read_text())


def test_readme_documents_every_variable_output_and_skip():
    readme = (TERRAFORM_DIR / "README.md").read_text()
    stack = real_stack()
    for name in [*stack.variables, *stack.outputs]:
        assert f"| `{name}` |" in readme, f"terraform/README.md does not document {name}"
    for path in sorted(TERRAFORM_DIR.glob("*.tf")):
        for check_id in re.findall(r"checkov:skip=(CKV2?_AWS_\d+)", path.read_text()):
            number = check_id.rsplit("_", 1)[1]
            assert check_id in readme or f"/{number}" in readme, f"README does not explain skip {check_id}"


def test_every_skipped_checkov_check_has_a_reason():
    for path in sorted(TERRAFORM_DIR.glob("*.tf")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "checkov:skip=" in line:
                match = re.search(r"checkov:skip=(CKV2?_AWS_\d+):(.+)", line)
                assert match and len(match.group(2).strip()) >= 30, f"{path.name}:{number}: skip without a reason"


# ---------------------------------------------------------------------------------------------
# Each check can fail: it reports the right problem when the real stack is broken in one place,
# and the helpers catch each weakening of a small HCL snippet.
# ---------------------------------------------------------------------------------------------

# Mutations of the real stack: each changes one thing in one file (first match of a regex) and
# names the problem the check must then report.
MUTATIONS = [
    (
        check_uploads_notification,
        "s3.tf",
        r"queue_arn\s+= aws_sqs_queue\.ingest\.arn",
        "queue_arn = aws_sqs_queue.celery.arn",
        "targeting",
    ),
    (check_uploads_notification, "s3.tf", r"s3:ObjectCreated:\*", "s3:ObjectRemoved:*", "ObjectCreated"),
    (check_uploads_notification, "s3.tf", r'filter_prefix = "uploads/"', 'filter_prefix = "raw/"', "prefix"),
    (
        check_uploads_notification,
        "s3.tf",
        r"depends_on = \[aws_sqs_queue_policy\.ingest\]",
        "depends_on = []",
        "depend on",
    ),
    (
        check_ingest_queue_policy,
        "sqs.tf",
        r"values\s+= \[aws_s3_bucket\.uploads\.arn\]",
        "values = [aws_s3_bucket.documents.arn]",
        "no statement",
    ),
    (check_ingest_queue_policy, "sqs.tf", r'"s3\.amazonaws\.com"', '"sns.amazonaws.com"', "no statement"),
    (
        check_queues_have_dlqs,
        "sqs.tf",
        r"aws_sqs_queue\.celery_dlq\.arn\n",
        "aws_sqs_queue.ingest_dlq.arn\n",
        "shared",
    ),
    (
        check_queues_have_dlqs,
        "sqs.tf",
        r"redrive_policy = jsonencode\(\{\n\s+deadLetterTargetArn = aws_sqs_queue\.ingest_dlq\.arn",
        "redrive_policy = jsonencode({\n    x = 1",
        "no redrive_policy",
    ),
    (
        check_queues_have_dlqs,
        "sqs.tf",
        r"sqs_managed_sse_enabled\s+= true",
        "sqs_managed_sse_enabled = false",
        "not encrypted",
    ),
    (
        check_broker_visibility,
        "sqs.tf",
        r"= local\.broker_visibility_timeout_seconds",
        "= 900",
        "does not exceed",
    ),
    (
        check_broker_visibility,
        "sqs.tf",
        r"= var\.conversion_time_limit_seconds \+ var\.broker_visibility_margin_seconds",
        "= 3600",
        "not derived",
    ),
    (
        check_buckets,
        "s3.tf",
        r"restrict_public_buckets = true",
        "restrict_public_buckets = false",
        "public access block",
    ),
    (
        check_buckets,
        "s3_logs.tf",
        r'sse_algorithm = "AES256"',
        'sse_algorithm = "none"',
        "default encryption",
    ),
    (check_buckets, "s3_logs.tf", r'status = "Enabled"', 'status = "Suspended"', "versioning"),
    (check_buckets, "s3.tf", r'values\s+= \["false"\]', 'values = ["true"]', "SecureTransport"),
    (
        check_buckets,
        "s3.tf",
        r'object_ownership = "BucketOwnerEnforced"',
        'object_ownership = "ObjectWriter"',
        "BucketOwnerEnforced",
    ),
    (check_uploads_lifecycle, "s3.tf", r"days = var\.uploads_expiry_days", "days = 3650", "raw uploads"),
    (check_uploads_lifecycle, "s3_logs.tf", r"noncurrent_days = 7", "days = 7", "noncurrent"),
    (
        check_rds,
        "rds.tf",
        r"publicly_accessible\s+= false",
        "publicly_accessible = true",
        "publicly_accessible",
    ),
    (check_rds, "rds.tf", r"storage_encrypted\s+= true", "storage_encrypted = false", "storage_encrypted"),
    (
        check_rds,
        "rds.tf",
        r"deletion_protection\s+= true",
        "deletion_protection = false",
        "deletion_protection",
    ),
    (check_rds, "rds.tf", r"manage_master_user_password\s+= true", 'password = "hunter2"', "password"),
    (
        check_rds,
        "rds.tf",
        r"subnet_ids\s+= local\.private_subnet_ids",
        "subnet_ids = local.public_subnet_ids",
        "private",
    ),
    (
        check_rds,
        "rds.tf",
        r'name  = "rds\.force_ssl"\n\s+value = "1"',
        'name = "rds.force_ssl"\n value = "0"',
        "force_ssl",
    ),
    (
        check_rds,
        "network.tf",
        r"(db_from_app\" \{[^}]*)aws_security_group\.app\.id",
        r"\1aws_security_group.alb.id",
        "5432",
    ),
    (check_iam_wildcards, "iam.tf", r'\["s3:GetObject", "s3:PutObject"\]', '["s3:*"]', "wildcard action"),
    (
        check_iam_wildcards,
        "iam.tf",
        r"resources = \[aws_sqs_queue\.celery\.arn\]",
        'resources = ["*"]',
        "Resource '*'",
    ),
    (
        check_task_roles,
        "iam.tf",
        r'"sqs:GetQueueAttributes"\]\n(\s+)resources = \[aws_sqs_queue\.ingest\.arn\]',
        '"sqs:PurgeQueue"]\n\\1resources = [aws_sqs_queue.ingest.arn]',
        "unexpected",
    ),
    (
        check_task_roles,
        "ecs.tf",
        r"task_role_arn\s+= aws_iam_role\.web\.arn",
        "task_role_arn = aws_iam_role.worker.arn",
        "does not use",
    ),
    (
        check_variables_described,
        "variables.tf",
        r'description = "Short project name',
        'label = "Short project name',
        "no description",
    ),
    (
        check_app_settings,
        "outputs.tf",
        r"value\s+= local\.app_environment\.LOG_LEVEL",
        "value = var.log_level",
        "does not export",
    ),
    (
        check_app_settings,
        "outputs.tf",
        r'output "database_credentials_secret_arn"',
        'output "db_secret"',
        "database_credentials_secret_arn",
    ),
    (
        check_app_settings,
        "ecs.tf",
        r"LOG_LEVEL\s+= var\.log_level",
        'LOG_LEVEL = var.log_level\n    DJANGO_SECRET_KEY = "x"',
        "plain environment",
    ),
    (
        check_app_settings,
        "ecs.tf",
        r'"\$\{local\.db_master_secret_arn\}:password::"',
        "local.db_master_secret_arn",
        "DATABASE_PASSWORD",
    ),
    (
        check_containers,
        "ecs.tf",
        r"readonlyRootFilesystem = true",
        "readonlyRootFilesystem = false",
        "readonlyRootFilesystem",
    ),
    (check_containers, "ecs.tf", r"assign_public_ip = false", "assign_public_ip = true", "public IP"),
    (check_containers, "ecs.tf", r"image\s+= var\.image", 'image = "nginx:latest"', "var.image"),
    (
        check_load_balancer,
        "alb.tf",
        r"ELBSecurityPolicy-TLS13-1-2-2021-06",
        "ELBSecurityPolicy-2016-08",
        "TLS13",
    ),
    (check_load_balancer, "alb.tf", r'type = "redirect"', 'type = "fixed-response"', "redirecting"),
    (
        check_load_balancer,
        "alb.tf",
        r"drop_invalid_header_fields = true",
        "drop_invalid_header_fields = false",
        "invalid header",
    ),
    (check_load_balancer, "alb.tf", r'path\s+= "/healthz"', 'path = "/"', "/healthz"),
    (
        check_redeploy_on_rotation,
        "redeploy.tf",
        r'labelUpdated = \["AWSCURRENT"\]',
        'labelUpdated = ["AWSPENDING"]',
        "AWSCURRENT",
    ),
    (check_redeploy_on_rotation, "redeploy.tf", r"\s+aws_ecs_service\.worker\.name,", "", "worker"),
    (
        check_redeploy_on_rotation,
        "redeploy.tf",
        r"ForceNewDeployment = true",
        "ForceNewDeployment = false",
        "force",
    ),
]


MUTATIONS += [
    (
        check_viewer_bucket,
        "s3_viewer.tf",
        r'resources = \["\$\{aws_s3_bucket\.viewer\.arn\}/\$\{local\.viewer_prefix\}/\*"\]',
        'resources = ["${aws_s3_bucket.viewer.arn}/*"]',
        "public",
    ),
    (check_viewer_bucket, "s3_viewer.tf", r'variable = "s3:prefix"', 'variable = "s3:delimiter"', "ListBucket"),
    (
        check_viewer_bucket,
        "s3_viewer.tf",
        r"values   = \[aws_iam_role\.worker\.arn\]",
        "values = [aws_iam_role.web.arn]",
        "worker",
    ),
    (check_viewer_bucket, "s3_viewer.tf", r'sse_algorithm = "AES256"', 'sse_algorithm = "aws:kms"', "AES256"),
    (
        check_viewer_bucket,
        "s3_viewer.tf",
        r'allowed_methods = \["GET", "HEAD"\]',
        'allowed_methods = ["GET", "PUT"]',
        "CORS",
    ),
    (check_buckets, "s3_viewer.tf", r"block_public_acls       = true", "block_public_acls = false", "viewer"),
    (
        check_task_roles,
        "iam.tf",
        r'actions   = \["s3:GetObject"\]\n    resources = \["\$\{aws_s3_bucket\.viewer',
        'actions   = ["s3:GetObject", "s3:PutObject"]\n    resources = ["${aws_s3_bucket.viewer',
        "web role",
    ),
]


def test_every_check_has_a_mutation():
    assert {mutation[0] for mutation in MUTATIONS} == set(CHECKS)


@pytest.mark.parametrize(
    ("check", "filename", "pattern", "replacement", "expected"),
    MUTATIONS,
    ids=[f"{m[0].__name__}-{m[4]}" for m in MUTATIONS],
)
def test_check_catches_mutation(check, filename, pattern, replacement, expected):
    sources = {path.name: path.read_text() for path in sorted(TERRAFORM_DIR.glob("*.tf"))}
    sources[filename], count = re.subn(pattern, replacement, sources[filename], count=1)
    assert count == 1, f"mutation pattern {pattern!r} no longer matches {filename}"
    problems = check(parse_stack(sources.values()))
    assert any(expected in problem for problem in problems), problems


def test_check_catches_each_weakened_bucket_property():
    good = """
        resource "aws_s3_bucket" "b" { bucket = "b" }
        resource "aws_s3_bucket_ownership_controls" "b" {
          bucket = aws_s3_bucket.b.id
          rule { object_ownership = "BucketOwnerEnforced" }
        }
        resource "aws_s3_bucket_server_side_encryption_configuration" "b" {
          bucket = aws_s3_bucket.b.id
          rule {
            apply_server_side_encryption_by_default { sse_algorithm = "AES256" }
          }
        }
        resource "aws_s3_bucket_versioning" "b" {
          bucket = aws_s3_bucket.b.id
          versioning_configuration { status = "Enabled" }
        }
        resource "aws_s3_bucket_public_access_block" "b" {
          bucket                  = aws_s3_bucket.b.id
          block_public_acls       = true
          block_public_policy     = true
          ignore_public_acls      = true
          restrict_public_buckets = true
        }
        resource "aws_s3_bucket_policy" "b" {
          bucket = aws_s3_bucket.b.id
          policy = data.aws_iam_policy_document.b.json
        }
        data "aws_iam_policy_document" "b" {
          statement {
            effect    = "Deny"
            actions   = ["s3:*"]
            resources = [aws_s3_bucket.b.arn, "${aws_s3_bucket.b.arn}/*"]
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
        }
    """
    assert check_buckets(parse_stack([good])) == []
    weakenings = {
        "default encryption": ('sse_algorithm = "AES256"', 'sse_algorithm = "none"'),
        "versioning": ('status = "Enabled"', 'status = "Suspended"'),
        "public access block": ("restrict_public_buckets = true", "restrict_public_buckets = false"),
        "BucketOwnerEnforced": ('"BucketOwnerEnforced"', '"ObjectWriter"'),
        "SecureTransport": ('values   = ["false"]', 'values   = ["true"]'),
    }
    for expected, (old, new) in weakenings.items():
        assert old in good
        problems = check_buckets(parse_stack([good.replace(old, new)]))
        assert any(expected in p for p in problems), (expected, problems)


def test_broker_visibility_follows_the_variable():
    base = """
        variable "conversion_time_limit_seconds" {
          description = "limit"
          type        = number
          default     = 1800
        }
        variable "margin" {
          description = "margin"
          type        = number
          default     = 300
        }
        locals { vis = var.conversion_time_limit_seconds + var.margin }
        resource "aws_sqs_queue" "celery" { visibility_timeout_seconds = VALUE }
    """
    assert check_broker_visibility(parse_stack([base.replace("VALUE", "local.vis")])) == []
    # Big enough today, but not tied to the limit: a later change of the limit would break it.
    assert check_broker_visibility(parse_stack([base.replace("VALUE", "3600")]))
    assert check_broker_visibility(parse_stack([base.replace("VALUE", "var.conversion_time_limit_seconds")]))


def test_norm_and_ref_helpers():
    assert norm('"uploads/"') == "uploads/"
    assert norm("${aws_sqs_queue.ingest.arn}") == "aws_sqs_queue.ingest.arn"
    assert ref('"${aws_s3_bucket.a.arn}/*"') == "aws_s3_bucket.a.arn/*"
    assert norm("${a}-${b}") == "${a}-${b}"
    assert dead_letter_target({"redrive_policy": "jsonencode({deadLetterTargetArn = aws_sqs_queue.x_dlq.arn})"}) == (
        "aws_sqs_queue.x_dlq"
    )
    with pytest.raises(ValueError, match="cannot evaluate"):
        evaluate_number("var.a * 2", Stack(variables={"a": {"default": 1}}))
