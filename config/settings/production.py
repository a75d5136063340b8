"""Production: every secret comes from the environment, and the process refuses to start without it."""

from django.core.exceptions import ImproperlyConfigured

from config.settings.base import *  # noqa: F403
from config.settings.base import env
from hpb.settings_helpers import database_config


def _required(name: str) -> str:
    value = env.str(name, default="")
    if not value:
        raise ImproperlyConfigured(f"Production settings need the {name} environment variable; it is not set.")
    return value


SECRET_KEY = _required("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = [host.strip() for host in _required("DJANGO_ALLOWED_HOSTS").split(",") if host.strip()]
try:
    DATABASES = {"default": database_config(env, default=None)}
except Exception as exc:  # django-environ raises its own ImproperlyConfigured
    raise ImproperlyConfigured(
        "Production settings need the DATABASE_URL environment variable (or DATABASE_HOST, DATABASE_USER, "
        "DATABASE_PASSWORD and DATABASE_NAME); it is not set."
    ) from exc
DEBUG = False
