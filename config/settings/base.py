"""Settings shared by every environment, read from the environment through django-environ.

Every variable read here is listed, with a one-line comment, in `.env.example`. The defaults are the
embedded local ones (SQLite, filesystem storage under `var/`, Celery tasks in process) so that
`make run` works on a fresh machine; `production.py` refuses to start without the real values.
"""

from pathlib import Path
from typing import Any

import environ

from hpb.settings_helpers import build_storages, database_config, num_proxies, throttle_rate

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("HPB_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
_env_file = BASE_DIR / ".env"
if _env_file.exists():
    environ.Env.read_env(str(_env_file))

# --- Core ---------------------------------------------------------------------------------------
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="local-insecure-key-not-for-production-use-0123456789")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "corsheaders",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "hpb",
    "cases",
    "imaging",
    "annotations",
    "seed",
]

MIDDLEWARE = [
    "hpb.middleware.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # Inside CORS so rewritten API errors keep their CORS headers; see hpb.api.middleware.
    "hpb.api.middleware.APIErrorJSONMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------
DATABASES = {"default": database_config(env, default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Cache ----------------------------------------------------------------------------------------
# Holds the API's throttle counters. Local memory is per process: each gunicorn worker then counts on
# its own (see README, "Settings"); point CACHE_URL at Redis (redis://...) or a database cache
# (dbcache://table, after `manage.py createcachetable`) to share the counts.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

# --- Static files and storage -------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGE_ROOT = Path(env.str("STORAGE_ROOT", default=str(VAR_DIR / "storage")))
STORAGE_URL_EXPIRY_SECONDS = env.int("STORAGE_URL_EXPIRY_SECONDS", default=900)
# Signed URLs of one object are the same string within a window this long (0: a new URL every second),
# so browsers cache volumes across API calls; each URL is valid for the expiry plus at most one window.
STORAGE_URL_WINDOW_SECONDS = env.int("STORAGE_URL_WINDOW_SECONDS", default=300)
AWS_REGION = env.str("AWS_REGION", default="us-east-1")
AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default="") or None
S3_BUCKETS = {
    "documents": env.str("S3_DOCUMENTS_BUCKET", default=""),
    "assets": env.str("S3_ASSETS_BUCKET", default=""),
    "uploads": env.str("S3_UPLOADS_BUCKET", default=""),
    "viewer": env.str("S3_VIEWER_BUCKET", default=""),
}
STORAGES = build_storages(
    buckets=S3_BUCKETS,
    root=STORAGE_ROOT,
    region=AWS_REGION,
    endpoint_url=AWS_S3_ENDPOINT_URL,
    expiry_seconds=STORAGE_URL_EXPIRY_SECONDS,
)
# Base URL used for locally signed file links when no request is at hand (management commands).
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")
# Upload size limit for admin/API uploads handled by Django itself (bytes).
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# The admin's DICOM upload takes a series file by file (Django's default allows 100 files).
DATA_UPLOAD_MAX_NUMBER_FILES = 2000

# --- Viewer bundles (imaging.services.bundles; docs/viewer.md) ---------------------------------------
# Folder of the viewer storage holding one folder per published case (the viewer's base URL ends in it).
VIEWER_BUNDLE_PREFIX = env.str("VIEWER_BUNDLE_PREFIX", default="liverCases").strip("/")
# Which level of the volume a bundle carries: full, or preview (half resolution: a fast first view).
VIEWER_BUNDLE_VOLUME = env.str("VIEWER_BUNDLE_VOLUME", default="full")
# Which level of the meshes: full, or light (a mesh over 100k triangles has a lighter level).
VIEWER_BUNDLE_MESHES = env.str("VIEWER_BUNDLE_MESHES", default="full")
# Changes to one case within this many seconds give one rebuild (with a broker; in process: one per commit).
VIEWER_BUNDLE_DEBOUNCE_SECONDS = env.float("VIEWER_BUNDLE_DEBOUNCE_SECONDS", default=2.0)
# Key of the HMAC that names a case's folder (case-<hmac of its id>); default derived from DJANGO_SECRET_KEY.
VIEWER_FOLDER_SECRET = env.str("VIEWER_FOLDER_SECRET", default="")
# The URL the viewer's VITE_CASE_ASSET_BASE_URL should be (shown by the commands; documentation only).
VIEWER_PUBLIC_BASE_URL = env.str("VIEWER_PUBLIC_BASE_URL", default="")

# --- Feature flags ------------------------------------------------------------------------------
FEATURE_FLAG_LIGHTWEIGHT_MODE = env.bool("FEATURE_FLAG_LIGHTWEIGHT_MODE", default=False)

# --- Celery -------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
# Without a broker the tasks run in process, so the demo needs no running services.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = False
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_SQS_QUEUE_NAME", default="hpb-celery")
CONVERSION_TIME_LIMIT_SECONDS = env.int("CONVERSION_TIME_LIMIT_SECONDS", default=1800)
CELERY_TASK_TIME_LIMIT = CONVERSION_TIME_LIMIT_SECONDS
CELERY_TASK_SOFT_TIME_LIMIT = max(CONVERSION_TIME_LIMIT_SECONDS - 60, 30)
# An unacknowledged task (its worker died) is redelivered after this many seconds. It must exceed the
# hard time limit, or a long conversion that is still running would be handed to a second worker.
CELERY_BROKER_VISIBILITY_TIMEOUT = env.int(
    "CELERY_BROKER_VISIBILITY_TIMEOUT", default=CONVERSION_TIME_LIMIT_SECONDS + 300
)
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": CELERY_BROKER_VISIBILITY_TIMEOUT}
if CELERY_BROKER_URL.startswith("sqs://"):
    CELERY_BROKER_TRANSPORT_OPTIONS.update(
        {
            "region": AWS_REGION,
            "predefined_queues": {
                CELERY_TASK_DEFAULT_QUEUE: {"url": env.str("CELERY_SQS_QUEUE_URL")},
            },
        }
    )
    # SQS has no broadcast: remote control and events would try to create queues the IAM roles
    # (rightly) do not allow.
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
    CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Ingestion ----------------------------------------------------------------------------------
INGEST_QUEUE_URL = env.str("INGEST_QUEUE_URL", default="")
SQS_ENDPOINT_URL = env.str("SQS_ENDPOINT_URL", default="") or None
# Long-poll wait of `manage.py ingest_listen` (SQS allows at most 20 s).
INGEST_LISTEN_WAIT_SECONDS = env.int("INGEST_LISTEN_WAIT_SECONDS", default=20)
# Caps handed to the conversion library: volume memory estimate, archive size and file count.
INGEST_MAX_VOLUME_BYTES = env.int("INGEST_MAX_VOLUME_BYTES", default=2 * 1024**3)
INGEST_MAX_ARCHIVE_BYTES = env.int("INGEST_MAX_ARCHIVE_BYTES", default=4 * 1024**3)
INGEST_MAX_ARCHIVE_FILES = env.int("INGEST_MAX_ARCHIVE_FILES", default=20000)
# What one DICOM header may declare or cost before it is refused (imaging.conversion.declared).
INGEST_MAX_FRAMES = env.int("INGEST_MAX_FRAMES", default=20_000)
INGEST_MAX_HEADER_BYTES = env.int("INGEST_MAX_HEADER_BYTES", default=64 * 1024**2)
INGEST_MAX_HEADER_ITEMS = env.int("INGEST_MAX_HEADER_ITEMS", default=50_000)
# A job runs at most this many times (transient-error retries, worker lost, sweep requeue) before it fails.
INGEST_MAX_ATTEMPTS = env.int("INGEST_MAX_ATTEMPTS", default=5)
# Longest wait between retries after a transient storage or database error (exponential backoff, jitter).
INGEST_RETRY_BACKOFF_MAX_SECONDS = env.int("INGEST_RETRY_BACKOFF_MAX_SECONDS", default=600)
# A running job writes a heartbeat this often; the sweep requeues one silent for the timeout.
INGEST_HEARTBEAT_SECONDS = env.int("INGEST_HEARTBEAT_SECONDS", default=30)
INGEST_HEARTBEAT_TIMEOUT_SECONDS = env.int("INGEST_HEARTBEAT_TIMEOUT_SECONDS", default=300)
# A queued job whose task was lost (broker flushed) is re-enqueued after this long.
INGEST_QUEUED_TIMEOUT_SECONDS = env.int("INGEST_QUEUED_TIMEOUT_SECONDS", default=3600)
# An API upload never completed within this long is failed by the sweep (the files are kept).
INGEST_ABANDONED_UPLOAD_SECONDS = env.int("INGEST_ABANDONED_UPLOAD_SECONDS", default=24 * 3600)
# Lifetime of the presigned (or locally signed) upload forms handed out by the API.
INGEST_UPLOAD_URL_EXPIRY_SECONDS = env.int("INGEST_UPLOAD_URL_EXPIRY_SECONDS", default=3600)
INGEST_SWEEP_INTERVAL_SECONDS = env.int("INGEST_SWEEP_INTERVAL_SECONDS", default=120)
CELERY_BEAT_SCHEDULE = {
    "ingest-sweep-stuck-jobs": {
        "task": "imaging.tasks.sweep_stuck_ingest_jobs",
        "schedule": float(INGEST_SWEEP_INTERVAL_SECONDS),
    },
}

# --- API ----------------------------------------------------------------------------------------
# Attempts per client address at POST /api/v1/auth/token, successful or not (DRF's <n>/<sec|min|hour|day>).
_TOKEN_THROTTLE_RATE = throttle_rate(env, "API_TOKEN_THROTTLE_RATE", default="10/min")
_TOKEN_USERNAME_THROTTLE_RATE = throttle_rate(env, "API_TOKEN_USERNAME_THROTTLE_RATE", default=_TOKEN_THROTTLE_RATE)
REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes anonymous requests a 401 rather than a 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "hpb.api.authentication.TokenAuthentication",  # DRF's, with its lookup written once (see the module)
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "hpb.api.schema.HPBAutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "hpb.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "hpb.api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # No DEFAULT_THROTTLE_CLASSES: only the password-to-token exchange is throttled (hpb.api.throttling),
    # so the other endpoints never pay for a cache lookup.
    "DEFAULT_THROTTLE_RATES": {
        "token": _TOKEN_THROTTLE_RATE,
        "token_username": _TOKEN_USERNAME_THROTTLE_RATE,
        # The admin's sign-in form: the same rates, counted on their own (hpb.admin_login).
        "admin_login": _TOKEN_THROTTLE_RATE,
        "admin_login_username": _TOKEN_USERNAME_THROTTLE_RATE,
    },
    # Proxies that append to X-Forwarded-For in front of the app; the throttle keys on the address
    # before them. 0 (here) uses REMOTE_ADDR; production defaults to 1, the AWS load balancer.
    "NUM_PROXIES": num_proxies(env, "API_NUM_PROXIES", default=0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "HPB case platform API",
    "DESCRIPTION": (
        "Cases, clinical documents, imaging and annotations for the HPB research viewer. "
        "Authenticate with the session cookie or `Authorization: Token <key>` (POST /api/v1/auth/token). "
        "Lists are JSON arrays paged with `limit`/`offset`; the total is in `X-Total-Count` and the pages in "
        "RFC 8288 `Link` headers. Every error is `{detail, code[, errors]}`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Separate request and response components (e.g. AnnotationRequest without id/author), so
    # generated clients get read-only fields right.
    "COMPONENT_SPLIT_REQUEST": True,
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 1}},
    "ENUM_NAME_OVERRIDES": {
        "CaseStatusEnum": "cases.models.Case.Status",
        "PatientSexEnum": "cases.models.Patient.Sex",
        "IngestJobStateEnum": "imaging.models.IngestJob.Status",
    },
    # Swagger UI's scripts come from the sidecar package, not a CDN: the docs work offline and
    # no third-party script runs next to a signed-in session.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
CORS_ALLOWED_ORIGINS = env.list("CORS_ORIGINS", default=["http://localhost:5173"])
_cors_regex = env.str("CORS_ORIGIN_REGEX", default="")
CORS_ALLOWED_ORIGIN_REGEXES = [_cors_regex] if _cors_regex else []
CORS_URLS_REGEX = r"^/(api|files)/.*$"
# Retry-After tells a throttled client (the token endpoint) when to try again.
CORS_EXPOSE_HEADERS = ["X-Total-Count", "Link", "Retry-After"]

# --- Logging ------------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="text")
# A logging dictConfig: nested and mixed, so typed loosely (the environments change single entries).
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "filters": {"patient_data": {"()": "hpb.logging.PatientDataFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["patient_data"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # highdicom narrates every attribute it copies while the seed writes phantom segmentations.
        "highdicom": {"level": "WARNING"},
    },
}

# --- Seed ---------------------------------------------------------------------------------------
HPB_DEMO_USERNAME = env.str("HPB_DEMO_USERNAME", default="curator")
# Imaging of seeded cases: small (quick), full (512x512x300) or none; `seed_hpb --imaging-size` overrides.
HPB_SEED_IMAGING_SIZE = env.str("HPB_SEED_IMAGING_SIZE", default="small")
# Empty: seed_hpb generates a password for a new demo curator and prints it once.
HPB_DEMO_PASSWORD = env.str("HPB_DEMO_PASSWORD", default="")
