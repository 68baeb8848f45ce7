"""From option values to a ready Player: resolve the weights file, load it, build the backend.

This is where torch is first imported by the UCI engine (at the first isready or go).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from engine.options import BUNDLED
from engine.player import Player
from engine.weights import WeightsError, WeightsInfo, bundled_weights_path, load_weights

log = logging.getLogger("chessformer")


@dataclass
class LoadedModel:
    player: Player
    info: WeightsInfo
    parameters: int  # model parameter count
    backend_name: str


def resolve_weights(value: str) -> Path:
    """The weights path for a WeightsFile option value; raise WeightsError if there is none."""
    if value.strip() in ("", BUNDLED):
        path = bundled_weights_path()
        if path is None:
            raise WeightsError(
                "this build has no bundled model: set WeightsFile to a .safetensors file"
                " (python -m training export writes one)"
            )
        return path
    return Path(os.path.expanduser(value.strip()))


def set_threads(threads: int) -> int:
    """Apply the Threads option to torch, capped at the core count; return what was applied."""
    import torch

    n = max(1, min(threads, os.cpu_count() or 1))
    torch.set_num_threads(n)
    return n


def load_model(weights: str, backend: str, threads: int, hash_mb: int) -> LoadedModel:
    """Load the weights and build a backend. Raises WeightsError with a one-line reason."""
    path = resolve_weights(weights)
    set_threads(threads)
    model, info = load_weights(path)
    from engine.backends.torch_backend import TorchBackend

    if backend not in ("auto", "torch"):
        raise WeightsError(f"unknown backend {backend!r}")
    be = TorchBackend(model, cache_mb=hash_mb)
    n = model.num_parameters()
    log.info("loaded %s: %s parameters, config %s, backend %s", path, f"{n:,}", info.config, be.name)
    return LoadedModel(player=Player(be), info=info, parameters=n, backend_name=be.name)
