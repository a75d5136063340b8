#!/usr/bin/env bash
# Static checks of the Terraform stack, for CI and before a commit:
#   1. terraform fmt -check -recursive terraform
#   2. checkov (pinned, in its own virtualenv: its bc-python-hcl2 dependency replaces the `hcl2`
#      module of python-hcl2, which the test suite uses), failing on any failed check.
#   3. terraform test (mocked AWS provider), only if `terraform init` has installed the providers.
# Neither needs AWS credentials or the internet beyond PyPI for the first checkov install
# (checkov runs with --skip-download). The HCL wiring test runs with the pytest suite:
#   python -m pytest tests/terraform
#
# Environment:
#   CHECKOV_VENV   virtualenv for checkov (default .venv-checkov), created or reused
#   PYTHON         interpreter used to create it (default python3.11 if present, else python3)
#   TERRAFORM      terraform binary (default: terraform on PATH)
set -euo pipefail

CHECKOV_VERSION="3.3.30"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CHECKOV_VENV="${CHECKOV_VENV:-.venv-checkov}"
TERRAFORM="${TERRAFORM:-terraform}"
if [[ -z "${PYTHON:-}" ]]; then
    if command -v python3.11 >/dev/null 2>&1; then PYTHON=python3.11; else PYTHON=python3; fi
fi

started=$SECONDS
step() { printf '==> %s\n' "$*"; }
took() { printf '    %s: %ss\n' "$1" "$(($SECONDS - $2))"; }

step "terraform fmt -check -recursive terraform"
t=$SECONDS
if ! "$TERRAFORM" fmt -check -recursive -diff terraform; then
    echo "terraform fmt: files above need formatting (run: terraform fmt -recursive terraform)" >&2
    exit 1
fi
took "fmt" "$t"

step "checkov $CHECKOV_VERSION in $CHECKOV_VENV"
t=$SECONDS
if [[ ! -x "$CHECKOV_VENV/bin/checkov" ]] \
    || [[ "$("$CHECKOV_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("checkov"))' 2>/dev/null)" != "$CHECKOV_VERSION" ]]; then
    "$PYTHON" -m venv "$CHECKOV_VENV"
    "$CHECKOV_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION"
fi
took "checkov venv" "$t"

step "checkov -d terraform"
t=$SECONDS
# --quiet prints only failed checks; checkov exits non-zero when any check fails.
"$CHECKOV_VENV/bin/checkov" -d terraform --framework terraform --skip-download --quiet --compact
took "checkov" "$t"

# terraform test (terraform/tests/*.tftest.hcl) mocks the AWS provider but needs the providers
# installed; run it when `terraform init` has been done (it needs the internet once).
if [[ -d terraform/.terraform/providers ]]; then
    step "terraform test (mocked AWS provider)"
    t=$SECONDS
    "$TERRAFORM" -chdir=terraform test
    took "terraform test" "$t"
else
    step "terraform test skipped: run 'terraform -chdir=terraform init -backend=false' first"
fi

printf 'terraform checks passed in %ss\n' "$(($SECONDS - started))"
