"""From option values to a ready Player: resolve the weights file, load it, build the backend.

This is where torch is first imported by the UCI engine (at the first isready or go).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chessformer.engine.backends.base import Backend
from chessformer.engine.player import Player
from chessformer.engine.weights import WeightsError, WeightsInfo, load_weights, resolve_weights

log = logging.getLogger("chessformer")


@dataclass
class LoadedModel:
    player: Player
    info: WeightsInfo
    parameters: int  # model parameter count
    backend_name: str


def set_threads(threads: int) -> int:
    """Apply the Threads option to torch, capped at the core count; return what was applied."""
    import torch

    n = max(1, min(threads, os.cpu_count() or 1))
    torch.set_num_threads(n)
    return n


def slot_bytes(config: Mapping[str, int | str]) -> int:
    """Bytes of one KV-cache slot: keys + values of every layer and position, fp32."""
    n_layer, block_size, n_embd = (int(config[k]) for k in ("n_layer", "block_size", "n_embd"))
    return 2 * n_layer * block_size * n_embd * 4


def slots_for(model: Any, hash_mb: int, cap: int = 256) -> int:
    """KV-cache slots that fit in ``hash_mb`` megabytes (at least 8, at most ``cap``)."""
    return max(8, min(cap, (hash_mb << 20) // slot_bytes(model.cfg.to_dict())))


def hash_mb_for_slots(config: Mapping[str, int | str], slots: int) -> int:
    """The smallest Hash (megabytes) that gives ``slots`` KV-cache slots (the inverse of slots_for)."""
    return max(1, -(-(slots * slot_bytes(config)) // (1 << 20)))


def make_backend(name: str, model: Any, weights_sha256: str, hash_mb: int = 128) -> Backend:
    """The backend called ``name`` (an option value of Backend) for ``model``, from the registry
    (engine/backends/registry.py); WeightsError with one line if it is unknown or cannot run here."""
    from chessformer.engine.backends.registry import BY_NAME, BackendUnavailable

    entry = BY_NAME.get(name)
    if entry is None:
        raise WeightsError(f"unknown backend {name!r}")
    size = hash_mb if name == "torch" else slots_for(model, hash_mb)  # the torch backend's cache is in MB
    try:
        return entry.build(model, weights_sha256, size)
    except BackendUnavailable as e:
        raise WeightsError(str(e)) from None


def load_model(weights: str, backend: str, threads: int, hash_mb: int) -> LoadedModel:
    """Load the weights and build a backend. Raises WeightsError with a one-line reason."""
    path = resolve_weights(weights)
    set_threads(threads)
    model, info = load_weights(path)
    n = model.num_parameters()
    from chessformer.engine.nanogpt import NanoGPT

    if isinstance(model, NanoGPT):  # the paper's character model has one backend of its own
        from chessformer.engine.backends.nanogpt_backend import NanoGPTBackend

        if backend not in ("auto", "torch"):
            log.info("backend %s does not run character nanoGPT models; using nanogpt", backend)
        be: Backend = NanoGPTBackend(model, cache_mb=hash_mb)
    else:
        be = make_backend(backend, model, info.sha256, hash_mb)
    label = be.name
    if isinstance(step := getattr(be, "single_step", None), str):  # cpu-fast, cpu-int8: how batch 1 runs
        label += f", batch-1 step {step}"
    log.info("loaded %s: %s parameters, config %s, backend %s", path, f"{n:,}", info.config, label)
    return LoadedModel(player=Player(be), info=info, parameters=n, backend_name=label)
