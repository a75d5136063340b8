"""Throughput and latency of the case list and detail, next to the framework's floor.

What it does, in order:

1. Creates a PostgreSQL database of its own (`hpb_bench` on 127.0.0.1:5432 unless `--database-url`
   says otherwise; dropped at the end unless `--keep-db`), migrates it and bulk-loads `--cases`
   cases (default 10,000), each with 4 documents, 1 imaging study and 6 structures, plus a user and
   an API token.
2. Serves the project with gunicorn (2 sync workers, the image's `gunicorn.conf.py` with its access
   log, written to a file) under `benchmarks.api_settings`: the production settings (DEBUG off,
   persistent database connections; TLS to the database and the HTTPS redirect switched off, as
   the load balancer and RDS are not there) plus the benchmark's own URLconf, which adds the floor
   views (`benchmarks/api_urls.py`); no deployment can reach them.
3. Drives the load from a separate process with **wrk** (the Debian package `wrk`; a Lua script picks
   the detail ids at random and reports p50/p95). Without wrk on PATH it falls back to a Python
   client: one process per connection, each a plain `http.client` loop (gunicorn's sync workers
   close every connection, so neither client can keep it alive).
4. Measures requests per second and p50/p95 latency, all with `Authorization: Token`, for:
   - `floor`: a DRF view with the API's authentication and permission returning `{"ok": true}`;
   - `list`: `GET /api/v1/cases?limit=25` (first page, X-Total-Count included);
   - `detail`: `GET /api/v1/cases/{random id}` (4 documents, 1 study, 6 structures, 11 signed URLs);
   - `django`: a plain Django JsonResponse without authentication, printed for context only.
   Each endpoint is measured `--rounds` times, interleaved, so a burst of load from elsewhere on the
   machine skews one round rather than one endpoint. It prints the median round's figures and the
   median of the per-round throughput ratios to the floor (the target is >= 0.40).
5. With `--without token,epoch,fast` (any of them, or `all`) it also serves one more server per
   named specialisation of the read path, with that one replaced by the plain framework path
   (`BENCH_WITHOUT`, read by `benchmarks/api_settings.py` and `api_urls.py`): DRF's own
   TokenAuthentication, timestamps as psycopg loads them, DRF's field-by-field serializer. Every
   server is measured in every round (in a rotating order), alone and side by side with the all-on
   server (both loaded at once, so a burst of load from elsewhere weighs on both), and it prints what
   removing each one costs in floor, list and detail throughput, per round against the all-on server
   of the same round. What each one is and what it measured: docs/read-path.md.

Storage: `--storage filesystem` (default) signs local links with an HMAC; `--storage s3` stores
`s3://` references and presigns them with boto3 (no network involved: presigning is local).

Run (PostgreSQL on 127.0.0.1:5432 with trust auth, wrk installed), from the repository root:

    .venv/bin/python benchmarks/api.py                   # 10,000 cases, 3 rounds of 10 s
    .venv/bin/python benchmarks/api.py --storage s3 --rounds 5 --duration 15
    .venv/bin/python benchmarks/api.py --without all --rounds 5 --duration 10

Nothing here asserts a time: it prints figures and ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/hpb_bench"
STRUCTURE_NAMES = ("liver", "tumour", "portal vein", "hepatic veins", "pancreas", "bile ducts")

WRK_SCRIPT = """
local ids_max = tonumber(os.getenv("BENCH_MAX_ID") or "0")
local ids_min = tonumber(os.getenv("BENCH_MIN_ID") or "0")
local token = os.getenv("BENCH_TOKEN")
local path = os.getenv("BENCH_PATH")
math.randomseed(os.time())
request = function()
  local p = path
  if ids_max > 0 then p = path .. math.random(ids_min, ids_max) end
  return wrk.format("GET", p, {["Authorization"] = "Token " .. token})
end
done = function(summary, latency, requests)
  io.write(string.format("BENCH p50_us=%d p95_us=%d requests=%d errors_status=%d errors_other=%d duration_us=%d\\n",
    latency:percentile(50), latency:percentile(95), summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration))
end
"""


Measurement = tuple[float, float, float]  # one endpoint's run: req/s, p50 ms, p95 ms


@dataclass(frozen=True)
class BenchData:
    token: str
    min_id: int
    max_id: int


# --- Database and data -----------------------------------------------------------------------------
def _admin_dsn(database_url: str) -> tuple[str, str]:
    parsed = urlparse(database_url)
    name = parsed.path.lstrip("/")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SystemExit(f"Refusing an unusual benchmark database name: {name!r}")
    return parsed._replace(path="/postgres").geturl(), name


def recreate_database(database_url: str) -> None:
    import psycopg

    admin_url, name = _admin_dsn(database_url)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(database_url: str) -> None:
    import psycopg

    admin_url, name = _admin_dsn(database_url)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_environment(args: argparse.Namespace, storage_root: Path, *, port: int) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.api_settings",
        "DATABASE_URL": args.database_url,
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "STORAGE_ROOT": str(storage_root),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "FEATURE_FLAG_LIGHTWEIGHT_MODE": "false",
        "LOG_LEVEL": "WARNING",
        # Production settings expect TLS to the database and in front of gunicorn (the load balancer);
        # the benchmark talks plain HTTP to a local server and a local PostgreSQL.
        "DATABASE_SSLMODE": "disable",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "PYTHONPATH": str(REPO),
    }
    for name in ("S3_DOCUMENTS_BUCKET", "S3_ASSETS_BUCKET", "S3_UPLOADS_BUCKET", "AWS_S3_ENDPOINT_URL"):
        env.pop(name, None)
    if args.storage == "s3":
        env.update(
            {
                "S3_DOCUMENTS_BUCKET": "hpb-bench-documents",
                "S3_ASSETS_BUCKET": "hpb-bench-assets",
                "S3_UPLOADS_BUCKET": "hpb-bench-uploads",
                # Presigning is local computation; these credentials never reach a server.
                "AWS_ACCESS_KEY_ID": "benchmark",
                "AWS_SECRET_ACCESS_KEY": "benchmark",
                "AWS_REGION": "us-east-1",
            }
        )
    return env


def load_data(n_cases: int) -> BenchData:
    """Migrate and bulk-load the benchmark data in this process; returns the token and the id range."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, transaction
    from rest_framework.authtoken.models import Token

    from cases.models import Case, Document, Patient
    from hpb import storage
    from imaging.models import CaseStructure, ImagingStudy

    call_command("migrate", verbosity=0, interactive=False)
    batch = 2000
    started = time.monotonic()
    with transaction.atomic():
        patients = Patient.objects.bulk_create(
            [
                Patient(
                    mrn=f"BENCH-{i:07d}",
                    first_name=f"First{i}",
                    last_name=f"Last{i}",
                    date_of_birth=f"19{40 + i % 50:02d}-0{1 + i % 9}-1{i % 9}",
                    sex=("female", "male")[i % 2],
                )
                for i in range(n_cases)
            ],
            batch_size=batch,
        )
        cases = Case.objects.bulk_create(
            [
                Case(
                    patient=patient,
                    slug=f"bench-case-{i}",
                    title=f"Benchmark HPB case {i}",
                    focus=("Right hepatectomy", "Whipple", "Hilar resection")[i % 3],
                    specialty="HPB",
                    clinical_summary=f"Synthetic case {i} for the API benchmark. " * 4,
                    tags=["liver", "benchmark", f"group-{i % 10}"],
                    status=Case.Status.PUBLISHED,
                    lightweight=i % 2 == 0,
                )
                for i, patient in enumerate(patients)
            ],
            batch_size=batch,
        )
        documents = Document.objects.bulk_create(
            [
                Document(
                    slug=f"bench-doc-{case.pk}-{j}",
                    title=f"Report {j} of case {case.pk}",
                    summary="A synthetic report.",
                    mime_type="application/pdf",
                    storage_uri=storage.reference_for("documents", f"cases/{case.pk}/report-{j}.pdf"),
                    metadata={"pages": j + 1, "language": "en"},
                    full_text="Synthetic report text. " * 50,
                )
                for case in cases
                for j in range(4)
            ],
            batch_size=batch,
        )
        through = Document.cases.through
        through.objects.bulk_create(
            [through(document_id=doc.pk, case_id=cases[k // 4].pk) for k, doc in enumerate(documents)],
            batch_size=batch * 4,
        )
        studies = ImagingStudy.objects.bulk_create(
            [
                ImagingStudy(
                    case=case,
                    label="Portal venous phase CT",
                    modality="CT",
                    volume_uri=storage.reference_for("assets", f"cases/{case.pk}/studies/1/volume.vti"),
                    preview_uri=storage.reference_for("assets", f"cases/{case.pk}/studies/1/preview.png"),
                    format="vti",
                    metadata={
                        "dimensions": [512, 512, 120],
                        "spacing": [0.78, 0.78, 2.5],
                        "origin": [0.0, 0.0, 0.0],
                        "direction": [1, 0, 0, 0, 1, 0, 0, 0, 1],
                        "scalar_range": [-1024, 3071],
                        "units": "HU",
                    },
                )
                for case in cases
            ],
            batch_size=batch,
        )
        CaseStructure.objects.bulk_create(
            [
                CaseStructure(
                    case_id=study.case_id,
                    imaging_study=study,
                    name=name,
                    color_hex="#A0522D",
                    mesh_uri=storage.reference_for("assets", f"cases/{study.case_id}/structures/{k}.vtp"),
                    metadata={"label": k + 1, "volume_ml": 100.0 + k, "points": 20000, "cells": 40000},
                )
                for study in studies
                for k, name in enumerate(STRUCTURE_NAMES)
            ],
            batch_size=batch * 3,
        )
        user = get_user_model().objects.create_user("bench", password=secrets.token_urlsafe(16))
        token = Token.objects.create(user=user)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(
        f"Loaded {len(cases)} cases, {len(documents)} documents, {len(studies)} studies, "
        f"{len(studies) * len(STRUCTURE_NAMES)} structures in {time.monotonic() - started:.1f} s."
    )
    ids = [case.pk for case in cases]
    return BenchData(token=token.key, min_id=min(ids), max_id=max(ids))


# --- Server ---------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(env: dict[str, str], port: int, workers: int, log_path: Path) -> subprocess.Popen:
    """gunicorn with the image's gunicorn.conf.py (access log included), its output sent to a file."""
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child, closed with this process
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--config",
            str(REPO / "gunicorn.conf.py"),
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("gunicorn exited during start-up.")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return process
        except OSError:
            time.sleep(0.2)
    stop(process)
    raise SystemExit("gunicorn did not answer /healthz within 30 s.")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def check_endpoint(base: str, path: str, token: str | None) -> dict | list:
    request = urllib.request.Request(base + path)  # noqa: S310
    if token:
        request.add_header("Authorization", f"Token {token}")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        if response.status != 200:
            raise SystemExit(f"{path} answered {response.status}")
        return json.loads(response.read())


# --- Load generators ------------------------------------------------------------------------------
def run_wrk(
    base: str, path: str, *, token: str, ids: tuple[int, int] | None, args: argparse.Namespace, duration: int
) -> Measurement:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    env = {**os.environ, "BENCH_TOKEN": token, "BENCH_PATH": path}
    if ids:
        env.update({"BENCH_MIN_ID": str(ids[0]), "BENCH_MAX_ID": str(ids[1])})
    try:
        output = subprocess.run(
            [
                "wrk",
                "-t",
                str(args.threads),
                "-c",
                str(args.connections),
                "-d",
                f"{duration}s",
                "-s",
                script.name,
                base,
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    match = re.search(
        r"BENCH p50_us=(\d+) p95_us=(\d+) requests=(\d+) errors_status=(\d+) errors_other=(\d+) duration_us=(\d+)",
        output,
    )
    if not match:
        raise SystemExit(f"Could not read wrk's output:\n{output}")
    p50, p95, requests, bad_status, other, duration_us = map(int, match.groups())
    if bad_status:
        raise SystemExit(f"{path}: {bad_status} responses were not 2xx/3xx; the benchmark is invalid.\n{output}")
    if other > requests * 0.01:
        raise SystemExit(f"{path}: {other} socket errors out of {requests} requests.\n{output}")
    return requests / (duration_us / 1e6), p50 / 1000, p95 / 1000


def _python_client_worker(
    base: str, path: str, token: str, ids: tuple[int, int] | None, until: float, queue: multiprocessing.Queue
) -> None:
    import http.client
    import random

    host = urlparse(base)
    assert host.hostname is not None
    latencies = []
    errors = 0
    while time.monotonic() < until:
        target = path + (str(random.randint(*ids)) if ids else "")
        started = time.perf_counter()
        conn = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
        try:
            conn.request("GET", target, headers={"Authorization": f"Token {token}", "Connection": "keep-alive"})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors += 1
        except OSError:
            errors += 1
        finally:
            conn.close()
        latencies.append(time.perf_counter() - started)
    queue.put((latencies, errors))


def run_python_client(
    base: str, path: str, *, token: str, ids: tuple[int, int] | None, args: argparse.Namespace, duration: int
) -> Measurement:
    queue: multiprocessing.Queue[tuple[list[float], int]] = multiprocessing.Queue()
    started = time.monotonic()
    until = started + duration
    procs = [
        multiprocessing.Process(target=_python_client_worker, args=(base, path, token, ids, until, queue))
        for _ in range(args.connections)
    ]
    for proc in procs:
        proc.start()
    latencies: list[float] = []
    errors = 0
    for _ in procs:
        chunk, chunk_errors = queue.get()
        latencies += chunk
        errors += chunk_errors
    for proc in procs:
        proc.join()
    elapsed = time.monotonic() - started
    if errors:
        raise SystemExit(f"{path}: {errors} failed requests; the benchmark is invalid.")
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p95 = latencies[int(len(latencies) * 0.95)] * 1000
    return len(latencies) / elapsed, p50, p95


# --- Main ---------------------------------------------------------------------------------------
ENDPOINTS = (
    ("floor", "/bench/floor", False),
    ("list", "/api/v1/cases?limit=25", False),
    ("detail", "/api/v1/cases/", True),  # a random case id is appended to each request
)
# What --without can switch off (benchmarks/api_settings.py and api_urls.py swap in the plain path).
SPECIALISATIONS = ("token", "epoch", "fast")
# The specialisations the floor view itself runs (its authentication), so its ratio cannot normalise theirs.
FLOOR_RUNS = frozenset({"token"})
# A specialisation stays only if removing it costs at least this much list or detail throughput.
KEEP_THRESHOLD = 0.05
TARGET_VS_FLOOR = 0.40


@dataclass
class Variant:
    """One server: the read path with everything on, or with the specialisations in `without` off."""

    without: frozenset[str]
    port: int
    process: subprocess.Popen | None = None

    @property
    def name(self) -> str:
        return "all on" if not self.without else "without " + "+".join(sorted(self.without))

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def parse_without(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if names == ["all"]:
        return list(SPECIALISATIONS)
    unknown = sorted(set(names) - set(SPECIALISATIONS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown specialisation(s) {unknown}; choose from {SPECIALISATIONS}")
    return list(dict.fromkeys(names))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--duration", type=int, default=10, help="seconds per endpoint per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per endpoint")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--storage", choices=("filesystem", "s3"), default="filesystem")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--port", type=int, default=0, help="port of the all-on server (variants get free ones)")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument(
        "--without",
        type=parse_without,
        default=[],
        metavar="NAME[,NAME...]",
        help=(
            f"also serve, and measure in the same interleaved rounds, the read path with each of these "
            f"specialisations replaced by the plain framework path ({', '.join(SPECIALISATIONS)}, or all)"
        ),
    )
    return parser.parse_args()


def check_variant(variant: Variant, token: str, ids: tuple[int, int]) -> None:
    """Every endpoint answers 200 with what it should, and the server runs the read path it should."""
    assert len(check_endpoint(variant.base, "/api/v1/cases?limit=25", token)) == 25
    detail = check_endpoint(variant.base, f"/api/v1/cases/{ids[0]}", token)
    assert isinstance(detail, dict)
    assert len(detail["documents"]) == 4
    assert len(detail["structures"]) == 6
    assert "s3://" not in json.dumps(detail)
    assert "storage://" not in json.dumps(detail)
    check_endpoint(variant.base, "/bench/floor", token)
    paths = check_endpoint(variant.base, "/bench/paths", None)
    expected = {name: name not in variant.without for name in SPECIALISATIONS}
    if paths != expected:
        raise SystemExit(f"{variant.name}: the server runs {paths}, not {expected}.")


def _median_round(measurements: list[Measurement]) -> Measurement:
    return sorted(measurements, key=lambda m: m[0])[len(measurements) // 2]


def _spread(values: list[float]) -> float:
    return statistics.pstdev(values) / statistics.mean(values)


def report_variant(variant: Variant, rounds: dict[str, list[Measurement]]) -> dict[str, float]:
    """Print one server's figures; returns the median per-round throughput ratio of each endpoint to its floor."""
    ratios = {
        name: statistics.median(m[0] / f[0] for m, f in zip(measurements, rounds["floor"], strict=True))
        for name, measurements in rounds.items()
    }
    print(f"\n{variant.name}:")
    print(f"{'endpoint':<10}{'req/s':>10}{'p50 ms':>10}{'p95 ms':>10}{'vs floor':>10}{'spread':>10}")
    for name, measurements in rounds.items():
        rps, p50, p95 = _median_round(measurements)
        spread = _spread([m[0] for m in measurements])
        print(f"{name:<10}{rps:>10.1f}{p50:>10.2f}{p95:>10.2f}{ratios[name]:>10.2f}{spread:>10.0%}")
    return ratios


def _cost_cell(costs: list[float]) -> str:
    return f"{statistics.median(costs):+.1%} ({min(costs):+.1%} .. {max(costs):+.1%})"


def report_specialisations(
    baseline: dict[str, list[Measurement]],
    variants: list[tuple[Variant, dict[str, list[Measurement]], dict[str, list[tuple[float, float]]]]],
) -> None:
    """The cost of removing each specialisation: 1 - off/on, per round, median and range over rounds.

    "alone": each server measured on its own, back to back with the all-on one (same round). "side by
    side": both servers loaded at the same moment for the same seconds, so whatever else runs on the
    machine weighs on both alike; with every worker busy the CPU is shared between them, and their
    throughput ratio is the inverse ratio of what a request costs on each. Side by side is not exactly
    fair (the all-on server, loaded in every pair, comes out a few per cent slower even on the floor,
    whose code is the same on both), so where the floor does not run the specialisation the endpoint's
    ratio is divided by the floor's of the same round ("normalised"): the verdict reads that one, else
    the plain side-by-side cost (which then errs towards removing).
    """
    print(
        "\n| specialisation | floor cost, side by side | list req/s on / off, alone | list cost: alone"
        " / side by side / normalised | detail req/s on / off, alone | detail cost: alone / side by side"
        " / normalised | verdict |"
    )
    print("|---|---|---|---|---|---|---|")
    for variant, rounds, pairs in variants:
        floor_ratios = [off / on for on, off in pairs["floor"]]
        cells = [_cost_cell([1 - ratio for ratio in floor_ratios])]
        normalise = not (variant.without & FLOOR_RUNS)
        verdict_costs = []
        for name in ("list", "detail"):
            alone = [1 - off[0] / on[0] for on, off in zip(baseline[name], rounds[name], strict=True)]
            side_by_side = [1 - off / on for on, off in pairs[name]]
            costs = [_cost_cell(alone), _cost_cell(side_by_side)]
            if normalise:
                normalised = [
                    1 - (off / on) / floor for (on, off), floor in zip(pairs[name], floor_ratios, strict=True)
                ]
                costs.append(_cost_cell(normalised))
                verdict_costs.append(statistics.median(normalised))
            else:
                costs.append("n/a (the floor runs it)")
                verdict_costs.append(statistics.median(side_by_side))
            on_rps, off_rps = _median_round(baseline[name])[0], _median_round(rounds[name])[0]
            cells += [f"{on_rps:.0f} / {off_rps:.0f}", " / ".join(costs)]
        keep = max(verdict_costs) >= KEEP_THRESHOLD
        verdict = "keep" if keep else f"remove (< {KEEP_THRESHOLD:.0%} on both)"
        print(f"| {'+'.join(sorted(variant.without))} | " + " | ".join(cells) + f" | {verdict} |")
    print(
        "(cost: throughput lost when the specialisation is replaced by the plain path, median of the per-round "
        "ratios, range over rounds in brackets; req/s: median round)"
    )


@dataclass
class Load:
    """Drives `run` (wrk or the Python client) with the benchmark's token and case ids."""

    run: Callable[..., Measurement]
    args: argparse.Namespace
    token: str
    ids: tuple[int, int]

    def measure(self, variant: Variant, path: str, with_ids: bool, duration: int) -> Measurement:
        ids = self.ids if with_ids else None
        return self.run(variant.base, path, token=self.token, ids=ids, args=self.args, duration=duration)

    def side_by_side(
        self, on: Variant, off: Variant, path: str, with_ids: bool, *, off_first: bool
    ) -> tuple[float, float]:
        """req/s of `on` and of `off`, loaded at the same time for the same seconds (started in either order)."""
        with ThreadPoolExecutor(max_workers=2) as pool:
            first, second = (off, on) if off_first else (on, off)
            first_run = pool.submit(self.measure, first, path, with_ids, self.args.duration)
            second_run = pool.submit(self.measure, second, path, with_ids, self.args.duration)
            results = {first.name: first_run.result()[0], second.name: second_run.result()[0]}
        return results[on.name], results[off.name]


@dataclass
class Rounds:
    """Every measurement of a run, per server and endpoint, one entry per round."""

    alone: dict[str, dict[str, list[Measurement]]]
    # (all-on req/s, variant req/s) of the side-by-side runs.
    pairs: dict[str, dict[str, list[tuple[float, float]]]]
    django: list[Measurement]

    @classmethod
    def empty(cls, variants: list[Variant]) -> Rounds:
        return cls(
            alone={variant.name: {name: [] for name, _, _ in ENDPOINTS} for variant in variants},
            pairs={variant.name: {name: [] for name, _, _ in ENDPOINTS} for variant in variants[1:]},
            django=[],
        )


def start_servers(variants: list[Variant], args: argparse.Namespace, storage_root: Path, data: BenchData) -> None:
    for variant in variants:
        variant_env = {
            **server_environment(args, storage_root, port=variant.port),
            "BENCH_WITHOUT": ",".join(sorted(variant.without)),
        }
        log = storage_root / f"gunicorn-{variant.port}.log"
        variant.process = start_gunicorn(variant_env, variant.port, args.workers, log)
        check_variant(variant, data.token, (data.min_id, data.max_id))


def measure_rounds(load: Load, variants: list[Variant], rounds: Rounds) -> None:
    """Warm every server up, then measure `--rounds` rounds of every endpoint on every server."""
    args = load.args
    for variant in variants:
        for _, path, with_ids in ENDPOINTS:
            load.measure(variant, path, with_ids, args.warmup)
    for round_number in range(args.rounds):
        # Every server is measured in every round, each endpoint on every server back to back (in a
        # rotating order), so the runs compared with each other share the machine's load of the moment
        # and a burst of load from elsewhere skews one round's figures rather than one variant's.
        shift = round_number % len(variants)
        for name, path, with_ids in ENDPOINTS:
            for variant in variants[shift:] + variants[:shift]:
                rounds.alone[variant.name][name].append(load.measure(variant, path, with_ids, args.duration))
        rounds.django.append(load.measure(variants[0], "/bench/floor-django", False, args.duration))
        for name, path, with_ids in ENDPOINTS:
            for variant in variants[1:]:
                pair = load.side_by_side(variants[0], variant, path, with_ids, off_first=round_number % 2 == 1)
                rounds.pairs[variant.name][name].append(pair)
        print_round(round_number, variants, rounds)


def print_round(round_number: int, variants: list[Variant], rounds: Rounds) -> None:
    alone = "; ".join(
        f"{v.name}: " + ", ".join(f"{n} {rounds.alone[v.name][n][-1][0]:.0f}/s" for n, _, _ in ENDPOINTS)
        for v in variants
    )
    print(f"  round {round_number + 1}: {alone}; django {rounds.django[-1][0]:.0f}/s")
    if len(variants) > 1:
        paired = "; ".join(
            f"{v.name}: "
            + ", ".join(f"{n} {off / on:.2f}" for n, _, _ in ENDPOINTS for on, off in [rounds.pairs[v.name][n][-1]])
            for v in variants[1:]
        )
        print(f"    side by side, off/on: {paired}")


def report(variants: list[Variant], rounds: Rounds) -> None:
    # Each round measures every endpoint back to back, so a round's ratios share the machine's load
    # at that moment; the median over rounds is the figure reported.
    ratios = {variant.name: report_variant(variant, rounds.alone[variant.name]) for variant in variants}
    django_rps = _median_round(rounds.django)[0]
    django_spread = _spread([m[0] for m in rounds.django])
    print(f"\ndjango (no authentication, for context): {django_rps:.1f} req/s, spread {django_spread:.0%}")
    print("(req/s and latencies: median round; vs floor: median of the per-round throughput ratios;")
    print(" spread: round-to-round stdev/mean of req/s)")
    for name in ("list", "detail"):
        ratio = ratios["all on"][name]
        verdict = "met" if ratio >= TARGET_VS_FLOOR else "NOT met"
        print(f"{name}: {ratio:.2f} of the floor's throughput (target >= {TARGET_VS_FLOOR:.2f}): {verdict}")
    if len(variants) > 1:
        report_specialisations(
            rounds.alone["all on"], [(v, rounds.alone[v.name], rounds.pairs[v.name]) for v in variants[1:]]
        )


def main() -> None:
    args = parse_args()
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    storage_root = Path(tempfile.mkdtemp(prefix="hpb-bench-storage-"))
    variants = [Variant(frozenset(), args.port or free_port())]
    variants += [Variant(frozenset({name}), free_port()) for name in args.without]
    os.environ.update(server_environment(args, storage_root, port=variants[0].port))
    sys.path.insert(0, str(REPO))

    recreate_database(args.database_url)
    rounds = Rounds.empty(variants)
    try:
        data = load_data(args.cases)
        start_servers(variants, args, storage_root, data)
        print(
            f"gunicorn: {args.workers} sync workers per server; load: {client}, {args.connections} connections; "
            f"storage: {args.storage}; {args.rounds} rounds x {args.duration} s per endpoint; "
            f"servers: {', '.join(variant.name for variant in variants)}."
        )
        run = run_wrk if client == "wrk" else run_python_client
        measure_rounds(Load(run, args, data.token, (data.min_id, data.max_id)), variants, rounds)
    finally:
        for variant in variants:
            if variant.process is not None:
                stop(variant.process)
        if not args.keep_db:
            drop_database(args.database_url)
        shutil.rmtree(storage_root, ignore_errors=True)
    report(variants, rounds)


if __name__ == "__main__":
    main()
