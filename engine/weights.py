"""Weights files: ``NAME.safetensors`` plus ``NAME.json`` beside it. Never pickle.

The JSON holds::

    {
      "format": "chessformer-weights", "format_version": 1,
      "tokenizer_version": 1,
      "config": {ModelConfig fields},
      "sha256": "<hex sha256 of NAME.safetensors>",
      "metadata": {"description": ..., "rating_cap": ..., "training_steps": ...,
                   "training_data": ..., "validation": {...}, "random_init": bool}
    }

``load_weights`` checks every part of it and raises ``WeightsError`` with one clear
line; the UCI engine shows that line as ``info string`` and keeps running.

Two architectures: a ChessFormer (config: ModelConfig fields), and the Transcendence
paper's character-level nanoGPT (config ``"architecture": "nanogpt-char"``, engine/nanogpt.py).
A paper checkpoint (``ckpt_*.pt``) is also read directly, with ``weights_only=True``;
``python -m chessformer.training convert-paper`` turns it into this format, so that later loads read no pickle.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from chessformer.engine.options import BUNDLED
from chessformer.engine.tokenizer import TOKENIZER_VERSION

FORMAT = "chessformer-weights"
FORMAT_VERSION = 1
BUNDLED_NAME = "default.safetensors"  # inside the package's engine/models/ folder


class WeightsError(Exception):
    """A weights file that cannot be used; the message is one line for the user."""


@dataclass
class WeightsInfo:
    """What a weights file says about itself."""

    path: Path  # the .safetensors file
    config: dict[str, Any]  # ModelConfig fields, or a NanoGPTConfig's with "architecture"
    sha256: str  # hex digest of the .safetensors file
    metadata: dict[str, Any] = field(default_factory=dict)  # free-form provenance

    @property
    def is_random_init(self) -> bool:
        return bool(self.metadata.get("random_init", False))


def sidecar_path(path: Path) -> Path:
    """The JSON file that goes with a .safetensors file."""
    return path.with_suffix(".json")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def bundled_weights_path() -> Path | None:
    """The default model shipped inside the package, or None if this build has none."""
    try:
        ref = resources.files("chessformer.engine") / "models" / BUNDLED_NAME
        if ref.is_file():
            return Path(str(ref))
    except (ModuleNotFoundError, FileNotFoundError):
        return None
    return None


def read_info(path: Path) -> WeightsInfo:
    """Read and check the JSON sidecar and the file's sha256 (does not import torch)."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise WeightsError(f"weights file must end in .safetensors: {path}")
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    meta_path = sidecar_path(path)
    if not meta_path.is_file():
        raise WeightsError(f"weights config not found: {meta_path} (expected beside {path.name})")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WeightsError(f"weights config {meta_path} is not valid JSON: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise WeightsError(f"{meta_path} is not a chessformer weights config")
    if meta.get("format_version") != FORMAT_VERSION:
        raise WeightsError(
            f"{meta_path}: format_version {meta.get('format_version')} unsupported (want {FORMAT_VERSION})"
        )
    if meta.get("tokenizer_version") != TOKENIZER_VERSION:
        raise WeightsError(
            f"{meta_path}: tokenizer_version {meta.get('tokenizer_version')} does not match this engine's {TOKENIZER_VERSION}"
        )
    config = meta.get("config")
    expected = meta.get("sha256")
    if not isinstance(config, dict) or not isinstance(expected, str):
        raise WeightsError(f"{meta_path}: missing 'config' or 'sha256'")
    actual = file_sha256(path)
    if actual != expected:
        raise WeightsError(
            f"{path.name}: sha256 mismatch (file {actual[:12]}..., config says {expected[:12]}...): corrupted or replaced"
        )
    metadata = meta.get("metadata", {})
    return WeightsInfo(path=path, config=config, sha256=actual, metadata=metadata if isinstance(metadata, dict) else {})


def is_paper_checkpoint(path: Path) -> bool:
    """A PyTorch checkpoint of the paper's training code (read with weights_only)."""
    return path.suffix in (".pt", ".pth", ".ckpt")


def _paper_info(path: Path) -> tuple[WeightsInfo, Any, Any]:
    """(info, config, state dict) of a paper checkpoint; WeightsError with its reason."""
    from chessformer.engine.nanogpt import CheckpointError, read_paper_checkpoint

    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        cfg, state = read_paper_checkpoint(path)
    except CheckpointError as e:
        raise WeightsError(str(e)) from None
    meta = {"description": f"Transcendence-format nanoGPT checkpoint {path.name}"}
    return WeightsInfo(path=path, config=cfg.to_dict(), sha256=file_sha256(path), metadata=meta), cfg, state


def _model_config(info: WeightsInfo) -> Any:
    """The ModelConfig or NanoGPTConfig the sidecar describes; WeightsError if none."""
    from chessformer.engine.model import ModelConfig
    from chessformer.engine.nanogpt import ARCHITECTURE, NanoGPTConfig

    try:
        if info.config.get("architecture") == ARCHITECTURE:
            return NanoGPTConfig.from_dict(info.config)
        return ModelConfig.from_dict(info.config)
    except (TypeError, ValueError) as e:
        raise WeightsError(f"{sidecar_path(info.path).name}: bad model config: {e}") from None


def check_weights(path: Path | str) -> WeightsInfo:
    """read_info, and the model config must describe a model this engine builds (WeightsError if not).
    A paper checkpoint is read whole (its tensors are checked against its config)."""
    path = Path(path)
    if is_paper_checkpoint(path):
        return _paper_info(path)[0]
    info = read_info(path)
    _model_config(info)
    return info


def check_weights_without_torch(path: Path | str) -> None:
    """What can be checked before torch is imported (WeightsError if not): the file, its sidecar and
    sha256; a paper checkpoint only that it is a file. check_weights and the load check the rest."""
    path = Path(path)
    if is_paper_checkpoint(path):
        if not path.is_file():
            raise WeightsError(f"weights file not found: {path}")
        return
    read_info(path)


def load_weights(path: Path | str, device: str = "cpu") -> tuple[Any, WeightsInfo]:
    """Load a ChessFormer from ``path`` (a .safetensors file with its JSON beside it).

    Returns (model in eval mode, info). Raises WeightsError on any problem.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from chessformer.engine.model import ChessFormer
    from chessformer.engine.nanogpt import CheckpointError, NanoGPTConfig, build_nanogpt, check_state

    if is_paper_checkpoint(Path(path)):
        info, cfg, state = _paper_info(Path(path))
        return build_nanogpt(cfg, state).to(device), info
    info = read_info(Path(path))
    cfg = _model_config(info)
    try:
        tensors = load_file(str(info.path), device=device)
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"{info.path.name}: not a readable safetensors file: {e}") from None
    if isinstance(cfg, NanoGPTConfig):
        try:
            check_state(cfg, tensors, info.path.name)
        except CheckpointError as e:
            raise WeightsError(str(e)) from None
        return build_nanogpt(cfg, {k: v.float() for k, v in tensors.items()}).to(device), info
    model = ChessFormer(cfg)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise WeightsError(
            f"{info.path.name}: tensors do not match the config (missing {missing[:3]}, unexpected {extra[:3]})"
        )
    for name, t in tensors.items():
        if t.shape != expected[name].shape:
            raise WeightsError(
                f"{info.path.name}: tensor {name} has shape {tuple(t.shape)}, config wants {tuple(expected[name].shape)}"
            )
    model.load_state_dict({k: v.float() for k, v in tensors.items()})
    model.to(device).eval()
    return model, info


def save_weights(model: Any, path: Path | str, metadata: dict[str, Any] | None = None) -> WeightsInfo:
    """Write ``model`` as NAME.safetensors + NAME.json (each written then renamed into place)."""
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"weights path must end in .safetensors: {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tied = set(getattr(model, "tied_keys", ()))  # shared with another tensor: safetensors stores each once
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items() if k not in tied}
    save_file(state, str(tmp))
    sha = file_sha256(tmp)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tokenizer_version": TOKENIZER_VERSION,
        "config": model.cfg.to_dict(),
        "sha256": sha,
        "metadata": metadata or {},
    }
    meta_tmp = sidecar_path(path).with_name(sidecar_path(path).name + ".tmp")
    meta_tmp.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.chmod(tmp, 0o644)  # readable by whoever runs the engine (the writer may create it private)
    os.replace(tmp, path)
    os.replace(meta_tmp, sidecar_path(path))
    return WeightsInfo(path=path, config=meta["config"], sha256=sha, metadata=meta["metadata"])


def resolve_weights(value: str) -> Path:
    """The weights path for a WeightsFile option value; raise WeightsError if there is none."""
    if value.strip() in ("", BUNDLED):
        path = bundled_weights_path()
        if path is None:
            raise WeightsError(
                "this build has no bundled model: set WeightsFile to a .safetensors file"
                " (python -m chessformer.training export writes one)"
            )
        return path
    return Path(os.path.expanduser(value.strip()))
