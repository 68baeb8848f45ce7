"""tensorrt: the exported ONNX graphs run by TensorRT on a GPU.

A GraphBackend (engine/backends/onnx_backend.py, which runs the same graphs on onnxruntime)
whose runner, ``TrtRunner``, deserialises TensorRT plans; it needs a GPU.

TensorRT plans are built once, ahead of time, and cached on disk keyed by everything
that makes a plan valid (TensorRT version, GPU name, weights sha256, precision and the
optimisation profiles), as lc0's onnx-trt backend does:

    python -m chessformer.engine.backends.tensorrt_backend --weights <bundled> --precision fp16

A GUI then never waits for a build: the engine loads the cached plans at isready.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch

from chessformer.engine.backends.build_cache import build_cache_root
from chessformer.engine.backends.onnx_backend import MAX_BATCH, PREFILL_MAX_BATCH, GraphBackend
from chessformer.engine.backends.onnx_graphs import export_onnx, graph_names
from chessformer.engine.backends.slots import SQUARES_PREFILL_MAX_BATCH
from chessformer.engine.model import ChessFormer, ModelConfig

PRECISIONS = ("fp32", "fp16", "bf16")


def default_cache_dir() -> Path:
    return build_cache_root() / "tensorrt"


def profiles(cfg: ModelConfig) -> dict[str, dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]]:
    """TensorRT optimisation profiles: (min, opt, max) shape per input of each graph."""
    L, H, T, D = cfg.n_layer, cfg.n_head, cfg.block_size, cfg.n_embd // cfg.n_head
    F = cfg.row_width

    def rows(n: int, *rest: int) -> tuple[int, ...]:
        return (n, *rest)

    cache = ((L, 1, H, T, D), (L, 32, H, T, D), (L, MAX_BATCH, H, T, D))
    if cfg.reads_squares:  # one graph, one token per row: the prefill is the whole step
        n = SQUARES_PREFILL_MAX_BATCH
        return {"prefill": {"tokens": ((1, 1), (32, 1), (n, 1)), "anchor": ((1, 1, F), (32, 1, F), (n, 1, F))}}
    return {
        "decode": {
            "tokens": (rows(1), rows(32), rows(MAX_BATCH)),
            "anchor": (rows(1, F), rows(32, F), rows(MAX_BATCH, F)),
            "pos": (rows(1), rows(32), rows(MAX_BATCH)),
            "k_cache": cache,
            "v_cache": cache,
        },
        "prefill": {
            "tokens": ((1, 1), (1, min(96, T)), (PREFILL_MAX_BATCH, T)),
            "anchor": ((1, 1, F), (1, min(96, T), F), (PREFILL_MAX_BATCH, T, F)),  # every token's row
        },
    }


def plan_key(trt_version: str, gpu_name: str, weights_sha256: str, precision: str, cfg: ModelConfig) -> str:
    """The cache key of a pair of plans: any change of these makes a new build."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    blob = json.dumps(
        {
            "tensorrt": trt_version,
            "gpu": gpu_name,
            "weights": weights_sha256,
            "precision": precision,
            "profiles": profiles(cfg),
            "config": cfg.to_dict(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def plan_paths(cache_dir: Path, key: str, graphs: tuple[str, ...] = ("decode", "prefill")) -> dict[str, Path]:
    return {g: cache_dir / f"{key}.{g}.plan" for g in graphs}


class TrtRunner:
    """TensorRT engines of the two graphs (TensorRT 10 named-tensor API)."""

    def __init__(self, plans: dict[str, bytes]) -> None:
        import tensorrt as trt

        self.trt = trt
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        self.engines = {g: self.runtime.deserialize_cuda_engine(p) for g, p in plans.items()}
        if any(e is None for e in self.engines.values()):
            raise RuntimeError("TensorRT could not deserialise a cached plan; delete the cache and rebuild")
        self.contexts = {g: e.create_execution_context() for g, e in self.engines.items()}

    def run(self, graph: str, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        trt = self.trt
        engine, ctx = self.engines[graph], self.contexts[graph]
        keep = []
        for name, t in inputs.items():
            t = t.contiguous()
            keep.append(t)
            ctx.set_input_shape(name, tuple(t.shape))
            ctx.set_tensor_address(name, t.data_ptr())
        outs: dict[str, torch.Tensor] = {}
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            if engine.get_tensor_mode(name) != trt.TensorIOMode.OUTPUT:
                continue
            dtype = torch.from_numpy(np.zeros(0, dtype=trt.nptype(engine.get_tensor_dtype(name)))).dtype
            outs[name] = torch.empty(tuple(ctx.get_tensor_shape(name)), dtype=dtype, device="cuda")
            ctx.set_tensor_address(name, outs[name].data_ptr())
        if not ctx.execute_async_v3(torch.cuda.current_stream().cuda_stream):
            raise RuntimeError(f"TensorRT execution of {graph} failed")
        return outs


def build_plans(model: ChessFormer, weights_sha256: str, precision: str, cache_dir: Path) -> dict[str, Path]:
    """Build (or find) the cached TensorRT plans for ``model``. Needs TensorRT and a GPU."""
    import tensorrt as trt

    key = plan_key(trt.__version__, torch.cuda.get_device_name(), weights_sha256, precision, model.cfg)
    paths = plan_paths(cache_dir, key, graph_names(model))
    if all(p.exists() for p in paths.values()):
        return paths
    cache_dir.mkdir(parents=True, exist_ok=True)
    onnx_dir = cache_dir / f"{key}.onnx"
    logger = trt.Logger(trt.Logger.WARNING)
    for graph, onnx_path in export_onnx(model, onnx_dir).items():
        builder = trt.Builder(logger)
        network = builder.create_network(0)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse(onnx_path.read_bytes()):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise RuntimeError(f"TensorRT could not parse {onnx_path.name}: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 30)
        if precision == "fp16":
            config.set_flag(trt.BuilderFlag.FP16)
        elif precision == "bf16":
            config.set_flag(trt.BuilderFlag.BF16)
        profile = builder.create_optimization_profile()
        for name, (lo, opt, hi) in profiles(model.cfg)[graph].items():
            profile.set_shape(name, lo, opt, hi)
        config.add_optimization_profile(profile)
        plan = builder.build_serialized_network(network, config)
        if plan is None:
            raise RuntimeError(f"TensorRT failed to build the {graph} engine")
        tmp = paths[graph].with_suffix(".tmp")
        tmp.write_bytes(bytes(plan))
        tmp.replace(paths[graph])
    return paths


class TensorRTBackend(GraphBackend):
    name = "tensorrt"

    def __init__(
        self,
        model: ChessFormer,
        weights_sha256: str,
        precision: str = "fp16",
        cache_dir: Path | None = None,
        slots: int = 256,
    ) -> None:
        if not torch.cuda.is_available():
            raise RuntimeError("the tensorrt backend needs a CUDA GPU")
        paths = build_plans(model, weights_sha256, precision, cache_dir or default_cache_dir())
        runner = TrtRunner({g: p.read_bytes() for g, p in paths.items()})
        super().__init__(model.cuda(), runner, slots, device="cuda")


def main(argv: list[str] | None = None) -> int:
    """Build the TensorRT plan cache ahead of time."""
    from chessformer.engine.weights import WeightsError, load_weights, resolve_weights

    p = argparse.ArgumentParser(
        prog="python -m chessformer.engine.backends.tensorrt_backend", description="Build the TensorRT plan cache."
    )
    p.add_argument("--weights", default="<bundled>")
    p.add_argument("--precision", choices=PRECISIONS, default="fp16")
    p.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    a = p.parse_args(argv)
    try:
        model, info = load_weights(resolve_weights(a.weights))
        if not torch.cuda.is_available():
            raise RuntimeError("no CUDA GPU: TensorRT plans can only be built on the GPU that will run them")
        paths = build_plans(model.cuda(), info.sha256, a.precision, a.cache_dir)
    except (WeightsError, RuntimeError, ImportError) as e:
        print(f"tensorrt build: {e}", file=sys.stderr)
        return 2
    print(json.dumps({g: str(p) for g, p in paths.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
