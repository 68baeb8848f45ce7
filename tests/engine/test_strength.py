"""UCI_LimitStrength / UCI_Elo: the table lookup, its metadata round trip, the options and the engine."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from chessformer.engine.options import OptionError, find_option
from chessformer.engine.strength import METADATA_KEY, Calibration, StrengthPoint


def _table() -> Calibration:
    pts = (
        StrengthPoint(900, 850, 950, 0, "fide", 1.0, 40),
        StrengthPoint(1300, 1250, 1350, 0, "fide", 0.3, 40),
        StrengthPoint(1500, 1450, 1550, 2700, "fide", 0.3, 40),
        StrengthPoint(1700, 1650, 1750, 2700, "fide", 0.001, 40),
    )
    return Calibration(pts, "test scale")


def test_lookup_interpolates_on_one_rating_and_picks_the_nearer_across_ratings() -> None:
    t = _table()
    s = t.setting_for(1100)  # halfway between 900 (T 1) and 1300 (T 0.3), both unconditioned
    assert (s.rating, s.clamped) == (0, False) and s.temperature == pytest.approx(0.65)
    s = t.setting_for(1600)
    assert s.rating == 2700 and s.temperature == pytest.approx(0.1505)
    near = t.setting_for(1380)  # 1300 (R 0) and 1500 (R 2700) differ in rating: the nearer, 1300
    assert (near.rating, near.temperature, near.expected_elo) == (0, 0.3, 1300)
    assert t.setting_for(1300).temperature == 0.3


def test_requests_outside_the_range_are_clamped_and_said() -> None:
    t = _table()
    low, high = t.setting_for(400), t.setting_for(2500)
    assert low.clamped and (low.rating, low.temperature) == (0, 1.0)
    assert high.clamped and (high.rating, high.temperature) == (2700, 0.001)
    assert "clamped" in high.describe(2500) and "clamped" not in t.setting_for(1500).describe(1500)
    assert t.elo_range == (900, 1700)


def test_metadata_round_trip_and_bad_tables() -> None:
    t = _table()
    meta = {METADATA_KEY: json.loads(json.dumps(t.to_metadata()))}
    assert Calibration.from_metadata(meta) == t
    assert Calibration.from_metadata({}) is None
    with pytest.raises(ValueError, match="malformed"):
        Calibration.from_metadata({METADATA_KEY: {"points": [{"elo": 1}]}})
    with pytest.raises(ValueError, match="sorted"):
        Calibration(tuple(reversed(t.points)), "x")


def test_the_options_parse() -> None:
    limit, elo = find_option("UCI_LimitStrength"), find_option("uci_elo")
    assert limit is not None and elo is not None and limit.convert("true") is True
    assert elo.min is not None and elo.max is not None and elo.convert(str(elo.min)) == elo.min
    with pytest.raises(OptionError, match="between"):
        elo.convert(str(elo.max + 1))


def test_engine_plays_the_calibrated_setting(tiny_weights: Path, tmp_path: Path) -> None:
    from tests.engine.uci_script import Session

    weights = _calibrated_copy(tiny_weights, tmp_path)
    s = Session()
    s.send(f"setoption name WeightsFile value {weights}")
    s.send("setoption name UCI_LimitStrength value true")
    from chessformer.engine.options import declared_elo_range

    lo, hi = declared_elo_range()  # a client sends only values in the declared (bundled model's) range
    assert lo < 900 and hi >= 1000, "this test's table starts at 900: requests below it and at 1000 must be declarable"
    s.send("setoption name UCI_Elo value 1000")
    s.send("isready")
    s.expect("^readyok$")
    s.send("go")
    assert "UCI_Elo 1000: Rating 0 fide, Temperature 0.825" in s.expect("^info string UCI_Elo")  # a quarter to 1300
    s.expect("^bestmove")
    s.send(f"setoption name UCI_Elo value {lo}")
    s.send("go")
    assert "clamped" in s.expect("^info string UCI_Elo")
    s.expect("^bestmove")
    s.send(f"setoption name WeightsFile value {tiny_weights}")  # no table: said, and the options play
    s.send("go")
    assert "no strength calibration" in s.expect("^info string UCI_LimitStrength")


def test_the_bundled_model_carries_its_table_and_uci_elo_declares_its_range() -> None:
    from chessformer.engine.options import declared_elo_range
    from chessformer.engine.weights import bundled_weights_path, sidecar_path

    path = bundled_weights_path()
    assert path is not None
    table = Calibration.from_metadata(json.loads(sidecar_path(path).read_text())["metadata"])
    assert table is not None and len(table.points) >= 3
    assert declared_elo_range() == table.elo_range
    spec = find_option("UCI_Elo")
    assert (spec.min, spec.max) == table.elo_range


def _calibrated_copy(tiny_weights: Path, folder: Path) -> Path:
    weights = folder / "cal.safetensors"
    shutil.copy(tiny_weights, weights)
    meta = json.loads(tiny_weights.with_suffix(".json").read_text())
    meta["metadata"][METADATA_KEY] = _table().to_metadata()
    weights.with_suffix(".json").write_text(json.dumps(meta))
    return weights


def test_started_with_weights_the_engine_declares_that_models_range(tiny_weights: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    weights = _calibrated_copy(tiny_weights, tmp_path)
    cmd = [sys.executable, "-m", "chessformer.engine", "--weights", str(weights)]
    script = "uci\nsetoption name UCI_LimitStrength value true\nsetoption name UCI_Elo value 950\ngo\nquit\n"
    r = subprocess.run(cmd, input=script, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "option name UCI_Elo type spin default 1300 min 900 max 1700" in r.stdout  # the table's, not the bundled
    assert f"option name WeightsFile type string default {weights}" in r.stdout
    assert "info string UCI_Elo 950: Rating 0 fide" in r.stdout and "\nbestmove " in r.stdout
    missing = f"--weights={tmp_path / 'missing.safetensors'}"  # the form lichess-bot's engine_options writes
    bad = subprocess.run([*cmd[:-2], missing], input="uci\n", capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stdout == ""
    assert "chessformer: --weights: weights file not found" in bad.stderr


def test_a_calibrated_setting_plays_the_models_own_moves(tiny_weights: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A table was measured without MaterialGuard, so UCI_LimitStrength plays its setting without it;
    weights without a table play the options, guard included."""
    from chessformer.engine.player import Player
    from tests.engine.uci_script import Session

    seen: list[bool] = []
    real = Player.evaluate

    def spy(self, board, searchmoves=None, avoid_draws=False, take_mates=False, guard=False):  # type: ignore[no-untyped-def]
        seen.append(guard)
        return real(self, board, searchmoves, avoid_draws, take_mates, guard)

    monkeypatch.setattr(Player, "evaluate", spy)
    s = Session()
    s.send(f"setoption name WeightsFile value {_calibrated_copy(tiny_weights, tmp_path)}")
    s.send("setoption name MaterialGuard value true")
    s.send("go")
    s.expect("^bestmove")
    s.send("setoption name UCI_LimitStrength value true")
    s.send("go")
    s.expect("^bestmove")
    s.send(f"setoption name WeightsFile value {tiny_weights}")  # no table: the options play
    s.send("go")
    s.expect("^bestmove")
    assert seen == [True, False, True]
