"""The transcendence pipeline end to end at toy scale (the real run is experiments/transcendence/configs/*.toml)."""

import dataclasses
import json
import re
from pathlib import Path

import chess.pgn
import pytest

from experiments.transcendence.transcend import TranscendConfig, report_markdown, run_transcend
from tests.engine.test_engine_subprocess import STOCKFISH

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "name",
    [
        "pool_v1",
        "pool_v4",
        "pool_v5",
        "pool_v6",
        "pool_v7",
        "pool_v8",
        "pool_v14",
        "pool_v16",
        "pool_v17",
        "pool_v18",
        "pool_v18_openings",
    ],
)
def test_experiment_config_loads(name: str) -> None:
    from experiments.transcendence.generate import load_pool

    cfg = TranscendConfig.load(ROOT / "experiments" / "transcendence" / "configs" / f"{name}.toml")
    full_sweep = (0.001, 0.1, 0.3, 0.5, 0.75, 1.0)
    short = {
        "pool_v5_ft": full_sweep[:2],
        "pool_v8_draws": full_sweep[:1],
        "pool_v9_draws": full_sweep[:1],
        "pool_v10_draws": full_sweep[:3],
        "pool_v14_random6": (0.001, 0.1, 0.3, 1.0),
        "pool_v15": (0.001, 0.1, 0.3, 1.0),
        "pool_v16": (0.001, 0.1, 0.3, 1.0),
        "pool_v17": (0.001, 0.1, 0.3, 1.0),
        "pool_v18_openings": (0.001,),
    }
    expected = short.get(name, full_sweep)
    assert cfg.temperatures == expected
    assert cfg.train.get("n_layer") == 4 or set(cfg.trained_models) >= {"diverse", "single"}  # or nothing trained
    experts = {e.name for e in load_pool(ROOT / cfg.pool).experts}
    assert not cfg.cap_expert or cfg.cap_expert in experts
    assert not cfg.train.get("init_weights") or (ROOT / cfg.train["init_weights"]).exists()
    assert set(cfg.rating_opponents) <= experts and set(cfg.data_experts) <= experts
    assert all((ROOT / w).exists() for w in cfg.trained_models.values())


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
        data_experts=("weak", "strong"),  # the cap is the best of them; mid's games are left out
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
            "block_size": 2,  # pool_v4's board-reading window
            "batch_tokens": 1024,
            "max_steps": 5,
            "val_games": 5,
            "val_permille": 100,
            "threads": 1,
            "warmup_steps": 2,
            "mid_game_fraction": 0.9,
        },
        prepare={"anchor_every": 1},
    )
    first = run_transcend(cfg, progress=False, data_only=True)  # steps 1-2: nothing trained yet
    assert first["rows"] == [] and not (tmp_path / "run" / "run_diverse").exists()
    assert (tmp_path / "run" / "data_single" / "manifest.json").exists()
    s = run_transcend(cfg, progress=False)
    assert set(s["ratings"]) == {"weak", "mid", "strong"}
    assert s["games"]["single"] == s["games"]["diverse"] > 0
    assert list(s["diverse"]) == ["weak", "strong"] and s["best_in_data"] == "strong"
    players = set(re.findall(r'\[(?:White|Black) "([^"]+)"\]', (tmp_path / "run" / "experts.pgn").read_text()))
    assert players <= set(s["diverse"])  # only the capped experts' games are generated
    assert {(r["model"], r["temperature"]) for r in s["rows"]} == {
        ("diverse", 0.0),
        ("diverse", 1.0),
        ("single", 0.0),
        ("single", 1.0),
    }
    for data in ("data_diverse", "data_single"):  # [prepare] reached both datasets
        assert json.loads((tmp_path / "run" / data / "manifest.json").read_text())["anchor_every"] == 1
    assert "Prepare options: anchor_every 1." in (tmp_path / "run" / "report.md").read_text()
    assert "How the models' games ended" in (tmp_path / "run" / "report.md").read_text()
    assert all(sum(r["ends"].values()) >= r["games"] > 0 for r in s["rows"])  # forfeits are ends, not results
    for record in ("pool.pgn", "models.pgn"):  # results without moves, rated as the games are
        assert (tmp_path / "run" / "records" / record).exists()
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
    report = (tmp_path / "run" / "report.md").read_text()
    assert f"Training games: diverse {s['games']['diverse']} ({s['tokens']['diverse']} tokens), single " in report
    # a run given the single model has only the diverse arm's games to tell of
    given_single = {**s, "games": {**s["games"], "single": None}, "tokens": {**s["tokens"], "single": None}}
    text = report_markdown(cfg, given_single)
    assert f"Training games: diverse {s['games']['diverse']} ({s['tokens']['diverse']} tokens). Model" in text
    # a forfeit among the pool's games (an expert wrapper crashed) is not a chess result: the pool's
    # ratings, which anchor the models', leave it out as the models' table does
    with open(tmp_path / "run" / "pool.pgn", "a") as f:
        f.write('[White "weak"]\n[Black "strong"]\n[Result "1-0"]\n[Termination "forfeit: strong crashed"]\n\n1-0\n\n')
    assert run_transcend(cfg, progress=False, data_only=True)["ratings"] == s["ratings"]

    # a later attempt rates the same weights against chosen opponents: no games generated, nothing trained
    rerun = dataclasses.replace(
        cfg,
        out=str(tmp_path / "rerun"),
        trained_models={k: str(tmp_path / "run" / f"model_{k}.safetensors") for k in ("diverse", "single")},
        rating_opponents=("weak", "mid"),
    )
    # a further model beside the two (its own label) is rated at the same temperatures
    copy = tmp_path / "copy" / "model_single_copy.safetensors"  # the same model under another file
    copy.parent.mkdir()
    for suffix in (".safetensors", ".json"):
        copy.with_suffix(suffix).write_bytes((tmp_path / "run" / f"model_single{suffix}").read_bytes())
    given = {**rerun.trained_models, "single-again": str(copy)}
    r = run_transcend(
        dataclasses.replace(rerun, trained_models=given, model_experts={"single-again": "mid"}), progress=False
    )
    report = (tmp_path / "rerun" / "report.md").read_text()
    assert report.count(", vs mid) |") == 2  # the further model's rows are measured against its own expert
    assert r["rating_opponents"] == ["weak", "mid"] and r["games"] == {"diverse": None, "single": None}
    # a single expert other than the cap is the single model's own bar (its data hold only that expert)
    weak = run_transcend(dataclasses.replace(rerun, single_expert="weak"), progress=False)
    assert weak["own_experts"] == {"single": "weak"} and weak["rows"] == r["rows"][:4]  # no game replayed
    report = (tmp_path / "rerun" / "report.md").read_text()
    assert report.count(", vs weak) |") == 2
    # train_missing false: only the given model is rated; the missing arm is neither generated nor trained
    only = dataclasses.replace(rerun, trained_models={"single": rerun.trained_models["single"]}, train_missing=False)
    o = run_transcend(only, progress=False)
    assert [(x["model"], x["temperature"]) for x in o["rows"]] == [("single", 0.0), ("single", 1.0)]
    assert (
        not (tmp_path / "rerun" / "data_diverse").exists()
        and not (tmp_path / "rerun" / "model_diverse.safetensors").exists()
    )
    assert [(x["model"], x["temperature"]) for x in r["rows"]] == [
        (m, t) for m in ("diverse", "single", "single-again") for t in (0.0, 1.0)
    ]
    assert not (tmp_path / "rerun" / "experts.pgn").exists() and not (tmp_path / "rerun" / "run_diverse").exists()
    model_games = (tmp_path / "rerun" / "models.pgn").read_text()
    assert "strong" not in set(re.findall(r'\[(?:White|Black) "([^"]+)"\]', model_games))
    assert "trained in an earlier attempt" in (tmp_path / "rerun" / "report.md").read_text()
    # rating games from openings: the round robin's and the models' games start from each opening,
    # once with each colour; the round robin is replayed (its games are other games now)
    epd = tmp_path / "openings.epd"
    epd.write_text(
        'r1bqkbnr/pppp1ppp/2n5/4p3/2B1P3/5N2/PPPP1PPP/RNBQK2R b KQkq - id "Italian";\n'
        'rnbqkbnr/pp1ppppp/8/2p5/4P3/8/PPPP1PPP/RNBQKBNR w KQkq - id "Sicilian";\n'
    )
    # six games a point against each of weak and strong (deterministic: depth 2, no random moves), from
    # four starts (two openings, both colours): the model at temperature 0 replays two against strong
    openings = dataclasses.replace(
        rerun,
        out=str(tmp_path / "openings"),
        rating_openings=str(epd),
        rating_opponents=("weak", "strong"),
        games_per_point=12,
    )
    op = run_transcend(openings, progress=False)
    assert op["rating_openings"] == ["Italian", "Sicilian"]
    for pgn, games in (("pool.pgn", 3 * cfg.rating_games), ("models.pgn", sum(r["games"] for r in op["rows"]))):
        played = re.findall(r'\[Opening "([^"]+)"\]', (tmp_path / "openings" / pgn).read_text())
        assert len(played) == games and set(played) == {"Italian", "Sicilian"}
    # repeats counted afresh from the games: a game with the same players, colours, opening, result
    # and moves as an earlier one
    seen: set[tuple[str, ...]] = set()
    counted: dict[str, int] = {}
    with open(tmp_path / "openings" / "models.pgn") as f:
        while (game := chess.pgn.read_game(f)) is not None:
            h = game.headers
            moves = [m.uci() for m in game.mainline_moves()]
            key = (h["White"], h["Black"], h.get("FEN", ""), h["Opening"], h["Result"], *moves)
            for name in (h["White"], h["Black"]):
                counted[name] = counted.get(name, 0) + (key in seen)
            seen.add(key)
    assert [r["repeats"] for r in op["rows"]] == [
        counted[f"CF-{r['model']} T={r['temperature']:g}"] for r in op["rows"]
    ]
    assert any(r["repeats"] for r in op["rows"] if r["temperature"] == 0)  # the count is exercised
    report = (tmp_path / "openings" / "report.md").read_text()
    assert "one of 2 openings" in report and "| repeats |" in report

    for bad, match in (
        ({"rating_openings": str(tmp_path / "none.pgn")}, "none.pgn"),
        ({"rating_opponents": ("nobody",)}, "not in the pool"),
        ({"data_experts": ("weak", "nobody")}, "data_experts \\['nobody'\\] are not in the pool"),
        ({"data_experts": ("weak", "strong"), "cap_expert": "weak", "trained_models": {}}, "rated above the cap"),
        ({"prepare": {"anchor_evry": 1}}, "not PrepareConfig options"),
        ({"prepare": {"filters": None}}, "not PrepareConfig options"),
        ({"trained_models": {}, "train_missing": False}, "gives none"),
        ({"trained_models": {"init": "x"}}, "lower-case words other than 'init'"),
        ({"trained_models": {"Bad label": "x"}}, "lower-case words other than 'init'"),
        ({"trained_models": {"diverse": str(tmp_path / "missing.safetensors")}}, "do not exist"),
        ({"model_experts": {"single-again": "mid"}}, "must be trained_models labels"),
        ({"model_experts": {"single": "nobody"}}, "experts in the pool"),
        ({"trained_models": {**rerun.trained_models, "again": rerun.trained_models["single"]}}, "same weights twice"),
    ):
        with pytest.raises((ValueError, FileNotFoundError), match=match):
            run_transcend(dataclasses.replace(rerun, out=str(tmp_path / "bad"), **bad), progress=False)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="diverse_mixing must be one of"):
        run_transcend(dataclasses.replace(rerun, out=str(tmp_path / "bad"), diverse_mixing="ply"), progress=False)

    # the committee design with a given single model: only the diverse data is generated
    half = dataclasses.replace(
        cfg,
        out=str(tmp_path / "half"),
        diverse_mixing="move",
        trained_models={"single": str(tmp_path / "run" / "model_single.safetensors")},
    )
    h = run_transcend(half, progress=False, data_only=True)
    assert h["diverse"] == ("weak", "strong") and not (tmp_path / "half" / "single.pgn").exists()
    committee = (tmp_path / "half" / "experts.pgn").read_text()
    assert set(re.findall(r'\[(?:White|Black) "([^"]+)"\]', committee)) == {"committee"}
    assert json.loads((tmp_path / "half" / "data_diverse" / "manifest.json").read_text())["games"] == 30


@pytest.mark.parametrize("arm", ["diverse", "single"])
def test_the_committed_models_of_the_final_attempt_load_and_play(arm: str) -> None:
    import numpy as np

    from chessformer.engine.loader import load_model

    weights = ROOT / "results" / "transcendence" / "pool_v18" / f"model_{arm}.safetensors"
    player = load_model(str(weights), "cpu-fast", threads=1, hash_mb=16).player
    board = chess.Board()
    rng = np.random.default_rng(0)
    for _ in range(20):
        move = player.choose(board, 0.3, rng)
        assert move in board.legal_moves
        board.push(move)
