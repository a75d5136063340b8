"""Pure helpers used by the settings modules (no Django import: settings are not loaded yet)."""

import re
from pathlib import Path
from urllib.parse import quote

import environ

STORAGE_ALIASES = ("documents", "assets", "uploads", "viewer")


def database_config(env: environ.Env, *, default: str | None) -> dict:
    """Read DATABASE_URL, or compose it from DATABASE_HOST/PORT/NAME/USER/PASSWORD.

    The parts exist because ECS injects the RDS-managed secret's `username` and `password` as
    separate variables; a URL cannot be assembled from secrets before the container starts.
    """
    url = env.str("DATABASE_URL", default="")
    host = env.str("DATABASE_HOST", default="")
    if not url and host:
        user = quote(env.str("DATABASE_USER", default="postgres"), safe="")
        password = quote(env.str("DATABASE_PASSWORD", default=""), safe="")
        port = env.str("DATABASE_PORT", default="5432")
        name = env.str("DATABASE_NAME", default="hpb")
        credentials = f"{user}:{password}" if password else user
        url = f"postgres://{credentials}@{host}:{port}/{name}"
    if not url:
        if default is None:
            raise environ.ImproperlyConfigured(
                "Set the DATABASE_URL environment variable (or DATABASE_HOST with DATABASE_USER, "
                "DATABASE_PASSWORD and DATABASE_NAME)."
            )
        url = default
    config = environ.Env.db_url_config(url)
    if config["ENGINE"].endswith("postgresql"):
        config.setdefault("CONN_MAX_AGE", 60)
        config["CONN_HEALTH_CHECKS"] = True
    return config


def build_storages(
    *,
    buckets: dict[str, str],
    root: Path,
    region: str,
    endpoint_url: str | None,
    expiry_seconds: int,
) -> dict:
    """The STORAGES setting: one S3 bucket per alias when its bucket is named, else a folder under root.

    Each alias is decided on its own so a deployment may, say, keep documents on S3 and assets
    elsewhere; in practice all four are set together by Terraform's outputs. S3 objects are written with
    `Cache-Control: private, max-age=<URL lifetime>`, so a browser keeps a presigned download no longer
    than its URL may be used (the viewer storage's bundles set their own, see imaging.services.bundles).
    """
    storages: dict = {
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root / "default")},
        },
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    for alias in STORAGE_ALIASES:
        bucket = buckets.get(alias, "")
        if bucket:
            storages[alias] = {
                "BACKEND": "storages.backends.s3.S3Storage",
                "OPTIONS": {
                    "bucket_name": bucket,
                    "region_name": region,
                    "endpoint_url": endpoint_url,
                    "querystring_auth": True,
                    "querystring_expire": expiry_seconds,
                    "file_overwrite": True,
                    "default_acl": None,
                    "signature_version": "s3v4",
                    "addressing_style": "path" if endpoint_url else None,
                    "object_parameters": {"CacheControl": f"private, max-age={expiry_seconds}"},
                },
            }
        else:
            storages[alias] = {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(root / alias), "directory_permissions_mode": 0o750},
            }
    return storages


# DRF's parser only looks at the first letter of the period, so "10/mxyz" would quietly mean ten a
# minute and "10/week" would fail on the first request; accept the spellings DRF documents only.
_THROTTLE_RATE = re.compile(r"(?P<count>[0-9]+)/(?P<period>s|sec|second|m|min|minute|h|hour|d|day)")


def throttle_rate(env: environ.Env, name: str, *, default: str) -> str:
    """A DRF throttle rate (`<n>/<sec|min|hour|day>`) read from `name`, refused at start-up if malformed.

    Checked here rather than left to DRF because DRF parses the rate on the first throttled request:
    a typo would otherwise surface as a 500 on the login endpoint, or as a rate nobody intended.
    """
    value = env.str(name, default=default).strip()
    match = _THROTTLE_RATE.fullmatch(value)
    if match is None or int(match["count"]) < 1:
        raise environ.ImproperlyConfigured(
            f"{name} must be a request rate like 10/min: a whole number of at least 1, a slash and one of "
            f"sec, min, hour or day; got {value!r}."
        )
    return value


def num_proxies(env: environ.Env, name: str, *, default: int) -> int:
    """How many proxies append to X-Forwarded-For in front of the app (DRF's NUM_PROXIES), at least 0.

    DRF takes the address that many entries from the end of X-Forwarded-For as the client's, so the
    value must match the deployment exactly: one too many trusts an address the client wrote itself.
    """
    try:
        value = env.int(name, default=default)
    except ValueError:
        value = -1
    if value < 0:
        raise environ.ImproperlyConfigured(
            f"{name} must be a whole number of at least 0 (the proxies in front of the app); "
            f"got {env.str(name, default='')!r}."
        )
    return value
