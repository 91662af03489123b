#!/usr/bin/env bash
# GPU check for a single GPU machine without network (CUDA PyTorch + transformers, no vLLM).
#
# Prepare HERE first:  bash benchmarks/gpu_check_prepare.sh   (fills .whl/ and .gpu_assets/)
# Then, on the GPU machine, from the repository root, with .whl and .gpu_assets carried along:
#
#     bash benchmarks/gpu_check.sh
#
# It installs the prepared wheels (gymnasium and its pure-Python deps) into /tmp/site without any
# index, then runs benchmarks/gpu_check.py, which prints one JSON object (also written to
# "$OUT/gpu_check.json" when $OUT is set) and exits non-zero when a check fails. At most 8 minutes:
# the Python part has a soft budget (GPU_CHECK_BUDGET_S, default 400 s) and a hard timeout.
#
# Environment: GPU_CHECK_DEVICE (default cuda; cpu to try the path on a CPU), GPU_CHECK_ARGS (more
# arguments for gpu_check.py, e.g. "--small"), GPU_CHECK_TIMEOUT_S (hard limit of the Python part,
# default 450), PYTHON (default python3).
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
WHEELS="${GPU_CHECK_WHEELS:-.whl}"
ASSETS="${GPU_CHECK_ASSETS:-.gpu_assets}"
SITE="${GPU_CHECK_SITE:-/tmp/site}"

missing=()
compgen -G "$WHEELS/gymnasium-*.whl" > /dev/null || missing+=("$WHEELS/gymnasium-*.whl")
[ -f "$ASSETS/smollm2-135m/config.json" ] || missing+=("$ASSETS/smollm2-135m/config.json")
[ -f "$ASSETS/smollm2-135m/tokenizer.json" ] || missing+=("$ASSETS/smollm2-135m/tokenizer.json")
if [ ${#missing[@]} -gt 0 ]; then
    echo "gpu_check: missing ${missing[*]}: run 'bash benchmarks/gpu_check_prepare.sh' where the project's" \
         "virtualenv is, and carry $WHEELS and $ASSETS to this machine" >&2
    exit 2
fi

start=$(date +%s)
if ! "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" \
        "$WHEELS"/*.whl; then
    # No usable pip (or it refuses): the wheels are pure Python, so unpacking them is installing them.
    echo "gpu_check: pip install failed; unpacking the wheels into $SITE instead" >&2
    "$PYTHON" -c 'import sys, zipfile; [zipfile.ZipFile(w).extractall(sys.argv[1]) for w in sys.argv[2:]]' \
        "$SITE" "$WHEELS"/*.whl
fi
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
echo "gpu_check: wheels installed in $(( $(date +%s) - start )) s" >&2

out_args=()
if [ -n "${OUT:-}" ]; then
    out_args=(--out "$OUT/gpu_check.json")
fi
# shellcheck disable=SC2086  # GPU_CHECK_ARGS is split into words on purpose
exec timeout --kill-after=10 "${GPU_CHECK_TIMEOUT_S:-450}" "$PYTHON" benchmarks/gpu_check.py \
    --device "${GPU_CHECK_DEVICE:-cuda}" --assets "$ASSETS/smollm2-135m" \
    --budget-s "${GPU_CHECK_BUDGET_S:-400}" ${out_args[@]+"${out_args[@]}"} ${GPU_CHECK_ARGS:-}
