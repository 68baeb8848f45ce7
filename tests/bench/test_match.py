"""bench match: games end to end, PGN headers, resume, forfeits."""

from __future__ import annotations

import sys
from pathlib import Path

import chess.pgn
import pytest

from chessformer.bench.engines import EngineSpec, parse_engine_spec
from chessformer.bench.match import MatchConfig, Opening, finished_games, load_openings, run_match
from tests.engine.test_engine_subprocess import STOCKFISH


def _cf(weights: Path, temperature: str = "0") -> EngineSpec:
    return parse_engine_spec(f"chessformer:temperature={temperature},weights={weights}")


def test_engine_spec_parsing() -> None:
    r = parse_engine_spec("random")
    assert r.name == "Random"
    c = parse_engine_spec("cmd=/bin/engine --x;Hash=16;Skill Level=3")
    assert c.command == ("/bin/engine", "--x") and c.options == {"Hash": "16", "Skill Level": "3"}
    with pytest.raises(ValueError):
        parse_engine_spec("nonsense:x=1")
    with pytest.raises(ValueError):
        parse_engine_spec("random:bogus=1")
    cf = parse_engine_spec("chessformer:temperature=0,draw_avoidance=true")
    assert cf.options["DrawAvoidance"] == "true" and cf.name.endswith("draw-avoidance")
    assert "DrawAvoidance" not in parse_engine_spec("chessformer:temperature=0").options
    with pytest.raises(ValueError, match="draw_avoidance must be true or false"):
        parse_engine_spec("chessformer:draw_avoidance=yes")
    assert parse_engine_spec("chessformer:mate_in_one=false").options["MateInOne"] == "false"
    with pytest.raises(ValueError, match="mate_in_one must be true or false"):
        parse_engine_spec("chessformer:mate_in_one=1")


@pytest.mark.skipif(STOCKFISH is None, reason="Stockfish not installed (the rung wraps it)")
def test_stockfish_with_random_moves_is_a_rung_between_the_random_mover_and_stockfish() -> None:
    import chess.engine

    rung = parse_engine_spec("stockfish:skill=0,random=0.5")
    assert rung.name == "Stockfish skill 0 random 0.5" and rung.options["Skill Level"] == 0
    assert rung.command[-3:] == ("chessformer.bench.random_mover", "--random", "0.5")
    with pytest.raises(ValueError, match="within 0..1"):
        parse_engine_spec("stockfish:random=1.5")
    board = chess.Board()
    board.push_uci("e2e4")

    def moves(share: str) -> list[str]:
        cmd = [sys.executable, "-m", "chessformer.bench.random_mover", "--random", share]
        with chess.engine.SimpleEngine.popen_uci(cmd) as eng:
            assert "Skill Level" in eng.options and "Seed" in eng.options  # Stockfish's options and its own
            eng.configure({"Skill Level": 20, "Seed": 7})
            return [eng.play(board, chess.engine.Limit(depth=8)).move.uci() for _ in range(30)]

    # Stockfish at Skill 20 and depth 8 has a few replies to 1.e4; half random moves spread over many
    assert len(set(moves("0"))) <= 3
    assert len(set(moves("0.5"))) >= 8


def test_openings_from_epd_and_pgn(tmp_path: Path) -> None:
    (tmp_path / "o.epd").write_text('rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq - id "e4";\n')
    assert load_openings(tmp_path / "o.epd")[0].name == "e4"
    (tmp_path / "o.pgn").write_text('[Opening "Italian"]\n\n1. e4 e5 2. Nf3 Nc6 3. Bc4 *\n\n1. d4 d5 *\n')
    ops = load_openings(tmp_path / "o.pgn")
    assert [o.name for o in ops] == ["Italian", "line2"] and ops[0].moves[:2] == ("e2e4", "e7e5")


def test_match_against_random_resumes(tiny_weights: Path, tmp_path: Path) -> None:
    cfg = MatchConfig(
        _cf(tiny_weights),
        [parse_engine_spec("random")],
        games=4,
        movetime=0.01,
        max_moves=30,
        openings=[Opening("startpos"), Opening("e4", moves=("e2e4",))],
    )
    pgn = tmp_path / "m.pgn"
    summary = run_match(cfg, pgn, concurrency=2, progress=False)
    s = summary["Random"]
    assert s["games"] == 4 and s["wins"] + s["draws"] + s["losses"] == 4
    with open(pgn) as f:
        games = [g for g in iter(lambda: chess.pgn.read_game(f), None)]
    assert len(games) == 4
    h = games[0].headers
    for key in ("WhiteEngine", "BlackEngine", "Termination", "MatchId", "EngineSeed", "TimeControl", "MaxMoves"):
        assert key in h
    assert any("Temperature=0" in g.headers["WhiteEngine"] + g.headers["BlackEngine"] for g in games)
    assert {g.headers["BenchEngineColor"] for g in games} == {"white", "black"}
    # every game replays legally
    for g in games:
        b = g.board()
        for m in g.mainline_moves():
            assert m in b.legal_moves
            b.push(m)
    # re-running plays nothing new; asking for more plays only the missing ones
    assert run_match(cfg, pgn, progress=False)["Random"]["games"] == 4
    cfg.games = 6
    assert run_match(cfg, pgn, progress=False)["Random"]["games"] == 6
    assert len(finished_games(pgn)) == 6


def test_a_new_model_at_the_same_path_is_a_new_match(tiny_weights: Path, tmp_path: Path) -> None:
    import shutil

    import torch

    from chessformer.bench.match import weights_identity
    from chessformer.engine.model import ChessFormer, ModelConfig
    from chessformer.engine.weights import save_weights

    path = tmp_path / "w.safetensors"
    shutil.copy(tiny_weights, path)
    shutil.copy(tiny_weights.with_suffix(".json"), path.with_suffix(".json"))
    opp = parse_engine_spec("random")
    first = MatchConfig(_cf(path), [opp], games=2, movetime=0.01, max_moves=10)
    assert weights_identity(first.engine) and weights_identity(opp) is None
    run_match(first, tmp_path / "m.pgn", concurrency=1, progress=False)
    first_id = first.match_id(opp)
    torch.manual_seed(1)  # retrained: other tensors, same file name
    save_weights(ChessFormer(ModelConfig(n_layer=2, n_head=2, n_embd=32, block_size=32)), path, {"random_init": True})
    second = MatchConfig(_cf(path), [opp], games=2, movetime=0.01, max_moves=10)
    assert second.match_id(opp) != first_id
    run_match(second, tmp_path / "m.pgn", concurrency=1, progress=False)
    done = finished_games(tmp_path / "m.pgn")
    assert {n for mid, n in done if mid == second.match_id(opp)} == {0, 1}  # played, not resumed
    assert len(done) == 4


def test_crashing_and_illegal_opponents_forfeit(tiny_weights: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad_engine.py"
    bad.write_text(
        "import sys\n"
        "for line in sys.stdin:\n"
        "    c = line.split()\n"
        "    if not c: continue\n"
        "    if c[0] == 'uci': print('id name Bad\\nuciok', flush=True)\n"
        "    elif c[0] == 'isready': print('readyok', flush=True)\n"
        "    elif c[0] == 'go': print('bestmove a1a1' if len(sys.argv) > 1 else '', flush=True); sys.exit(0) if len(sys.argv) == 1 else None\n"
    )
    illegal = EngineSpec("Illegal", (sys.executable, str(bad), "illegal"))
    crash = EngineSpec("Crash", (sys.executable, str(bad)))
    cfg = MatchConfig(_cf(tiny_weights), [illegal, crash], games=2, movetime=0.01)
    summary = run_match(cfg, tmp_path / "f.pgn", progress=False)
    for name in ("Illegal", "Crash"):
        assert summary[name]["wins"] == 2 and summary[name]["opponent_forfeits"] == 2, summary
    text = (tmp_path / "f.pgn").read_text()
    assert "forfeit: Crash crashed" in text and "forfeit: Illegal" in text


@pytest.mark.skipif(STOCKFISH is None, reason="Stockfish not installed")
def test_short_match_against_stockfish(tiny_weights: Path, tmp_path: Path) -> None:
    cfg = MatchConfig(_cf(tiny_weights, "0.5"), [parse_engine_spec("stockfish:skill=0")], games=2, movetime=0.02)
    s = run_match(cfg, tmp_path / "sf.pgn", progress=False)["Stockfish skill 0"]
    assert s["games"] == 2 and s.get("engine_forfeits", 0) == 0


def test_batched_match_one_forward_per_ply(tiny_model, tiny_weights: Path, tmp_path: Path) -> None:
    import copy

    from chessformer.bench.batched_match import run_batched_match
    from chessformer.engine.backends.cpu_fast import CpuFastBackend
    from chessformer.engine.player import Player

    backend = CpuFastBackend(copy.deepcopy(tiny_model), slots=64)
    cfg = MatchConfig(_cf(tiny_weights, "1.0"), [parse_engine_spec("random")], games=8, movetime=0.01, max_moves=20)
    pgn = tmp_path / "b.pgn"
    s = run_batched_match(cfg, Player(backend), pgn, concurrency=8, progress=False)["Random"]
    assert s["games"] == 8 and s["engine_forfeits"] == 0 and s["opponent_forfeits"] == 0
    with open(pgn) as f:
        games = list(iter(lambda: chess.pgn.read_game(f), None))
    for g in games:
        b = g.board()
        for m in g.mainline_moves():
            assert m in b.legal_moves
            b.push(m)
    plies = sum(len(list(g.mainline_moves())) for g in games)
    # far fewer batched steps than model moves: games advance together
    assert backend.decode_calls < plies / 2
    # the non-batched runner sees these games as done (same match ids)
    assert run_match(cfg, pgn, progress=False)["Random"]["games"] == 8


@pytest.mark.slow
def test_batched_match_sends_opponents_the_current_position(tiny_model, tiny_weights: Path, tmp_path: Path) -> None:
    """Draw-claim checks pop and push moves on a game's board; the opponents' threads must not see that.

    At temperature 0 the tiny model repeats itself, so threefold checks run all the time; a
    thread that read the board mid-check sent a position one ply behind and the opponent
    'played' the model's pieces (about 20% of games forfeited in a real run).
    """
    import copy

    from chessformer.bench.batched_match import run_batched_match
    from chessformer.engine.backends.cpu_fast import CpuFastBackend
    from chessformer.engine.player import Player

    backend = CpuFastBackend(copy.deepcopy(tiny_model), slots=64)
    cfg = MatchConfig(_cf(tiny_weights, "0"), [parse_engine_spec("random")], games=24, movetime=0.01, max_moves=60)
    s = run_batched_match(cfg, Player(backend), tmp_path / "r.pgn", concurrency=24, progress=False)["Random"]
    assert s["games"] == 24 and s["opponent_forfeits"] == 0 and s["engine_forfeits"] == 0


@pytest.mark.skipif(STOCKFISH is None, reason="Stockfish not installed")
def test_stockfish_score_adjudication_and_clock(tiny_weights: Path, tmp_path: Path) -> None:
    # a random-init model against Stockfish: it falls far behind, and the adjudicator ends the game
    cfg = MatchConfig(
        _cf(tiny_weights, "1.0"),
        [parse_engine_spec("stockfish:skill=5,depth=6")],
        games=2,
        movetime=0.02,
        adjudicate_cp=300,
        adjudicate_plies=4,
        adjudicate_nodes=5000,
    )
    s = run_match(cfg, tmp_path / "adj.pgn", progress=False)["Stockfish skill 5 depth 6"]
    assert s["games"] == 2 and s["engine_forfeits"] == 0
    assert "adjudication: stockfish score" in (tmp_path / "adj.pgn").read_text()
    # a clock instead of a per-move limit: both sides' time is tracked, nobody flags at 5 s + 0.1 s
    clock = MatchConfig(
        _cf(tiny_weights), [parse_engine_spec("random")], games=2, movetime=None, clock=(5.0, 0.1), max_moves=25
    )
    c = run_match(clock, tmp_path / "tc.pgn", progress=False)["Random"]
    assert c["games"] == 2 and c["engine_forfeits"] == 0 and c["opponent_forfeits"] == 0
    assert '[TimeControl "5+0.1"]' in (tmp_path / "tc.pgn").read_text()


@pytest.mark.skipif(STOCKFISH is None, reason="Stockfish not installed (the noisy expert wraps it)")
def test_opponents_get_a_seed_per_game_so_a_deterministic_engine_meets_varied_games(
    tiny_model, tiny_weights: Path, tmp_path: Path
) -> None:
    """At temperature 0 the model is deterministic; a noisy expert with one Seed for every game
    replayed the same game each time (pool_v5: 23-35 distinct games of 300). Both runners now
    give the opponent its own Seed per game (OpponentSeed header)."""
    import copy

    import experiments.transcendence  # noqa: F401 - registers the noisy: spec
    from chessformer.bench.batched_match import run_batched_match
    from chessformer.engine.backends.cpu_fast import CpuFastBackend
    from chessformer.engine.player import Player

    noisy = parse_engine_spec("noisy:depth=1,random=0.8,name=d1-r80")
    cfg = MatchConfig(_cf(tiny_weights, "0"), [noisy], games=8, movetime=0.01, max_moves=12)
    runs = {
        "batched": lambda pgn: run_batched_match(
            cfg, Player(CpuFastBackend(copy.deepcopy(tiny_model), slots=16)), pgn, concurrency=8, progress=False
        ),
        "sequential": lambda pgn: run_match(cfg, pgn, progress=False),
    }
    for name, run in runs.items():
        pgn = tmp_path / f"{name}.pgn"
        assert run(pgn)["d1-r80"]["games"] == 8
        with open(pgn) as f:
            games = list(iter(lambda: chess.pgn.read_game(f), None))
        movetexts = {str(g.mainline_moves()) for g in games}
        assert len(movetexts) >= 6, (name, len(movetexts))  # 8 games, 4 per colour: all alike before the fix
        assert len({g.headers["OpponentSeed"] for g in games}) == 8


def test_elo_spec_sets_limit_strength_and_the_batched_runner_refuses_it(tiny_weights: Path, tmp_path: Path) -> None:
    from chessformer.bench.match import cli

    spec = parse_engine_spec("chessformer:elo=900")
    assert spec.options["UCI_LimitStrength"] == "true" and spec.options["UCI_Elo"] == "900" and "elo 900" in spec.name
    # the calibration table is in the engine's weights: the in-process runner cannot honour it, so it says so
    argv = ["--engine", f"chessformer:elo=900,weights={tiny_weights}", "--opponent", "random", "--games", "2"]
    assert cli([*argv, "--batched", "--pgn", str(tmp_path / "g.pgn"), "--no-progress"]) == 2
    assert not (tmp_path / "g.pgn").exists() or "[Event" not in (tmp_path / "g.pgn").read_text()


def test_batched_match_passes_the_rule_options_to_the_player(tiny_model, tiny_weights: Path, tmp_path: Path) -> None:
    import copy

    from chessformer.bench.batched_match import run_batched_match
    from chessformer.engine.backends.torch_backend import TorchBackend
    from chessformer.engine.player import Player

    class Recording(Player):
        def evaluate_many(self, boards, searchmoves=None, avoid_draws=False, take_mates=False, guard=False):  # noqa: ANN001, ANN201
            self.seen.add((avoid_draws, take_mates, guard))
            return super().evaluate_many(boards, searchmoves, avoid_draws, take_mates, guard)

    # the options as the engine holds them: given either way, or their defaults
    for flag, expected in (
        (",draw_avoidance=true,mate_in_one=false,material_guard=true", {(True, False, True)}),
        (",draw_avoidance=false,material_guard=false", {(False, True, False)}),
        ("", {(True, True, True)}),
    ):
        spec = parse_engine_spec(f"chessformer:temperature=0,weights={tiny_weights}{flag}")
        cfg = MatchConfig(spec, [parse_engine_spec("random")], games=2, movetime=0.01, max_moves=10)
        player = Recording(TorchBackend(copy.deepcopy(tiny_model), device="cpu"))
        player.seen = set()  # type: ignore[attr-defined]
        run_batched_match(cfg, player, tmp_path / f"d{len(flag)}.pgn", concurrency=2, progress=False)
        assert player.seen == expected  # type: ignore[attr-defined]


def test_idle_opponents_are_trimmed_to_the_concurrency() -> None:
    from chessformer.bench.batched_match import trim_idle

    class Proc:
        def __init__(self) -> None:
            self.closed = False

        def close(self) -> None:
            self.closed = True

    procs = [Proc() for _ in range(9)]
    idle: dict[int, list[Proc]] = {0: procs[:5], 1: procs[5:8], 2: procs[8:]}
    trim_idle(idle, keep=4)  # type: ignore[arg-type]
    assert sum(len(v) for v in idle.values()) == 4 and sum(p.closed for p in procs) == 5
    assert sorted(len(v) for v in idle.values()) == [1, 1, 2]  # the longest lists gave them up
    assert all(not p.closed for v in idle.values() for p in v)


def test_slow_loading_engine_does_not_lose_on_time_and_stderr_goes_to_the_log(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """An engine that takes 3 s to get ready (as a cold model load) on a 2 s clock: bench waits for
    its readyok before the first go, on no clock (without it, the first move lost on time)."""
    slow = tmp_path / "slow_engine.py"
    slow.write_text(
        "import sys, time, chess\n"
        "board, ready = chess.Board(), False\n"
        "for line in sys.stdin:\n"
        "    c = line.split()\n"
        "    if not c: continue\n"
        "    if c[0] == 'uci': print('id name Slow\\nuciok', flush=True)\n"
        "    elif c[0] == 'isready':\n"
        "        if not ready: time.sleep(3); ready = True\n"
        "        print('slow: model loaded', file=sys.stderr, flush=True); print('readyok', flush=True)\n"
        "    elif c[0] == 'position':\n"
        "        board = chess.Board()\n"
        "        for m in c[c.index('moves') + 1:] if 'moves' in c else []: board.push_uci(m)\n"
        "    elif c[0] == 'go':\n"
        "        if not ready: time.sleep(3); ready = True\n"
        "        print('bestmove ' + next(iter(board.legal_moves)).uci(), flush=True)\n"
        "    elif c[0] == 'quit': break\n"
    )
    cfg = MatchConfig(
        EngineSpec("Slow", (sys.executable, str(slow))),
        [parse_engine_spec("random")],
        games=2,
        movetime=None,
        clock=(2.0, 0.05),
        max_moves=10,
    )
    pgn = tmp_path / "slow.pgn"
    s = run_match(cfg, pgn, progress=False)["Random"]
    assert s["games"] == 2 and s["engine_forfeits"] == 0, s
    assert "lost on time" not in pgn.read_text()
    assert "slow: model loaded" not in capfd.readouterr().err
    assert "slow: model loaded" in (tmp_path / "slow.pgn.engines.log").read_text()
