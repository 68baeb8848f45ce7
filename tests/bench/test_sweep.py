from pathlib import Path

import pytest

from chessformer.bench.sweep import SweepConfig, run_sweep


def _toy(weights: Path, **changes: object) -> SweepConfig:
    """Two temperatures, four games each against the random mover."""
    base = {
        "weights": str(weights),
        "temperatures": (0.0, 1.0),
        "opponents": ("random",),
        "games": 4,
        "movetime": 0.01,
        "max_moves": 20,
        "concurrency": 2,
        "anchors": ("Random=0",),
    }
    return SweepConfig(**{**base, **changes})  # type: ignore[arg-type]


def test_small_sweep_writes_table_and_plot(tiny_weights: Path, tmp_path: Path) -> None:
    cfg = _toy(tiny_weights)
    rows = run_sweep(cfg, tmp_path / "sw", progress=False)
    assert [r["temperature"] for r in rows] == [0.0, 1.0]
    for r in rows:
        assert r["games"] == 4 and r["elo_low"] <= r["elo"] <= r["elo_high"]
        assert "glicko2" in r
    for name in ("sweep.csv", "sweep.json", "sweep.png", "games.pgn"):
        assert (tmp_path / "sw" / name).stat().st_size > 0
    assert "stockfish score" not in (tmp_path / "sw" / "games.pgn").read_text()  # no adjudication unless asked
    # re-running resumes: nothing new is played, same table
    again = run_sweep(cfg, tmp_path / "sw", progress=False)
    assert [r["elo"] for r in again] == [r["elo"] for r in rows]


def test_batched_sweep_matches_protocol(tiny_weights: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import chessformer.bench.batched_match
    import chessformer.bench.sweep

    calls = []
    real = chessformer.bench.batched_match.run_batched_match

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(args[0].engine.name)
        return real(*args, **kwargs)

    monkeypatch.setattr(chessformer.bench.batched_match, "run_batched_match", spy)
    monkeypatch.setattr(
        chessformer.bench.sweep, "run_match", lambda *a, **k: pytest.fail("--batched ran the process path")
    )
    cfg = _toy(tiny_weights, concurrency=4, batched=True)
    rows = run_sweep(cfg, tmp_path / "swb", progress=False)
    assert [r["games"] for r in rows] == [4, 4]
    assert calls == ["ChessFormer T=0", "ChessFormer T=1"]  # the batched runner played both temperatures


def test_settings_reach_the_models_spec(tiny_weights: Path) -> None:
    from chessformer.bench.sweep import engine_for

    plain = engine_for(_toy(tiny_weights), 0.5).options
    guarded = engine_for(_toy(tiny_weights, settings="material_guard=false,draw_avoidance=false"), 0.5).options
    assert "MaterialGuard" not in plain
    assert guarded["MaterialGuard"] == "false" and guarded["DrawAvoidance"] == "false"
    with pytest.raises(ValueError, match="settings"):
        engine_for(_toy(tiny_weights, settings="material_guard=false", engine_command="cmd=/bin/true"), 0.5)
    with pytest.raises(ValueError, match="unknown settings"):
        engine_for(_toy(tiny_weights, settings="no_such=1"), 0.5)
