"""Settings for `benchmarks/api.py`: production settings (DEBUG off, persistent connections) plus
the benchmark's own URLconf, which adds the floor views. Never used by a deployment, so the floor
views are unreachable in production. The benchmark script provides the environment variables that
production settings insist on (secret key, hosts, database).
"""

from config.settings.production import *  # noqa: F403
from config.settings.production import LOGGING

ROOT_URLCONF = "benchmarks.api_urls"
# Whitenoise's manifest storage needs collectstatic; the API serves no static files.
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
LOGGING["root"]["level"] = "WARNING"
