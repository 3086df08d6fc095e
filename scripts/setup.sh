#!/usr/bin/env bash
# One entry point for a fresh machine:
#   bash scripts/setup.sh demo   install everything into .venv, then run `augplan demo`
#   bash scripts/setup.sh test   install everything into .venv, then run the test suite
# Re-running is fast: the venv is reused and only re-installed when pyproject.toml changes;
# pip's wheel cache keeps the compiled llama-cpp-python wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-demo}"; shift || true

PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
VENV=.venv
stamp="$VENV/.augplan-installed"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)"

if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating $VENV with $("$PY" --version)"
  "$PY" -m venv "$VENV"
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "== installing augplan and its dependencies into $VENV (first run: a few minutes)"
  # torch first and pinned, so that no CUDA build is resolved.
  "$VENV/bin/pip" install --disable-pip-version-check -q "torch==2.13.0"
  # llama-cpp-python compiles from source: text-only (no multimodal library).
  export CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF}"
  "$VENV/bin/pip" install --disable-pip-version-check -q -e ".[test,cluster]"
  echo "$want" > "$stamp"
fi

export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
export TRANSFORMERS_OFFLINE="${TRANSFORMERS_OFFLINE:-1}"
export TOKENIZERS_PARALLELISM=false
# Datasets by name: $AUGPLAN_DATA_DIR, else a shared data folder beside the checkout if present.
if [ -z "${AUGPLAN_DATA_DIR:-}" ] && [ -d ../shared/data ]; then
  export AUGPLAN_DATA_DIR="$(cd ../shared/data && pwd)"
fi

case "$what" in
  demo) exec "$VENV/bin/augplan" demo "$@" ;;
  test) exec "$VENV/bin/python" -m pytest -q "$@" ;;
  install) echo "installed: $VENV/bin/augplan" ;;
  *) echo "usage: bash scripts/setup.sh demo|test|install" >&2; exit 2 ;;
esac
