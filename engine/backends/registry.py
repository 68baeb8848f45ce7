"""The backend registry, as lc0's factory: each backend is declared once, here, with its name,
its one-line description and its factory. The Backend option's choices and help text
(engine/options.py) and ``make_backend`` (engine/loader.py) are generated from it.

Importing this module imports no torch: each factory imports its backend when it runs.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chessformer.engine.backends.base import Backend


class BackendUnavailable(RuntimeError):
    """A backend that cannot run here (no GPU, no onnxruntime, ...); the message is one line."""


@dataclass(frozen=True)
class BackendEntry:
    name: str  # the Backend option's value
    summary: str  # one sentence for the option's help
    build: Callable[[Any, str, int], Backend]  # (model, weights sha256, slots) -> backend


def _torch(model: Any, sha: str, slots: int) -> Backend:
    from chessformer.engine.backends.torch_backend import TorchBackend

    return TorchBackend(model, cache_mb=max(1, slots))  # slots is the Hash in MB for this one (make_backend)


def _cpu_fast(model: Any, sha: str, slots: int) -> Backend:
    from chessformer.engine.backends.cpu_fast import CpuFastBackend

    return CpuFastBackend(model, slots=slots)


def _cpu_int8(model: Any, sha: str, slots: int) -> Backend:
    from chessformer.engine.backends.cpu_fast import CpuInt8Backend

    return CpuInt8Backend(model, slots=slots)


def _cuda_graph(model: Any, sha: str, slots: int) -> Backend:
    from chessformer.engine.backends.cuda_graph import CudaGraphBackend

    return CudaGraphBackend(model, slots=slots)


def _tensorrt(model: Any, sha: str, slots: int) -> Backend:
    from chessformer.engine.backends.tensorrt_backend import TensorRTBackend

    try:
        return TensorRTBackend(model, sha, slots=slots)
    except (ImportError, RuntimeError) as e:
        raise BackendUnavailable(f"backend tensorrt unavailable: {e}") from None


def _onnx(model: Any, sha: str, slots: int) -> Backend:
    from chessformer.engine.backends.onnx_backend import GraphBackend, OrtRunner

    try:
        runner = OrtRunner(model, Path(tempfile.mkdtemp(prefix="chessformer-onnx-")))
    except ImportError as e:
        raise BackendUnavailable(f"backend onnx needs onnxruntime (pip install 'chessformer[onnx]'): {e}") from None
    return GraphBackend(model, runner, slots=slots)


def _check(model: Any, sha: str, slots: int) -> Backend:
    from chessformer.engine.backends.check import CheckBackend
    from chessformer.engine.backends.cpu_fast import CpuFastBackend
    from chessformer.engine.backends.torch_backend import TorchBackend

    return CheckBackend(CpuFastBackend(copy.deepcopy(model), slots=slots), TorchBackend(model))


def _auto(model: Any, sha: str, slots: int) -> Backend:
    import torch

    return (_cuda_graph if torch.cuda.is_available() else _cpu_fast)(model, sha, slots)


BACKENDS: tuple[BackendEntry, ...] = (
    BackendEntry("auto", "cuda-graph on a CUDA GPU, else cpu-fast.", _auto),
    BackendEntry("torch", "the eager reference.", _torch),
    BackendEntry("cpu-fast", "static KV cache, batched decode, batch 1 in C.", _cpu_fast),
    BackendEntry(
        "cpu-int8", "cpu-fast with int8 linear weights (faster, logits within a few tenths of fp32).", _cpu_int8
    ),
    BackendEntry("cuda-graph", "one CUDA graph per batch bucket.", _cuda_graph),
    BackendEntry("tensorrt", "cached TensorRT plans (build them first, see README).", _tensorrt),
    BackendEntry("onnx", "the exported graphs on onnxruntime.", _onnx),
    BackendEntry("check", "cpu-fast checked against torch on every move (differences logged to stderr).", _check),
)
BY_NAME = {b.name: b for b in BACKENDS}
NAMES: tuple[str, ...] = tuple(BY_NAME)


def backend_help() -> str:
    """The Backend option's help: every entry's name and summary."""
    return "Inference backend. " + " ".join(f"{b.name}: {b.summary}" for b in BACKENDS)
