"""Production: every secret comes from the environment, and the process refuses to start without it.

Runs behind an HTTPS load balancer (AWS ALB) that sets X-Forwarded-Proto; `manage.py check --deploy`
passes with no warning on these settings (a test keeps it so).
"""

from django.core.exceptions import ImproperlyConfigured

from config.settings.base import *  # noqa: F403
from config.settings.base import LOGGING, REST_FRAMEWORK, env
from hpb.settings_helpers import database_config, num_proxies


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
# RDS forces TLS through its parameter group; ask for it from the client side too.
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("sslmode", env.str("DATABASE_SSLMODE", default="require"))
DEBUG = False

# --- HTTPS behind the load balancer ---------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The ALB appends the client's address to X-Forwarded-For; REMOTE_ADDR is the balancer's own, so
# without this every client would share the token endpoint's throttle. 0 if nothing is in front.
REST_FRAMEWORK["NUM_PROXIES"] = num_proxies(env, "API_NUM_PROXIES", default=1)
# Throttle counts shared by every gunicorn worker of every web task: a table in the app's own
# database (created by `migrate`, hpb/migrations/0001), so the deployment needs no cache server.
CACHES = {"default": env.cache("CACHE_URL", default="dbcache://hpb_cache")}
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# The load balancer's health checks reach the container over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"

# --- Logs: structured JSON for CloudWatch, scrubbed of patient identifiers ---------------------------
LOGGING["handlers"]["console"]["formatter"] = env.str("LOG_FORMAT", default="json")
