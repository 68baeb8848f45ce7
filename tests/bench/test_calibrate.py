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


def test_verification_plays_new_games_at_the_requested_elo_with_the_calibrated_copy(
    tiny_weights: Path, tmp_path: Path
) -> None:
    import chess.pgn

    from chessformer.bench.calibrate import VERIFY_SEED_OFFSET, Verification, run_verification, verification_report
    from chessformer.engine.options import declared_elo_range

    declared = declared_elo_range()  # a client can only request UCI_Elo within it
    mid = sum(declared) // 2
    cfg = CalibrationConfig(
        weights=str(tiny_weights),
        temperatures=(0.0, 1.0),
        opponents=("random",),
        anchors=(f"Random={mid}",),
        games=4,
        movetime=0.01,
        max_moves=30,
        concurrency=2,
    )
    table = run_calibration(cfg, tmp_path / "cal", progress=False)
    copy = write_calibrated_copy(tiny_weights, table, tmp_path / "calibrated.safetensors")
    with pytest.raises(ValueError, match="outside the engine's declared range"):
        run_verification(cfg, copy, [declared[1] + 1], 2, tmp_path / "cal", progress=False)
    lo, hi = mid - 20, mid + 20  # a random-init model's table may be one point: these two are clamped to it
    found = run_verification(cfg, copy, [lo, hi], 2, tmp_path / "cal", progress=False)
    assert [v.requested for v in found] == [lo, hi] and all(v.games == 2 and v.low <= v.elo <= v.high for v in found)
    with open(tmp_path / "cal" / "verify.pgn") as f:
        heads = [g.headers for g in iter(lambda: chess.pgn.read_game(f), None)]
    assert len(heads) == 4 and all(int(h["EngineSeed"]) >= VERIFY_SEED_OFFSET for h in heads)  # new games
    assert {h["White"] for h in heads} | {h["Black"] for h in heads} == {
        "Random",
        f"ChessFormer UCI_Elo {lo}",
        f"ChessFormer UCI_Elo {hi}",
    }
    log = (tmp_path / "cal" / "verify.pgn.engines.log").read_text()
    assert f"chessformer: UCI_Elo {lo}: Rating 0 fide, Temperature" in log  # the engine's lookup said its setting
    far = Verification(1000, 1150, 1000, 1300, 40)
    near = Verification(1000, 1050, 900, 1200, 40)
    assert not far.passed and near.passed and not Verification(1000, 1050, 1060, 1200, 40).passed
    assert "| 1000 | 1150 [1000, 1300] | 40 | NO |" in verification_report([far])


def test_auto_verification_requests_lie_inside_the_table() -> None:
    from chessformer.bench.calibrate import auto_requests
    from chessformer.engine.strength import StrengthPoint

    pts = tuple(
        StrengthPoint(e, e - 50, e + 50, 2700, "fide", t, 40) for e, t in ((600, 2.0), (1000, 1.0), (1250, 0.0))
    )
    assert auto_requests(Calibration(pts, "test")) == [730, 920, 1120]


def test_an_elo_spec_starts_the_engine_with_its_weights(tiny_weights: Path) -> None:
    from chessformer.bench.engines import chessformer_command, parse_engine_spec
    from chessformer.bench.match import weights_identity

    spec = parse_engine_spec(f"chessformer:elo=800,weights={tiny_weights}")
    assert spec.command == (*chessformer_command(), "--weights", str(tiny_weights))  # declares this model's range
    assert weights_identity(spec) == json.loads(tiny_weights.with_suffix(".json").read_text())["sha256"]
    assert parse_engine_spec(f"chessformer:weights={tiny_weights}").command == chessformer_command()  # ids unchanged
