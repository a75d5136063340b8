"""scripts/env_from_terraform.py: `terraform output -json` -> the app's .env, never a secret value.

The sample in fixtures/terraform_outputs.json has the shape `terraform output -json` prints for this
stack (every output of terraform/outputs.tf, with types and sensitivity flags). No Django, no database.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = Path(__file__).with_name("fixtures") / "terraform_outputs.json"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("env_from_terraform", ROOT / "scripts" / "env_from_terraform.py")
    assert spec is not None and spec.loader is not None, "a .py file has a spec with a loader"
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("env_from_terraform", module)
    spec.loader.exec_module(module)
    return module


script = _load_script()


def sample_outputs() -> dict:
    return json.loads(SAMPLE.read_text())


def parse_env(text: str) -> dict[str, str]:
    """The assignments of a .env text, as a shell or django-environ would read the simple forms used."""
    values = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, value = line.partition("=")
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", name), line
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        values[name] = value
    return values


DB_SECRET_ARN = (
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b-AbCdEf"
)

EXPECTED = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "DJANGO_ALLOWED_HOSTS": "api.hpb.example.org",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://api.hpb.example.org",
    "DATABASE_HOST": "hpb-prod-db.c9akciq32.eu-west-1.rds.amazonaws.com",
    "DATABASE_PORT": "5432",
    "DATABASE_NAME": "hpb",
    "DATABASE_USER": "hpb_admin",
    "AWS_REGION": "eu-west-1",
    "S3_DOCUMENTS_BUCKET": "hpb-prod-documents-123456789012",
    "S3_ASSETS_BUCKET": "hpb-prod-assets-123456789012",
    "S3_UPLOADS_BUCKET": "hpb-prod-uploads-123456789012",
    "S3_VIEWER_BUCKET": "hpb-prod-viewer-123456789012",
    "VIEWER_BUNDLE_PREFIX": "liverCases",
    "VIEWER_BUNDLE_VOLUME": "full",
    "STORAGE_URL_EXPIRY_SECONDS": "900",
    "CELERY_BROKER_URL": "sqs://",
    "CELERY_SQS_QUEUE_NAME": "hpb-prod-celery",
    "CELERY_SQS_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/hpb-prod-celery",
    "INGEST_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/hpb-prod-ingest",
    "CONVERSION_TIME_LIMIT_SECONDS": "1800",
    "FEATURE_FLAG_LIGHTWEIGHT_MODE": "false",
    "CORS_ORIGINS": "https://viewer.hpb.example.org,https://hpb-viewer.example.org",
    "LOG_FORMAT": "json",
    "LOG_LEVEL": "INFO",
}


def test_renders_every_plain_setting_from_the_sample():
    assert parse_env(script.render_env(sample_outputs())) == EXPECTED


def test_secrets_are_commented_with_their_arn_and_a_fetch_command():
    text = script.render_env(sample_outputs())
    assignments = parse_env(text)
    assert "DJANGO_SECRET_KEY" not in assignments
    assert "DATABASE_PASSWORD" not in assignments
    secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:hpb-prod/django-secret-key-Xy12Zq"
    db_arn = DB_SECRET_ARN
    comments = [line for line in text.splitlines() if line.startswith("#")]
    assert any("DJANGO_SECRET_KEY" in line and secret_arn in line for line in comments)
    assert any("DATABASE_PASSWORD" in line and db_arn in line and '"password"' in line for line in comments)
    fetch = [line for line in comments if "get-secret-value" in line]
    assert len(fetch) == 2
    assert all("--region eu-west-1" in line for line in fetch)
    # The RDS secret ARN contains "!", which an interactive shell would expand: it must be quoted.
    assert f"'{db_arn}'" in text


def test_fetch_commands_work_in_a_shell(tmp_path):
    """Run the commented export lines with a fake `aws` that prints the secret string."""
    fake_aws = tmp_path / "bin" / "aws"
    fake_aws.parent.mkdir()
    fake_aws.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        '  *rds!db-*) echo \'{"username": "hpb_admin", "password": "p4ss w0rd;$x"}\' ;;\n'
        "  *django-secret-key*) echo 'django-key' ;;\n"
        "  *) exit 3 ;;\n"
        "esac\n"
    )
    fake_aws.chmod(0o755)
    exports = [
        line.removeprefix("#   ")
        for line in script.render_env(sample_outputs()).splitlines()
        if line.startswith("#   export ")
    ]
    assert len(exports) == 2
    shell = "\n".join([*exports, 'printf "%s|%s" "$DJANGO_SECRET_KEY" "$DATABASE_PASSWORD"'])
    result = subprocess.run(
        ["bash", "-c", shell],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": f"{fake_aws.parent}:{os.environ['PATH']}"},
    )
    assert result.stdout == "django-key|p4ss w0rd;$x"


def test_sensitive_outputs_are_never_written():
    outputs = sample_outputs()
    outputs["database_host"]["sensitive"] = True
    text = script.render_env(outputs)
    assert "hpb-prod-db.c9akciq32" not in text
    assert "DATABASE_HOST" not in parse_env(text)
    assert "# DATABASE_HOST=" in text


def test_no_value_of_a_secret_leaks_even_if_outputs_carry_one():
    # A careless future output holding a secret value (marked sensitive, as Terraform requires).
    outputs = sample_outputs()
    outputs["django_secret_key"] = {"sensitive": True, "type": "string", "value": "s3cr3t-K3y-value"}
    assert "s3cr3t-K3y-value" not in script.render_env(outputs)


def test_plain_value_form_and_value_types():
    plain = {name: entry["value"] for name, entry in sample_outputs().items()}
    plain["database_port"] = 5432
    plain["feature_flag_lightweight_mode"] = True
    plain["cors_origins"] = ["https://a.example.org", "https://b.example.org"]
    values = parse_env(script.render_env(plain))
    assert values["DATABASE_PORT"] == "5432"
    assert values["FEATURE_FLAG_LIGHTWEIGHT_MODE"] == "true"
    assert values["CORS_ORIGINS"] == "https://a.example.org,https://b.example.org"


def test_missing_outputs_are_all_named():
    outputs = sample_outputs()
    del outputs["ingest_queue_url"]
    del outputs["database_credentials_secret_arn"]
    with pytest.raises(script.MissingOutputsError) as error:
        script.render_env(outputs)
    assert "ingest_queue_url" in str(error.value)
    assert "database_credentials_secret_arn" in str(error.value)


def test_odd_values_are_quoted_and_unsafe_ones_refused():
    assert script.format_value("a b#c") == "'a b#c'"
    assert script.format_value("sqs://") == "sqs://"
    with pytest.raises(ValueError, match="newline or a single quote"):
        script.format_value("line\nbreak")
    with pytest.raises(ValueError, match="newline or a single quote"):
        script.format_value("it's")
    with pytest.raises(TypeError):
        script.format_value({"a": 1})


def test_secret_output_must_be_an_arn():
    outputs = sample_outputs()
    outputs["django_secret_key_secret_arn"]["value"] = "the-secret-itself"
    with pytest.raises(ValueError, match="should be a Secrets Manager ARN"):
        script.render_env(outputs)


def test_django_environ_reads_the_file(tmp_path, monkeypatch):
    environ = pytest.importorskip("environ")
    path = tmp_path / ".env"
    path.write_text(script.render_env(sample_outputs()))
    target: dict[str, str] = {}
    monkeypatch.setattr(environ.Env, "ENVIRON", target)
    environ.Env.read_env(str(path), overwrite=True)
    assert target == EXPECTED


def test_cli_writes_a_private_file(tmp_path, capsys):
    source = tmp_path / "outputs.json"
    source.write_text(SAMPLE.read_text())
    out = tmp_path / ".env"
    assert script.main([str(source), "--out", str(out)]) == 0
    assert parse_env(out.read_text()) == EXPECTED
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert script.main([str(source)]) == 0
    assert parse_env(capsys.readouterr().out) == EXPECTED


def test_cli_reports_bad_input(tmp_path, capsys):
    source = tmp_path / "outputs.json"
    source.write_text("{not json")
    assert script.main([str(source)]) == 1
    assert "env_from_terraform" in capsys.readouterr().err


def test_tables_match_the_terraform_outputs():
    declared = set(re.findall(r'^output "(\w+)"', (ROOT / "terraform" / "outputs.tf").read_text(), re.M))
    used = {output for _, output in script.PLAIN_SETTINGS} | {output for _, output, _ in script.SECRET_SETTINGS}
    assert used <= declared, used - declared
    assert set(sample_outputs()) == declared, "the sample must list exactly the stack's outputs"


def test_sample_app_environment_matches_individual_outputs():
    outputs = sample_outputs()
    environment = outputs["app_environment"]["value"]
    for env_name, output in script.PLAIN_SETTINGS:
        if env_name in environment:
            assert environment[env_name] == outputs[output]["value"], env_name
    assert set(environment) | {"DATABASE_USER"} == {name for name, _ in script.PLAIN_SETTINGS}
