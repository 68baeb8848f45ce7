"""The batch-1 decode step in C (engine/backends/native/decode_step.c), through ctypes.

cpu-fast and cpu-int8 run it for a batch of one, the engine thinking about its game;
batched steps stay in torch, where matmuls dominate. The C file is compiled on first use
with the system's C compiler (``CC``, else cc, gcc or clang) for this CPU
(``-march=native``) and cached under ``~/.cache/chessformer`` (``CHESSFORMER_CACHE``
overrides), keyed by the source, the flags, the compiler and the CPU model, so a copy
built elsewhere is never loaded. Compiling takes about a second, once per machine, inside
the model load (isready). Without a compiler, or with ``CHESSFORMER_NATIVE=0``, the
backends keep their TorchScript step and say why on stderr.

Not a backend of its own: the same cache slots and the same numbers (fp32 here: within
1e-4 of the torch step; tests/engine/test_native_step.py), only the batch-1 path is faster.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from chessformer.engine.backends.build_cache import build_cache_root, cpu_model
from chessformer.engine.backends.static_step import StaticKVCache
from chessformer.engine.model import Block, ChessFormer
from chessformer.engine.tokenizer import PAD_FEATURE, POS_ID

log = logging.getLogger("chessformer")

ABI_VERSION = 5  # cf_abi_version() of the C file this wrapper speaks to
CFLAGS = ("-O3", "-march=native", "-fopenmp-simd", "-fno-math-errno", "-pthread", "-shared", "-fPIC")
SOURCE = "decode_step.c"


class NativeUnavailable(RuntimeError):
    """The C step cannot be used here (no compiler, a failed build, or switched off)."""


def build_library() -> Path:
    """The compiled step for this machine: built once, then found in the cache."""
    if os.environ.get("CHESSFORMER_NATIVE", "1") == "0":
        raise NativeUnavailable("switched off by CHESSFORMER_NATIVE=0")
    source = resources.files("chessformer.engine.backends").joinpath("native").joinpath(SOURCE).read_bytes()
    compiler = os.environ.get("CC") or next((c for c in ("cc", "gcc", "clang") if shutil.which(c)), None)
    compiler_path = shutil.which(compiler) if compiler else None
    if compiler is None or compiler_path is None:
        raise NativeUnavailable("no C compiler found (set CC, or install gcc)")
    key = hashlib.sha256(
        b"\0".join([source, " ".join(CFLAGS).encode(), compiler_path.encode(), cpu_model().encode()])
    ).hexdigest()[:16]
    target = build_cache_root() / f"decode_step-{key}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        src = Path(tmp) / SOURCE
        src.write_bytes(source)
        out = Path(tmp) / target.name
        done = subprocess.run([compiler, *CFLAGS, str(src), "-o", str(out), "-lm"], capture_output=True, text=True)
        if done.returncode != 0:
            raise NativeUnavailable(f"{compiler} failed: {done.stderr.strip()[-500:]}")
        os.replace(out, target)  # atomic: a concurrent engine sees the whole file or none
    log.info("compiled the native decode step: %s", target)
    return target


def _load(path: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(path))
    if lib.cf_abi_version() != ABI_VERSION:
        raise NativeUnavailable(f"{path} speaks ABI {lib.cf_abi_version()}, this wrapper {ABI_VERSION}")
    lib.cf_scratch_floats.restype = ctypes.c_size_t
    lib.cf_scratch_floats.argtypes = [ctypes.c_void_p]
    ptr, i64 = ctypes.c_void_p, ctypes.c_int64
    lib.cf_decode.restype = ctypes.c_int
    lib.cf_decode.argtypes = [ptr, ptr, ptr, i64, ptr, ctypes.c_int, i64, ptr, ptr, i64, ptr, ptr, ptr]
    lib.cf_pool_create.restype = ptr
    lib.cf_pool_create.argtypes = [ctypes.c_int]
    lib.cf_pool_destroy.restype = None
    lib.cf_pool_destroy.argtypes = [ptr]
    lib.cf_pool_threads.restype = ctypes.c_int
    lib.cf_pool_threads.argtypes = [ptr]
    return lib


def quantize_rows_int8(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per output row: w [out, in] ~ q [out, in] int8 * scale [out] float32."""
    scale = (w.abs().amax(dim=1) / 127.0).clamp(min=1e-12)  # [out]
    q = torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return q.contiguous(), scale.float().contiguous()


class NativeDecodeStep:
    """decode_step for one slot of ``cache``, in C: policy [1, M] and value [1, 3], keys and
    values written into the cache. ``int8``: int8 linear weights (a quarter of the bytes) and
    inputs quantised per call, as cpu-int8's torch.ao dynamic quantisation."""

    def __init__(self, model: ChessFormer, cache: StaticKVCache, int8: bool = False) -> None:
        self._pool: int | None = None  # the C thread pool, sized to torch's thread count (the Threads option)
        self._pool_for = 0  # the thread count it was made for (0: none yet)
        self._pool_pid = 0  # the process that made it: a forked child has none of its threads
        if model.squares:
            raise NativeUnavailable("a squares model has no decode step")
        if cache.k.dtype != torch.float32 or cache.k.device.type != "cpu" or not cache.k.is_contiguous():
            raise NativeUnavailable("the native step needs a contiguous float32 CPU cache")
        self._lib = _load(build_library())
        cfg = model.cfg
        self._cache = cache
        # [L, S, H, Tmax, D]: a slot's layer l starts at slot * H*Tmax*D + l * S*H*Tmax*D
        self._slot_stride = cache.k.stride(1)
        self._layer_stride = cache.k.stride(0)
        self._keep: list[torch.Tensor] = []  # every tensor the C side points at, alive as long as self

        def f32(t: torch.Tensor) -> int:
            t = t.detach().to("cpu", torch.float32).contiguous()
            self._keep.append(t)
            return t.data_ptr()

        def lin(weight: torch.Tensor) -> list[int | None]:
            """A linear layer's three pointers: weights, then (int8 only) row scales and row sums."""
            if not int8:
                return [f32(weight), None, None]
            q, s = quantize_rows_int8(weight.detach().to("cpu", torch.float32))
            rowsum = q.sum(dim=1, dtype=torch.int32).contiguous()  # [out]: undoes the 128 shift of the input
            self._keep += [q, s, rowsum]
            return [q.data_ptr(), s.data_ptr(), rowsum.data_ptr()]

        ptrs: list[int | None] = [
            f32(model.tok_emb.weight),
            f32(model.feat_emb.weight),
            f32(model.pos_emb.weight),
            f32(model.ln_f.weight),
            *lin(model.policy_head.weight),
            f32(model.value_head.weight),
            f32(model.value_head.bias),
        ]
        for block in model.blocks:
            assert isinstance(block, Block)
            ptrs += [f32(block.ln1.weight), f32(block.ln2.weight)]
            for layer in (block.attn.qkv, block.attn.proj, block.mlp.fc, block.mlp.proj):
                ptrs += lin(layer.weight)
        n_moves = model.policy_head.out_features
        # in the order of the C file's D_* and W_* enums; a mismatch is a build of another ABI
        dims = [
            cfg.n_layer,
            cfg.n_head,
            cfg.n_embd,
            cfg.mlp_ratio * cfg.n_embd,
            n_moves,
            cache.max_len,
            POS_ID,
            int(int8),
            model.tok_emb.num_embeddings,
            model.feat_emb.num_embeddings,
            PAD_FEATURE,
        ]
        expected = (self._lib.cf_dims_count(), self._lib.cf_weights_count(cfg.n_layer))
        if (len(dims), len(ptrs)) != expected:
            raise NativeUnavailable(f"{len(dims)} dims and {len(ptrs)} weights given, the C step reads {expected}")
        self._dims = np.array(dims, dtype=np.int32)
        self._weights = (ctypes.c_void_p * len(ptrs))(*ptrs)
        self._scratch = np.zeros(self._lib.cf_scratch_floats(self._dims.ctypes.data), dtype=np.float32)
        self.policy = torch.zeros(1, n_moves)  # [1, M], overwritten by each call
        self.value = torch.zeros(1, 3)  # [1, 3]
        self._args = (self._dims.ctypes.data, ctypes.addressof(self._weights))

    @property
    def threads(self) -> int:
        """Threads the last step ran on (the caller's and the pool's workers)."""
        return int(self._lib.cf_pool_threads(self._pool)) if self._pool else 1

    def _pool_now(self) -> int | None:
        want = torch.get_num_threads()
        if self._pool_pid != os.getpid():  # first step, or a forked child: the parent's workers are not here
            self._pool, self._pool_for, self._pool_pid = None, 0, os.getpid()
        if want != self._pool_for:  # Threads changed (or the first step): a pool of that size
            self.close()
            self._pool = self._lib.cf_pool_create(want) if want > 1 else None
            self._pool_for = want
        return self._pool

    def close(self) -> None:
        """Stop the pool's threads (they sleep between steps; this frees them)."""
        if self._pool and self._pool_pid == os.getpid():
            self._lib.cf_pool_destroy(self._pool)
        self._pool, self._pool_for = None, 0

    def __del__(self) -> None:
        self.close()

    def __call__(self, slot: int, token: int, anchor: torch.Tensor, pos: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One step for ``slot`` (anchor [F] int64, contiguous): returns (policy [1, M], value [1, 3]).

        The returned tensors are this object's buffers, overwritten by the next call: copy to keep."""
        if anchor.dtype != torch.int64 or anchor.dim() != 1 or not anchor.is_contiguous():
            raise ValueError(f"anchor must be a contiguous 1-D int64 tensor, got {anchor.dtype} {tuple(anchor.shape)}")
        if not 0 <= slot < self._cache.slots:
            raise ValueError(f"slot {slot} is outside the cache's {self._cache.slots} slots")
        offset = slot * self._slot_stride * 4  # bytes: float32
        status = self._lib.cf_decode(
            self._pool_now(),
            *self._args,
            token,
            anchor.data_ptr(),
            anchor.shape[-1],
            pos,
            self._cache.k.data_ptr() + offset,
            self._cache.v.data_ptr() + offset,
            self._layer_stride,
            self.policy.data_ptr(),
            self.value.data_ptr(),
            self._scratch.ctypes.data,
        )
        if status == -1:
            raise ValueError(f"position {pos} is outside the cache of {self._cache.max_len}")
        if status != 0:
            raise ValueError(f"token {token} or a feature id of its board is outside the model's tables")
        return self.policy, self.value
