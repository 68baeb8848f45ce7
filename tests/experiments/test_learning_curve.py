"""experiments.transcendence curve: rating against training steps, steps counted through init_weights chains."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments.transcendence.__main__ import main as bench_main
from experiments.transcendence.learning_curve import curve_table, parse_arm, run_curve


def _weights(path: Path, steps: int, start: Path | None) -> Path:
    import torch

    from chessformer.engine.model import ChessFormer, ModelConfig
    from chessformer.engine.weights import save_weights

    torch.manual_seed(steps)  # distinct weights: agreement rows are matched by the file's hash
    model = ChessFormer(ModelConfig(n_layer=1, n_head=2, n_embd=16, block_size=8))
    train_config = {"init_weights": str(start) if start else ""}
    save_weights(model, path, {"training_steps": steps, "train_config": train_config})
    return path


def test_curve_counts_steps_through_start_models_and_draws(tmp_path: Path) -> None:
    base = _weights(tmp_path / "base.safetensors", 1440, None)
    mid = _weights(tmp_path / "mid.safetensors", 2000, base)
    alone = _weights(tmp_path / "alone.safetensors", 1427, None)

    def row(model: str, elo: float, temperature: float = 0.001) -> dict:
        return {"model": model, "temperature": temperature, "elo": elo, "low": elo - 45, "high": elo + 50}

    summary = {
        "config": "x/pool.toml",
        "ratings": {"cap": 1162.0, "own": 1100.0},
        "intervals": {"cap": [1120.0, 1200.0]},
        "best_in_data": "cap",
        "single_expert": "own",
        "trained_models": {"diverse": str(base), "committee-2000": str(mid), "single": str(alone)},
        "rows": [row("diverse", 1040.0), row("committee-2000", 1170.0), row("single", 1100.0), row("single", 990, 1.0)],
    }
    (tmp_path / "t.json").write_text(json.dumps(summary))
    copy = tmp_path / "copy.safetensors"  # analysed from a copy of the rated file: matched by content
    copy.write_bytes(mid.read_bytes())
    copy.with_suffix(".json").write_text(mid.with_suffix(".json").read_text())
    (tmp_path / "a.json").write_text(json.dumps([{"model": str(copy), "top1": 0.45, "p_ref": 0.3}]))
    arms = dict([parse_arm("committee=diverse,committee-2000"), parse_arm("single=single")])
    points = run_curve(tmp_path / "t.json", arms, [tmp_path / "a.json"], 0.001, tmp_path / "c.png")
    assert [(p.label, p.steps, p.elo, p.top1) for p in points] == [
        ("diverse", 1440, 1040.0, None),
        ("committee-2000", 3440, 1170.0, 0.45),  # its 2,000 steps and its start model's 1,440
        ("single", 1427, 1100.0, None),
    ]
    assert (tmp_path / "c.png").stat().st_size > 10_000
    assert "| committee | committee-2000 | 3,440 | 1170 | [1125, 1220] | 45.0% | 0.300 |" in curve_table(points, 0.001)
    with pytest.raises(ValueError, match="no rating at temperature 0.3"):
        run_curve(tmp_path / "t.json", arms, [], 0.3, None)
    with pytest.raises(ValueError, match="'nope' is not a trained model"):
        run_curve(tmp_path / "t.json", {"x": ["nope"]}, [], 0.001, None)
    with pytest.raises(ValueError, match="expected ARM=LABEL"):
        parse_arm("committee")
    base.unlink()  # a start model that is gone: its steps are unknown, said so
    assert bench_main(["curve", str(tmp_path / "t.json"), "--arm", "committee=committee-2000"]) == 2
    assert bench_main(["curve", str(tmp_path / "t.json"), "--arm", "single=single"]) == 0
