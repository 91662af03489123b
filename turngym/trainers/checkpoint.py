"""Checkpoints: written whole or not at all, verified before they are loaded.

A checkpoint is a directory ``step-NNNNNNNN`` holding ``weights.pt`` (the
trainable parameters: the LoRA adapter, or every weight), ``optimizer.pt``,
``rng.pt`` (torch's generators), ``state.json`` (step, data cursor, NumPy and
Python RNG states, anything else JSON) and, written last, ``manifest.json``
with every file's size and SHA-256.

It is built in a hidden temporary directory and renamed into place only when
complete, so a run killed while saving leaves at most a ``.tmp`` directory that
is never picked up. Loading checks the manifest first: a missing, truncated or
altered file raises :class:`CheckpointError` saying which, and nothing is
loaded. Tensors load with ``weights_only=True`` (no arbitrary pickles).

Resuming (:func:`load_latest`) takes the newest checkpoint that verifies: a
newer one damaged on disk after it was written (a storage fault, not a torn
save) is skipped with a reason, and :func:`set_aside` renames it so that it is
kept for inspection but never picked up, pruned or overwritten. When none
verifies, the error lists every checkpoint and why it failed.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from turngym.core.atomic import fsync_dir

MANIFEST = "manifest.json"
_NAME = re.compile(r"^step-(\d{8})$")


class CheckpointError(RuntimeError):
    """A checkpoint that is incomplete or corrupt; it was not loaded."""


class CheckpointWarning(UserWarning):
    """A newer checkpoint failed verification and an older one was resumed from instead."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def capture_rng() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The state of every random generator a run uses: (tensors, JSON-able)."""
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = state
    version, internal, gauss = random.getstate()
    plain = {"python": [version, list(internal), gauss], "numpy": np.random.get_state(legacy=False)}
    plain["numpy"] = json.loads(json.dumps(plain["numpy"], default=_jsonable))
    return tensors, plain


def restore_rng(tensors: Mapping[str, torch.Tensor], plain: Mapping[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(tensors["torch_cpu"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("torch_cuda_")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    version, internal, gauss = plain["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = dict(plain["numpy"])
    numpy_state["state"] = dict(numpy_state["state"])
    numpy_state["state"]["key"] = np.asarray(numpy_state["state"]["key"], dtype=np.uint32)
    np.random.set_state(numpy_state)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.integer):
        return int(value)
    raise TypeError(f"cannot store {type(value).__name__} in a checkpoint's state.json")


def save_checkpoint(
    directory: str | os.PathLike[str],
    step: int,
    *,
    weights: Mapping[str, torch.Tensor],
    optimizer: Mapping[str, Any],
    state: Mapping[str, Any],
    keep: int = 0,
    extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Write checkpoint ``step`` under ``directory`` atomically; keep the newest ``keep`` (0 = all).

    ``extra`` maps names to more tensor state saved as ``<name>.pt`` beside the weights (e.g. the
    process reward model's weights and optimiser as ``prm``), covered by the manifest like the rest.
    """
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:08d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=root))
    try:
        rng_tensors, rng_plain = capture_rng()
        torch.save({k: v.detach().cpu() for k, v in weights.items()}, tmp / "weights.pt")
        torch.save(dict(optimizer), tmp / "optimizer.pt")
        torch.save(rng_tensors, tmp / "rng.pt")
        for name, value in (extra or {}).items():
            if name in ("weights", "optimizer", "rng", "state", "manifest") or not name.isidentifier():
                raise ValueError(f"extra checkpoint state {name!r}: give a plain name other than the core "
                                 "files' (weights, optimizer, rng, state, manifest)")
            torch.save(dict(value), tmp / f"{name}.pt")
        payload = {"step": step, "rng": rng_plain, **state}
        (tmp / "state.json").write_text(json.dumps(payload, default=_jsonable, indent=1), encoding="utf-8")
        files = {}
        for path in sorted(tmp.iterdir()):
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
            files[path.name] = {"bytes": path.stat().st_size, "sha256": _sha256(path)}
        manifest = tmp / MANIFEST
        manifest.write_text(json.dumps({"step": step, "files": files}, indent=1), encoding="utf-8")
        with manifest.open("rb") as handle:
            os.fsync(handle.fileno())
        if final.exists():  # re-saving a step: move the old one aside, never leave a gap
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old.", suffix=".tmp", dir=root))
            os.replace(final, old / final.name)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
        fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if keep > 0:
        for old in list_checkpoints(root)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def load_weights(model: torch.nn.Module, weights: Mapping[str, torch.Tensor], where: str | Path) -> None:
    """Copy checkpointed ``weights`` into ``model``'s parameters of the same names.

    A name the model lacks (a checkpoint of another model or LoRA shape) raises
    :class:`CheckpointError` before anything is copied.
    """
    params = dict(model.named_parameters())
    missing = [n for n in weights if n not in params]
    if missing:
        raise CheckpointError(f"checkpoint {where} holds weights this model lacks: {missing[:3]}")
    with torch.no_grad():
        for name, tensor in weights.items():
            params[name].copy_(tensor.to(params[name].device))


def list_checkpoints(directory: str | os.PathLike[str]) -> list[Path]:
    """Complete-looking checkpoint directories (those with a manifest), oldest first."""
    root = Path(directory)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and _NAME.match(p.name) and (p / MANIFEST).is_file()]
    return sorted(found, key=lambda p: p.name)


def verify_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Check a checkpoint against its manifest; return the manifest or raise :class:`CheckpointError`."""
    path = Path(path)
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise CheckpointError(f"{path} has no {MANIFEST}: it was never completed; not loading it")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = manifest["files"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{manifest_path} is corrupt ({exc}); not loading {path}") from exc
    for name in ("weights.pt", "optimizer.pt", "rng.pt", "state.json"):
        if name not in files:
            raise CheckpointError(f"{path}: manifest lists no {name}; not loading it")
    for name, expected in files.items():
        file = path / name
        if not file.is_file():
            raise CheckpointError(f"{path}: {name} is missing; not loading it")
        size = file.stat().st_size
        if size != expected["bytes"]:
            raise CheckpointError(
                f"{path}: {name} is {size} bytes, the manifest says {expected['bytes']} "
                "(half-written or truncated); not loading it"
            )
        if _sha256(file) != expected["sha256"]:
            raise CheckpointError(f"{path}: {name} does not match its SHA-256 (corrupt); not loading it")
    return manifest


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Verify, then load: ``{"weights", "optimizer", "rng_tensors", "state", "extra"}`` (RNG not yet
    restored); ``extra`` holds each ``<name>.pt`` that :func:`save_checkpoint`'s ``extra`` wrote."""
    path = Path(path)
    manifest = verify_checkpoint(path)
    try:
        weights = torch.load(path / "weights.pt", map_location="cpu", weights_only=True)
        optimizer = torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True)
        rng_tensors = torch.load(path / "rng.pt", map_location="cpu", weights_only=True)
        state = json.loads((path / "state.json").read_text(encoding="utf-8"))
        extra = {
            name[: -len(".pt")]: torch.load(path / name, map_location="cpu", weights_only=True)
            for name in sorted(manifest["files"])
            if name.endswith(".pt") and name not in ("weights.pt", "optimizer.pt", "rng.pt")
        }
    except Exception as exc:  # verified bytes that still do not load: say so, load nothing
        raise CheckpointError(f"{path}: could not be read ({type(exc).__name__}: {exc})") from exc
    return {"weights": weights, "optimizer": optimizer, "rng_tensors": rng_tensors, "state": state,
            "extra": extra}


def latest_checkpoint(directory: str | os.PathLike[str]) -> Path | None:
    """The newest checkpoint under ``directory`` (verified later by :func:`load_checkpoint`)."""
    found = list_checkpoints(directory)
    return found[-1] if found else None


def load_latest(
    directory: str | os.PathLike[str],
) -> tuple[Path, dict[str, Any], list[tuple[Path, str]]] | None:
    """Load the newest checkpoint under ``directory`` that verifies, skipping newer corrupt ones.

    Returns ``(path, loaded, skipped)``: ``loaded`` as from :func:`load_checkpoint`, ``skipped``
    the newer checkpoints that failed, newest first, each with why (nothing is deleted). A step
    directory that lost its manifest counts as failed rather than being silently passed over.
    Returns ``None`` when there is no checkpoint at all; raises :class:`CheckpointError` listing
    every checkpoint and its failure when none verifies.
    """
    root = Path(directory)
    found = sorted(p for p in root.iterdir() if p.is_dir() and _NAME.match(p.name)) if root.is_dir() else []
    skipped: list[tuple[Path, str]] = []
    for path in reversed(found):
        try:
            return path, load_checkpoint(path), skipped
        except CheckpointError as exc:
            skipped.append((path, str(exc)))
    if not skipped:
        return None
    listing = "\n".join(f"  - {path.name}: {why}" for path, why in skipped)
    raise CheckpointError(
        f"no checkpoint under {root} verifies, so the run cannot resume (nothing was loaded or "
        f"deleted):\n{listing}\nRestore a good copy, or move {root} aside to start from step 0."
    )


def set_aside(path: str | os.PathLike[str]) -> Path:
    """Rename a failed checkpoint to ``step-NNNNNNNN.corrupt`` (``.corrupt-2``, ... if taken).

    The renamed directory no longer looks like a checkpoint, so it is kept for inspection while a
    resumed run saves that step afresh, prunes old checkpoints and resumes again without it.
    """
    path = Path(path)
    target = path.with_name(f"{path.name}.corrupt")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{n}")
    os.replace(path, target)
    fsync_dir(path.parent)
    return target
