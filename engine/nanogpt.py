"""The Transcendence paper's own model: a character-level nanoGPT over PGN transcripts.

The paper (and Karvonen's chess models, whose code it builds on) trains nanoGPT on games
written ``;1.e4 e5 2.Nf3 Nc6 ...`` in a 32-character vocabulary, and saves PyTorch
``ckpt_*.pt`` dicts. This module is that architecture, with a KV cache and an attention
mask argument (for the candidate-move tree of engine/backends/nanogpt_backend.py), and a
safe reader of those checkpoints: ``torch.load(weights_only=True)``, so a file that needs
arbitrary pickled objects is refused, never executed.

Architecture (nanoGPT's GPT class): learned token and position embeddings, the token table
tied to the output head, pre-norm blocks (LayerNorm with a bias only if ``bias``), causal
self-attention, a GELU MLP of 4x width, a final LayerNorm. No value head.

Shapes: B batch, T new characters, L cached characters, C n_embd, H heads, D = C / H, V = 32.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

ARCHITECTURE = "nanogpt-char"  # the weights config's "architecture" for these models
VOCAB = " #+-.0123456789;=BKNOQRabcdefghx"  # index = position (the paper's itos)
STOI = {c: i for i, c in enumerate(VOCAB)}
GAME_SEPARATOR = ";"  # between games in the training stream, and before the first move


@dataclass(frozen=True)
class NanoGPTConfig:
    """A nanoGPT checkpoint's ``model_args`` (the ones that shape the weights)."""

    n_layer: int = 16  # transformer blocks (count)
    n_head: int = 8  # attention heads (count)
    n_embd: int = 512  # residual width (channels)
    block_size: int = 1023  # longest window (characters)
    bias: bool = False  # biases in the linear layers and LayerNorms
    vocab_size: int = 32  # characters; must be the paper's 32

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "bias":
                if not isinstance(v, bool):
                    raise ValueError(f"nanoGPT bias must be true or false, got {v!r}")
            elif not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"nanoGPT {f.name} must be a positive integer, got {v!r}")
        if self.vocab_size != len(VOCAB):
            raise ValueError(
                f"vocab_size {self.vocab_size}: the chess transcript vocabulary has {len(VOCAB)} characters"
            )
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} is not divisible by n_head {self.n_head}")

    def to_dict(self) -> dict[str, Any]:
        return {"architecture": ARCHITECTURE, **asdict(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> NanoGPTConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in d.items() if k != "architecture"}
        unknown = set(values) - known - {"dropout"}  # dropout is a training setting; 0 at inference
        if unknown:
            raise ValueError(f"unknown nanoGPT config keys: {sorted(unknown)}")
        return cls(**{k: v for k, v in values.items() if k in known})  # type: ignore[arg-type]


class CharKV:
    """Preallocated keys and values of one character window (gpt-fast's static cache), each
    [n_layer, 1, H, capacity, D]. ``text`` is what its first len(text) rows hold; a forward at
    ``start`` writes its rows there, so rows past the text are scratch (the candidate tree) that
    the next forward overwrites. ``last`` is the next-character log-probabilities after ``text``."""

    def __init__(self, cfg: NanoGPTConfig, capacity: int, device: torch.device | str = "cpu") -> None:
        D = cfg.n_embd // cfg.n_head
        self.k = torch.zeros(cfg.n_layer, 1, cfg.n_head, capacity, D, device=device)
        self.v = torch.zeros_like(self.k)
        self.text = ""
        self.last: torch.Tensor | None = None  # [V] float64, after ``text``

    @property
    def capacity(self) -> int:
        return self.k.shape[3]

    @property
    def nbytes(self) -> int:
        return 2 * self.k.numel() * self.k.element_size()

    def copy_prefix(self, other: CharKV, n: int) -> None:
        """This cache's first ``n`` rows and text from ``other`` (another line of the same game)."""
        self.k[:, :, :, :n] = other.k[:, :, :, :n]
        self.v[:, :, :, :n] = other.v[:, :, :, :n]
        self.text, self.last = other.text[:n], None


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: NanoGPTConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)

    def forward(
        self, x: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor] | None, start: int, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """kv: this layer's [1, H, capacity, D] buffers; the T new rows go to [start, start + T)."""
        B, T, C = x.shape
        H = self.n_head
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, H, C // H).transpose(1, 2)  # [B, T, C] -> [B, H, T, D]
        k = k.view(B, T, H, C // H).transpose(1, 2)
        v = v.view(B, T, H, C // H).transpose(1, 2)
        if kv is not None:  # written in place: no copy of the cached rows per forward
            kv[0][:, :, start : start + T] = k
            kv[1][:, :, start : start + T] = v
            k, v = kv[0][:, :, : start + T], kv[1][:, :, : start + T]  # [1, H, L+T, D]
        L = k.shape[2] - T
        if mask is not None:  # [T, L+T] bool: who sees whom (the candidate tree)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        elif L == 0:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            causal = torch.arange(L + T, device=x.device)[None, :] <= (L + torch.arange(T, device=x.device))[:, None]
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=causal)
        y = y.transpose(1, 2).reshape(B, T, C)  # [B, H, T, D] -> [B, T, C]
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, cfg: NanoGPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, cfg: NanoGPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(
        self, x: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor] | None, start: int, mask: torch.Tensor | None
    ) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), kv, start, mask)
        return x + self.mlp(self.ln_2(x))


class NanoGPT(nn.Module):
    """nanoGPT with the paper checkpoints' parameter names (transformer.wte, transformer.h.0.attn.c_attn, ...)."""

    tied_keys = ("lm_head.weight",)  # the head is the token table (saved once)

    def __init__(self, cfg: NanoGPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.transformer = nn.ModuleDict(
            {
                "wte": nn.Embedding(cfg.vocab_size, cfg.n_embd),
                "wpe": nn.Embedding(cfg.block_size, cfg.n_embd),
                "h": nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer)),
                "ln_f": nn.LayerNorm(cfg.n_embd, bias=cfg.bias),
            }
        )
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.transformer["wte"].weight  # type: ignore[assignment]  # tied, as nanoGPT
        for name, p in self.named_parameters():  # nanoGPT's init: random weights for tests and speed checks
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * cfg.n_layer) if name.endswith("c_proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(
        self,
        idx: torch.Tensor,
        kv: CharKV | None = None,
        start: int = 0,
        positions: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Next-character logits [B, T, V] of characters ``idx`` [B, T].

        With ``kv`` (B = 1) the characters follow its first ``start`` rows and are written after them;
        positions [T] (default: start, start + 1, ...), mask [T, start+T] bool (default: causal)."""
        T = idx.shape[1]
        if kv is not None and (idx.shape[0] != 1 or start + T > kv.capacity):
            raise ValueError(f"a CharKV takes one row of at most {kv.capacity - start} characters here")
        if positions is None:
            positions = torch.arange(start, start + T, device=idx.device)
        if int(positions.max()) >= self.cfg.block_size:
            raise ValueError(f"character position {int(positions.max())} is outside the window {self.cfg.block_size}")
        x = self.transformer["wte"](idx) + self.transformer["wpe"](positions)  # [B, T, C]
        blocks = cast(nn.ModuleList, self.transformer["h"])
        for i, block in enumerate(blocks):
            x = block(x, None if kv is None else (kv.k[i], kv.v[i]), start, mask)
        return self.lm_head(self.transformer["ln_f"](x))


class CastLinear(nn.Module):
    """A Linear whose matmul runs in ``dtype`` (bf16 where the CPU does that faster); its input
    and output stay float32, so LayerNorms, the residual stream, attention and the KV cache keep
    float32 precision (as autocast would, without re-casting the weights every call)."""

    def __init__(self, linear: nn.Linear, dtype: torch.dtype) -> None:
        super().__init__()
        self.weight = nn.Parameter(linear.weight.detach().to(dtype), requires_grad=False)
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().to(dtype), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x.to(self.weight.dtype), self.weight, self.bias).float()


def cast_block_matmuls(model: NanoGPT, dtype: torch.dtype) -> None:
    """Run the blocks' four Linears in ``dtype``, in place (the tiny tied head stays float32).
    The state-dict keys stay the same; float32 is a no-op."""
    if dtype == torch.float32:
        return
    for block in cast(nn.ModuleList, model.transformer["h"]):
        for owner, name in ((block.attn, "c_attn"), (block.attn, "c_proj"), (block.mlp, "c_fc"), (block.mlp, "c_proj")):
            linear = getattr(owner, name)
            if isinstance(linear, nn.Linear):  # not yet cast
                setattr(owner, name, CastLinear(linear, dtype))


class CheckpointError(ValueError):
    """A nanoGPT checkpoint that cannot be read safely or does not hold a chess nanoGPT; one line."""


def read_paper_checkpoint(path: Path) -> tuple[NanoGPTConfig, dict[str, torch.Tensor]]:
    """The config and the state dict (``_orig_mod.`` prefix removed) of a paper ``ckpt_*.pt``.

    Loads with ``weights_only=True``: tensors and plain containers only, no code executed.
    """
    import pickle
    import zipfile

    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint not found: {path}") from None
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"{path.name}: refused, it needs more than tensors to load (arbitrary pickled objects): {first[:160]}"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path.name}: not a readable PyTorch checkpoint (truncated?): {first[:160]}") from None
    if not isinstance(ck, dict) or not isinstance(ck.get("model"), dict) or not isinstance(ck.get("model_args"), dict):
        raise CheckpointError(f"{path.name}: not a nanoGPT checkpoint (no 'model' and 'model_args')")
    try:
        cfg = NanoGPTConfig.from_dict(ck["model_args"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path.name}: {e}") from None
    state = {k.removeprefix("_orig_mod."): v for k, v in ck["model"].items()}
    check_state(cfg, state, path.name)
    return cfg, state


def check_state(cfg: NanoGPTConfig, state: Mapping[str, torch.Tensor], name: str) -> None:
    """CheckpointError unless ``state`` holds exactly the tensors of ``cfg``'s model (the tied head may be absent)."""
    want = {k: v.shape for k, v in NanoGPT(cfg).state_dict().items()}
    missing = sorted(set(want) - set(state) - {"lm_head.weight"})
    extra = sorted(k for k in set(state) - set(want) if not k.endswith(".attn.bias"))  # nanoGPT's causal-mask buffer
    if missing or extra:
        raise CheckpointError(
            f"{name}: tensors do not match a nanoGPT of {cfg} (missing {missing[:3]}, unexpected {extra[:3]})"
        )
    for k, shape in want.items():
        if k in state and tuple(state[k].shape) != tuple(shape):
            raise CheckpointError(
                f"{name}: tensor {k} has shape {tuple(state[k].shape)}, the config wants {tuple(shape)}"
            )


def build_nanogpt(cfg: NanoGPTConfig, state: Mapping[str, torch.Tensor]) -> NanoGPT:
    """A float32 eval-mode model holding ``state``."""
    model = NanoGPT(cfg)
    state = {k: v for k, v in state.items() if k in model.state_dict()}
    state.setdefault("lm_head.weight", state["transformer.wte.weight"])
    model.load_state_dict(state, strict=True)
    return model.float().eval()


def encode_chars(text: str) -> list[int]:
    """Character ids of ``text`` (every character must be in VOCAB)."""
    try:
        return [STOI[c] for c in text]
    except KeyError as e:
        raise ValueError(f"character {e.args[0]!r} is not in the transcript vocabulary") from None
