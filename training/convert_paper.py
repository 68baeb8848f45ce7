"""``python -m chessformer.training convert-paper``: a Transcendence-format ``ckpt_*.pt`` to engine weights.

The checkpoint is read with ``torch.load(weights_only=True)`` (engine/nanogpt.py) and written
as NAME.safetensors plus NAME.json with its sha256, so that later loads read no pickle at all.
The optimizer state and training bookkeeping are left behind.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def convert(checkpoint: Path, out: Path, description: str | None = None) -> Path:
    """Write ``checkpoint``'s model to ``out`` (.safetensors); raises WeightsError with a one-line reason."""
    from chessformer.engine.nanogpt import CheckpointError, build_nanogpt, read_paper_checkpoint
    from chessformer.engine.weights import WeightsError, save_weights

    try:
        cfg, state = read_paper_checkpoint(checkpoint)
    except CheckpointError as e:
        raise WeightsError(str(e)) from None
    model = build_nanogpt(cfg, state)
    meta = {"description": description or f"Transcendence-format nanoGPT, converted from {checkpoint.name}"}
    return save_weights(model, out, meta).path


def cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m chessformer.training convert-paper", description=__doc__.splitlines()[0]
    )
    p.add_argument("checkpoint", type=Path, help="a ckpt_*.pt of the paper's training code")
    p.add_argument("--out", type=Path, required=True, help="the .safetensors file to write (its .json beside it)")
    p.add_argument("--description", help="free text stored in the weights' metadata")
    a = p.parse_args(argv)
    from chessformer.engine.weights import WeightsError

    try:
        path = convert(a.checkpoint, a.out, a.description)
    except (WeightsError, ValueError) as e:
        print(f"convert-paper: {e}", file=sys.stderr)
        return 1
    print(path)
    return 0
