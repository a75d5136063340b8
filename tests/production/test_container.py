"""The Dockerfile builds with the Makefile's tested targets, runs as non-root, and gunicorn logs no queries.

No Docker engine runs on the CI machine, so the image is checked by reading it and by running the same
make targets it runs.
"""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_image_runs_as_an_unprivileged_user():
    users = re.findall(r"^USER\s+(\S+)", DOCKERFILE, flags=re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0")


def test_image_installs_through_the_make_targets_it_shares_with_ci():
    targets = re.findall(r"^RUN make ([a-z-]+)", DOCKERFILE, flags=re.MULTILINE)
    assert {"install-production", "collectstatic"} <= set(targets)
    for target in targets:
        dry_run = subprocess.run(["make", "-n", target, "VENV=/tmp/hpb-dry-run-venv"], cwd=ROOT, capture_output=True)
        assert dry_run.returncode == 0, dry_run.stderr


def test_image_has_the_gl_libraries_vtk_needs_and_the_codecs():
    for package in ("libgl1", "libegl1", "libxrender1", "libgomp1"):
        assert package in DOCKERFILE
    requirements = ROOT / "requirements"
    production = (requirements / "production.txt").read_text() + (requirements / "base.txt").read_text()
    for codec in ("pylibjpeg-libjpeg", "pylibjpeg-openjpeg", "pyjpegls", "pycurl", "gunicorn"):
        assert codec in production


def test_gunicorn_access_log_leaves_out_query_strings():
    namespace: dict = {}
    exec((ROOT / "gunicorn.conf.py").read_text(), namespace)  # noqa: S102 - our own config file
    assert "%(U)s" in namespace["access_log_format"]
    for with_query in ("%(r)s", "%(q)s", "%({raw_uri}e)s"):
        assert with_query not in namespace["access_log_format"]
