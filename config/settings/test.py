"""The test suite: a real PostgreSQL (overridable by DATABASE_URL), fast hashing, storage in a temp dir."""

import os
import tempfile
from pathlib import Path

from config.settings.base import *  # noqa: F403
from config.settings.base import AWS_REGION, STORAGE_URL_EXPIRY_SECONDS, env
from hpb.settings_helpers import build_storages, database_config

DATABASES = {"default": database_config(env, default="postgres://postgres@127.0.0.1:5432/hpb")}
DATABASES["default"]["CONN_MAX_AGE"] = 0
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Always this process's memory, whatever CACHE_URL a developer's .env sets: the tests clear the cache
# between tests (tests/conftest.py), which must never empty a shared Redis, nor share throttle counts.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "hpb-tests"}}
# Each test process gets its own storage root; fixtures point individual tests at moto's S3.
STORAGE_ROOT = Path(tempfile.mkdtemp(prefix=f"hpb-test-storage-{os.getpid()}-"))
STORAGES = build_storages(
    buckets={},
    root=STORAGE_ROOT,
    region=AWS_REGION,
    endpoint_url=None,
    expiry_seconds=STORAGE_URL_EXPIRY_SECONDS,
)
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
PUBLIC_BASE_URL = "http://testserver"
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# The collection's seed tests stay fast without phantoms; tests/ingest seeds imaging explicitly.
HPB_SEED_IMAGING_SIZE = "none"
