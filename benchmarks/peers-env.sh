#!/usr/bin/env bash
# The peers' environments for `python -m benchmarks`, created inside this checkout (no machine-specific
# paths): .bench/venv holds gdw and the peers that share redis-py >= 6 (saq, rq, huey, taskiq, dramatiq,
# celery, streaq); .bench/venv-arq holds arq, which pins redis-py < 6. The harness finds both by itself.
#   usage: benchmarks/peers-env.sh [python]      (default python3; rerun to refresh)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-python3}
mkdir -p .bench
for name in venv venv-arq; do
    [ -x ".bench/$name/bin/python" ] || "$PY" -m venv ".bench/$name"
    ".bench/$name/bin/python" -m pip install -q --upgrade pip
done
.bench/venv/bin/pip install -q -e '.[bench]'
.bench/venv-arq/bin/pip install -q -e . 'arq' 'redis<6'
echo "peers installed: .bench/venv (shared), .bench/venv-arq (arq)"
