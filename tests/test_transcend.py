"""The transcendence pipeline end to end at toy scale (the real run is bench/experiments/*.toml)."""

import re
from pathlib import Path

import pytest

from bench.transcend import TranscendConfig, run_transcend
from tests.test_engine_subprocess import STOCKFISH

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["pool_v1", "pool_v2"])
def test_experiment_config_loads(name: str) -> None:
    from training.generate import load_pool

    cfg = TranscendConfig.load(ROOT / "bench" / "experiments" / f"{name}.toml")
    assert cfg.temperatures == (0.001, 0.1, 0.3, 0.5, 0.75, 1.0) and cfg.train["n_layer"] == 4
    experts = {e.name for e in load_pool(ROOT / cfg.pool).experts}
    assert not cfg.cap_expert or cfg.cap_expert in experts
    assert not cfg.train.get("init_weights") or (ROOT / cfg.train["init_weights"]).exists()


@pytest.mark.slow
@pytest.mark.skipif(STOCKFISH is None, reason="Stockfish not installed")
def test_toy_transcend_run(tmp_path: Path) -> None:
    pool = tmp_path / "pool.toml"
    pool.write_text(
        "seed = 5\nopening_plies = 4\nmax_plies = 60\n"
        '[[expert]]\nname = "weak"\ndepth = 1\nrandom_move_prob = 0.6\n'
        '[[expert]]\nname = "mid"\ndepth = 1\nrandom_move_prob = 0.3\n'
        '[[expert]]\nname = "strong"\ndepth = 2\nrandom_move_prob = 0.0\n'
    )
    cfg = TranscendConfig(
        name="toy",
        pool=str(pool),
        out=str(tmp_path / "run"),
        expert_games=30,
        rating_games=4,
        anchor="weak=1000",
        cap_expert="strong",
        temperatures=(0.0, 1.0),
        games_per_point=6,
        movetime=0.01,
        max_moves=30,
        concurrency=2,
        batched=True,
        batched_games=4,
        train={
            "n_layer": 1,
            "n_head": 2,
            "n_embd": 32,
            "block_size": 64,
            "batch_tokens": 1024,
            "max_steps": 5,
            "val_games": 5,
            "val_permille": 100,
            "threads": 1,
            "warmup_steps": 2,
        },
    )
    s = run_transcend(cfg, progress=False)
    assert set(s["ratings"]) == {"weak", "mid", "strong"}
    assert s["games"]["single"] == s["games"]["diverse"] > 0
    cap = s["ratings"]["strong"]
    assert set(s["diverse"]) == {n for n, r in s["ratings"].items() if r <= cap}
    players = set(re.findall(r'\[(?:White|Black) "([^"]+)"\]', (tmp_path / "run" / "experts.pgn").read_text()))
    assert players <= set(s["diverse"])  # only the capped experts' games are generated
    assert {(r["model"], r["temperature"]) for r in s["rows"]} == {
        ("diverse", 0.0),
        ("diverse", 1.0),
        ("single", 0.0),
        ("single", 1.0),
    }
    for name in (
        "transcend.png",
        "transcend.csv",
        "report.md",
        "model_diverse.safetensors",
        "model_single.safetensors",
    ):
        assert (tmp_path / "run" / name).exists()
    # resumable: a second run plays and trains nothing new
    again = run_transcend(cfg, progress=False)
    assert again["rows"] == s["rows"]
