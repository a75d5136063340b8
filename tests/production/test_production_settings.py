"""Production settings: refuse to start without secrets, pass `check --deploy`, serve static, log safely.

Production settings are a different settings module, so each check runs in a child process with a
production-like environment (SQLite in memory stands in for RDS where no query is needed).
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "DJANGO_SECRET_KEY": "x" * 60 + "-a-long-random-looking-secret-for-tests-only-9f8e7d",
    "DJANGO_ALLOWED_HOSTS": "hpb.example.org",
    "DATABASE_URL": "sqlite:///:memory:",
}


def _run(args: list[str], env_overrides: dict[str, str | None], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env.update(PRODUCTION_ENV)
    for key, value in env_overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_check_deploy_prints_no_warning():
    result = _run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], {})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("variable", ["DJANGO_SECRET_KEY", "DATABASE_URL", "DJANGO_ALLOWED_HOSTS"])
def test_refuses_to_start_naming_the_missing_variable(variable):
    result = _run([sys.executable, "manage.py", "check"], {variable: None})
    assert result.returncode != 0
    assert f"need the {variable} environment variable" in result.stderr


def test_database_url_may_be_composed_from_parts_for_ecs():
    script = "from django.conf import settings; import json; print(json.dumps(settings.DATABASES['default']))"
    result = _run(
        [sys.executable, "-c", f"import django; django.setup(); {script}"],
        {
            "DATABASE_URL": None,
            "DATABASE_HOST": "db.internal",
            "DATABASE_USER": "hpb",
            "DATABASE_PASSWORD": "p@ss/word",
            "DATABASE_NAME": "hpb",
        },
    )
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert (config["HOST"], config["USER"], config["PASSWORD"], config["NAME"]) == (
        "db.internal",
        "hpb",
        "p@ss/word",
        "hpb",
    )
    assert config["OPTIONS"]["sslmode"] == "require"


def test_whitenoise_serves_admin_static_and_https_is_enforced(tmp_path):
    script = textwrap.dedent(
        f"""
        import os, json
        os.environ["HPB_TEST_STATIC_ROOT"] = {str(tmp_path)!r}
        import django
        from django.conf import settings
        django.setup()
        settings.STATIC_ROOT = {str(tmp_path)!r}
        from django.core.management import call_command
        call_command("collectstatic", interactive=False, verbosity=0)
        from whitenoise.middleware import WhiteNoiseMiddleware
        from django.test import Client
        client = Client(HTTP_HOST="hpb.example.org")
        plain = client.get("/admin/login/")
        secure = client.get("/admin/login/", secure=True)
        css = client.get("/static/admin/css/base.css", secure=True)
        print(json.dumps({{
            "plain": plain.status_code, "location": plain.get("Location", ""),
            "secure_hsts": secure.get("Strict-Transport-Security", ""),
            "css": css.status_code, "css_type": css.get("Content-Type", ""),
        }}))
        """
    )
    result = _run([sys.executable, "-c", script], {})
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["plain"] == 301 and outcome["location"].startswith("https://hpb.example.org/")
    assert "max-age=31536000" in outcome["secure_hsts"]
    assert outcome["css"] == 200 and outcome["css_type"].startswith("text/css")


def test_health_check_answers_the_load_balancer_probe_over_plain_http_with_any_host():
    script = textwrap.dedent(
        """
        import json, django
        django.setup()
        from django.test import Client
        client = Client(HTTP_HOST="10.0.3.17:8000")
        get = client.get("/healthz")
        head = client.head("/healthz")
        other = client.get("/admin/login/")
        print(json.dumps({"get": get.status_code, "body": get.json(), "head": head.status_code,
                          "other": other.status_code}))
        """
    )
    result = _run([sys.executable, "-c", script], {})
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["get"] == 200 and outcome["body"] == {"status": "ok", "database": "ok"}
    assert outcome["head"] == 200
    assert outcome["other"] == 400  # every other path still refuses an unknown Host


def test_json_logs_carry_no_patient_identifier():
    script = textwrap.dedent(
        """
        import logging, django
        django.setup()
        from django.test import RequestFactory
        request = RequestFactory().get("/api/v1/search", {"q": "Hartley MRN-778812"})
        logging.getLogger("django.request").warning("Bad Request: %s", request.path, extra={"request": request,
            "status_code": 400})
        logging.getLogger("hpb.test").warning("job %(job)s", {"job": 7, "mrn": "MRN-778812"})
        logging.getLogger("hpb.test").warning("patient touched", extra={"first_name": "Hartley"})
        """
    )
    result = _run([sys.executable, "-c", script], {"LOG_FORMAT": None})
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.strip().splitlines()]
    assert len(lines) == 3
    assert lines[0]["request"] == "GET /api/v1/search" and lines[0]["level"] == "WARNING"
    assert "Hartley" not in result.stderr and "778812" not in result.stderr


def test_health_check_reports_an_unreachable_database_as_503():
    script = textwrap.dedent(
        """
        import json, django
        django.setup()
        from django.test import Client
        response = Client(HTTP_HOST="10.0.3.17:8000").get("/healthz")
        print(json.dumps({"status": response.status_code, "body": response.json()}))
        """
    )
    closed_port = "postgres://postgres@127.0.0.1:9/hpb?connect_timeout=2"
    result = _run([sys.executable, "-c", script], {"DATABASE_URL": closed_port})
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {"status": 503, "body": {"status": "error", "database": "unavailable"}}


def _settings_json(script: str, env_overrides: dict[str, str | None]) -> dict:
    code = f"import json, django; django.setup(); from django.conf import settings; print(json.dumps({script}))"
    result = _run([sys.executable, "-c", code], env_overrides)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


_THROTTLE_SETTINGS = (
    '{"proxies": settings.REST_FRAMEWORK["NUM_PROXIES"], "rates": settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], '
    '"cache": settings.CACHES["default"]}'
)
_UNSET_THROTTLE_ENV: dict[str, str | None] = {
    "API_NUM_PROXIES": None,
    "API_TOKEN_THROTTLE_RATE": None,
    "API_TOKEN_USERNAME_THROTTLE_RATE": None,
    "CACHE_URL": None,
}


def test_throttle_defaults_trust_the_one_load_balancer():
    outcome = _settings_json(_THROTTLE_SETTINGS, _UNSET_THROTTLE_ENV)
    assert outcome["proxies"] == 1
    assert outcome["rates"] == {
        "token": "10/min",
        "token_username": "10/min",
        "admin_login": "10/min",
        "admin_login_username": "10/min",
    }
    # shared by every worker and task: a table in the app's database, made by migrate
    assert outcome["cache"]["BACKEND"] == "django.core.cache.backends.db.DatabaseCache"
    assert outcome["cache"]["LOCATION"] == "hpb_cache"


def test_throttle_settings_come_from_the_environment():
    outcome = _settings_json(
        _THROTTLE_SETTINGS,
        {
            "API_NUM_PROXIES": "0",
            "API_TOKEN_THROTTLE_RATE": "30/hour",
            "API_TOKEN_USERNAME_THROTTLE_RATE": "5/min",
            "CACHE_URL": "redis://cache.internal:6379/1",
        },
    )
    assert outcome["proxies"] == 0
    assert outcome["rates"] == {
        "token": "30/hour",
        "token_username": "5/min",
        "admin_login": "30/hour",
        "admin_login_username": "5/min",
    }
    assert outcome["cache"]["BACKEND"].endswith("RedisCache")
    assert "cache.internal:6379" in str(outcome["cache"]["LOCATION"])


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("API_TOKEN_THROTTLE_RATE", "10/week"),
        ("API_TOKEN_USERNAME_THROTTLE_RATE", "many"),
        ("API_NUM_PROXIES", "-1"),
    ],
)
def test_refuses_to_start_with_a_malformed_throttle_setting_naming_it(variable, value):
    result = _run([sys.executable, "manage.py", "check"], {**_UNSET_THROTTLE_ENV, variable: value})
    assert result.returncode != 0
    assert f"{variable} must be" in result.stderr


def test_the_token_exchange_is_throttled_per_client_behind_the_load_balancer():
    """Production settings end to end: the ALB's X-Forwarded-For entry is the client, 429 is JSON with Retry-After.

    `migrate` on the in-memory database creates the cache table the counts live in (production's
    default database cache); GETs (405) count like any attempt.
    """
    script = textwrap.dedent(
        """
        import json, django
        django.setup()
        from django.core.management import call_command
        call_command("migrate", verbosity=0)
        from django.test import Client
        client = Client(HTTP_HOST="hpb.example.org", REMOTE_ADDR="10.0.1.17")
        def get(forwarded):
            return client.get("/api/v1/auth/token", secure=True, HTTP_X_FORWARDED_FOR=forwarded)
        first, second = get("203.0.113.9"), get("1.1.1.1, 203.0.113.9")
        third = get("2.2.2.2, 203.0.113.9")
        other = get("198.51.100.7")
        from django.db import connection
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM hpb_cache")
            counters = cursor.fetchone()[0]
        print(json.dumps({"first": first.status_code, "second": second.status_code, "third": third.status_code,
                          "body": third.json(), "retry_after": third.get("Retry-After"),
                          "other": other.status_code, "counters": counters}))
        """
    )
    result = _run([sys.executable, "-c", script], {**_UNSET_THROTTLE_ENV, "API_TOKEN_THROTTLE_RATE": "2/min"})
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert (outcome["first"], outcome["second"], outcome["third"], outcome["other"]) == (405, 405, 429, 405)
    assert outcome["body"]["code"] == "throttled"
    assert 1 <= int(outcome["retry_after"]) <= 60
    assert outcome["counters"] == 2  # one per client address, in the database cache
