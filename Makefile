# The two commands of the README: `make run` and `make test`. Everything else is a step of those.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && echo $$p && break; done)
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: collectstatic serve-production run test install-local install-test install-production migrate seed serve lint check-migrations contracts typecheck pytest worker listener terraform-check clean

$(VENV)/.created:
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed (python3.11, python3.12 or python3.13 on PATH)."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	touch $@

$(VENV)/.installed-%: requirements/%.txt requirements/base.txt $(VENV)/.created
	$(BIN)/python -m pip install --quiet -r requirements/$*.txt
	touch $@

install-local: $(VENV)/.installed-local
install-test: $(VENV)/.installed-test
install-production: $(VENV)/.installed-production

## make run: install, migrate, seed and serve the demo on SQLite with embedded defaults.
run: install-local migrate seed serve

migrate:
	$(BIN)/python manage.py migrate --noinput

seed:
	$(BIN)/python manage.py seed_hpb

serve:
	@echo "API: http://$(HOST):$(PORT)/api/v1/   admin: http://$(HOST):$(PORT)/admin/"
	@echo "Viewer bundles of the published cases: make viewer-bucket in another terminal (docs/viewer.md)."
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

## make test: install and run the whole suite (ruff, migrations check, pytest) on PostgreSQL.
test: install-test lint check-migrations contracts typecheck pytest

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# On an in-memory database: detecting changes needs the models only, and the history check that
# makemigrations also runs would otherwise warn about a database nobody created.
check-migrations:
	DJANGO_SETTINGS_MODULE=config.settings.test DATABASE_URL=sqlite:///:memory: $(BIN)/python manage.py makemigrations --check --dry-run

## The layers (import-linter contracts in pyproject.toml) and the types (mypy with django-stubs).
contracts:
	$(BIN)/lint-imports --no-cache

typecheck:
	$(BIN)/mypy .

pytest:
	$(BIN)/python -m pytest $(PYTEST_ARGS)

worker: install-local
	@test -n "$$CELERY_BROKER_URL" || grep -qs '^CELERY_BROKER_URL=..*' .env || { \
	  echo "Set CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0) in the environment or .env: without a broker"; \
	  echo "tasks run inside the web process and a worker would have nothing to do."; exit 1; }
	mkdir -p var
	$(BIN)/celery -A config worker -l info --concurrency 1 --beat --schedule var/celerybeat-schedule

listener: install-local
	$(BIN)/python manage.py ingest_listen

## Static files for whitenoise (production image); build-time placeholders only, never real secrets.
collectstatic:
	DJANGO_SETTINGS_MODULE=config.settings.production DJANGO_SECRET_KEY=collectstatic-only \
	DJANGO_ALLOWED_HOSTS=localhost DATABASE_URL=sqlite:///:memory: \
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0

## The production web server locally (same gunicorn.conf.py as the image).
serve-production:
	$(BIN)/gunicorn config.wsgi:application --config gunicorn.conf.py

## Terraform: fmt -check and checkov (in its own virtualenv); the HCL wiring tests run with pytest.
terraform-check:
	scripts/terraform_checks.sh

clean:
	rm -rf $(VENV) .venv-checkov var .pytest_cache .ruff_cache staticfiles

## make bench-api: the API benchmark (benchmarks/api.py; needs PostgreSQL, and wrk for best figures).
.PHONY: bench-api
bench-api: install-test
	$(BIN)/python benchmarks/api.py

## make bench-search / bench-ingest: the search (100,000 documents) and DICOM ingest (512x512x300) benchmarks.
.PHONY: bench-search bench-ingest
bench-search: install-test
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/hpb} $(BIN)/python benchmarks/search.py

bench-ingest: install-test
	$(BIN)/python benchmarks/ingest.py --size full

## make bench-tolerance: DICOM from the wild against dcm2niix, and the hostile corpus (benchmarks/dicom_tolerance.py).
.PHONY: bench-tolerance
bench-tolerance: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/dicom_tolerance.py
	$(BIN)/python benchmarks/dicom_tolerance.py --hostile --with-dcm2niix

## Viewer bundles (docs/viewer.md). make viewer-bucket: the local viewer folder as an anonymous S3 bucket
## for the unmodified learnHPB viewer; make test-viewer-node: the viewer's part in Node with vtk.js;
## make bench-viewer: parse time and memory of the levels, publish time against a copy.
VIEWER_BUCKET_PORT ?= 9000
.PHONY: viewer-bucket viewer-node-deps test-viewer-node bench-viewer
viewer-bucket: install-local
	$(BIN)/python manage.py serve_viewer_bucket --port $(VIEWER_BUCKET_PORT)

viewer-node-deps:
	npm ci --prefix tests/viewer --no-audit --no-fund --ignore-scripts

test-viewer-node: install-test viewer-node-deps
	$(BIN)/python -m pytest -m node tests/viewer

bench-viewer: install-test viewer-node-deps
	$(BIN)/python benchmarks/viewer.py
