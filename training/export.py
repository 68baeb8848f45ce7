"""``python -m chessformer.training export``: a training checkpoint to engine weights (safetensors + JSON)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

from chessformer.engine.model import ChessFormer
from chessformer.engine.weights import save_weights
from chessformer.training.train import TrainConfig


def export(checkpoint: Path, out: Path, description: str, rating_cap: int | None, bf16: bool) -> dict[str, Any]:
    ck = torch.load(checkpoint, map_location="cpu", weights_only=True)
    cfg = TrainConfig(**ck["config"])
    model = ChessFormer(cfg.model_config())
    model.load_state_dict(ck["model"])
    if bf16:  # halves the file; the loader computes in fp32 or bf16 as the backend chooses
        model = model.to(torch.bfloat16)
    manifest_path = Path(cfg.data) / "manifest.json"
    data_summary: dict[str, Any] = {"folder": cfg.data}
    if manifest_path.is_file():
        m = json.loads(manifest_path.read_text())
        data_summary.update(
            {
                "sources": [{"file": Path(s["file"]).name, "sha256": s["sha256"]} for s in m.get("sources", [])],
                "games": m.get("games"),
                "tokens": m.get("tokens"),
                "filters": m.get("filters"),
                "removed": m.get("removed"),
            }
        )
    extra = ck.get("extra", {})
    metadata = {
        "description": description,
        "rating_cap": rating_cap,
        "training_steps": int(ck["step"]),
        "tokens_seen": extra.get("tokens_seen"),
        "training_wall_seconds": extra.get("wall_seconds"),
        "training_data": data_summary,
        "validation": {k: v for k, v in extra.items() if k.startswith("val_")},
        "train_config": ck["config"],
        "random_init": False,
    }
    info = save_weights(model, out, metadata)
    return {
        "weights": str(info.path),
        "sha256": info.sha256,
        "parameters": model.num_parameters(),
        **metadata["validation"],
    }


def cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m chessformer.training export", description="Checkpoint to engine weights."
    )
    p.add_argument("checkpoint", type=Path, help="RUN/checkpoint.pt")
    p.add_argument("--out", type=Path, required=True, help="NAME.safetensors (NAME.json is written beside it)")
    p.add_argument("--description", default="", help="one line shown by the engine on load")
    p.add_argument("--rating-cap", type=int, default=None, help="the training data's rating cap, if any")
    p.add_argument("--fp32", action="store_true", help="store fp32 instead of bf16")
    a = p.parse_args(argv)
    if not a.checkpoint.is_file():
        print(f"export: no checkpoint at {a.checkpoint}", file=sys.stderr)
        return 2
    print(json.dumps(export(a.checkpoint, a.out, a.description, a.rating_cap, bf16=not a.fp32)))
    return 0
