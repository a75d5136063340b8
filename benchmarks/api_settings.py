"""Settings for `benchmarks/api.py`: production settings (DEBUG off, persistent connections) plus
the benchmark's own URLconf, which adds the floor views. Never used by a deployment, so the floor
views are unreachable in production. The benchmark script provides the environment variables that
production settings insist on (secret key, hosts, database).

`BENCH_WITHOUT` (comma-separated, see `SPECIALISATIONS`) names read-path specialisations to replace by
the plain framework path, so that `benchmarks/api.py --without ...` can measure what each one earns.
The token lookup is swapped here (DRF's own TokenAuthentication); the others are code, not settings,
and the benchmark's URLconf swaps them (`benchmarks.api_urls.use_plain_paths`).
"""

import os
from typing import Any, cast

from django.core.exceptions import ImproperlyConfigured

from config.settings.production import *  # noqa: F403
from config.settings.production import LOGGING, REST_FRAMEWORK

ROOT_URLCONF = "benchmarks.api_urls"
# Whitenoise's manifest storage needs collectstatic; the API serves no static files.
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
cast(dict[str, Any], LOGGING["root"])["level"] = "WARNING"

SPECIALISATIONS = frozenset({"token", "epoch", "fast"})
BENCH_WITHOUT = frozenset(name.strip() for name in os.environ.get("BENCH_WITHOUT", "").split(",") if name.strip())
if BENCH_WITHOUT - SPECIALISATIONS:
    raise ImproperlyConfigured(
        f"BENCH_WITHOUT names unknown specialisations: {sorted(BENCH_WITHOUT - SPECIALISATIONS)}"
    )

if "token" in BENCH_WITHOUT:
    REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] = [
        "rest_framework.authentication.TokenAuthentication",
        *cast(list[str], REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"])[1:],
    ]
