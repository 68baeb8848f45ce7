"""bench calibrate end to end: a tiny model, fast anchors, the table written into a copy of the weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chessformer.bench.calibrate import CalibrationConfig, run_calibration, write_calibrated_copy
from chessformer.engine.strength import Calibration
from chessformer.engine.weights import load_weights


def test_small_calibration_writes_a_table_that_loads(tiny_weights: Path, tmp_path: Path) -> None:
    cfg = CalibrationConfig(
        weights=str(tiny_weights),
        temperatures=(0.0, 1.0),
        opponents=("random",),
        anchors=("Random=500",),
        games=4,
        movetime=0.01,
        max_moves=30,
        concurrency=2,
    )
    table = run_calibration(cfg, tmp_path / "cal", progress=False)
    assert [p.temperature for p in table.points] != [] and len(table.points) == 2
    assert all(p.low <= p.elo <= p.high and p.games == 4 for p in table.points)
    copy = write_calibrated_copy(tiny_weights, table, tmp_path / "calibrated.safetensors")
    _, info = load_weights(copy)
    assert Calibration.from_metadata(info.metadata) == table
    assert info.sha256 == json.loads(tiny_weights.with_suffix(".json").read_text())["sha256"]  # tensors unchanged
    again = run_calibration(cfg, tmp_path / "cal", progress=False)  # resumes: no new games, same table
    assert again == table
    with pytest.raises(ValueError, match="must end in .safetensors"):
        write_calibrated_copy(tiny_weights, table, tmp_path / "x.bin")
