"""Trainer: learning on a toy set, batches, kill-and-resume, torchrun with gloo, export."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import chess
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from chessformer.training.data import BatchStream, GameIndex, validation_batches
from chessformer.training.prepare import PrepareConfig, prepare
from chessformer.training.train import TrainConfig, TrainConfigError, train
from chessformer.training.train import cli as train_cli
from tests.pgn_factory import lowest_squares_after_opening, make_pgn

TINY = [
    "--n_layer",
    "2",
    "--n_head",
    "2",
    "--n_embd",
    "32",
    "--block_size",
    "64",
    "--batch_tokens",
    "1024",
    "--val_games",
    "20",
    "--val_permille",
    "100",
    "--threads",
    "1",
    "--warmup_steps",
    "5",
]


def _tiny_cfg(shards: Path, out: Path, *overrides: str) -> TrainConfig:
    """The tiny model's config on the toy shards, writing to ``out``, with ``--field value`` overrides."""
    return TrainConfig.load(None, [*TINY, "--data", str(shards), "--out", str(out), *overrides])


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("data")
    (d / "g.pgn").write_text(make_pgn(random.Random(0), 300))
    prepare([d / "g.pgn"], d / "shards", PrepareConfig(workers=1, anchor_every=8), progress=False)
    return d / "shards"


def test_batches_are_deterministic_and_tight(shards: Path) -> None:
    index = GameIndex(shards, val_permille=100)
    assert index.val and index.train and not set(index.val) & set(index.train)
    a = BatchStream(index, 64, 1024, seed=1, mid_game_fraction=0.5)
    b = BatchStream(index, 64, 1024, seed=1, mid_game_fraction=0.5)
    for i in (0, 5, 70, 3):
        x, y = a.batch(i), b.batch(i)
        assert torch.equal(x.tokens, y.tokens) and torch.equal(x.anchors, y.anchors)
    waste = [1 - a.batch(i).real_tokens / a.batch(i).tokens.numel() for i in range(20)]
    assert sum(waste) / len(waste) < 0.15
    batch = a.batch(0)
    assert batch.tokens.shape[1] <= 64 and (batch.tokens[:, 0] == 1968).all()
    # the policy target at position t is the token at t + 1
    row = batch.tokens[0]
    n = int((row != 1969).sum())
    assert torch.equal(batch.policy_targets[0, : n - 1], row[1:n])
    assert validation_batches(index, 64, 1024, 10)


def test_full_window_last_token_has_a_target(shards: Path) -> None:
    """A window that fills block_size predicts the move after it: the engine's short-window case."""
    from chessformer.training.data import IGNORE, collate

    index = GameIndex(shards, val_permille=100)
    rng = random.Random(3)
    full = ended = 0
    for ref in index.train[:40]:
        sample = index.sample(ref, 4, rng, 1.0)
        moves = sample.moves
        b = collate([sample], 4)
        s, g = ref
        game = index.shards[s].games[g]
        if len(moves) == 4:  # [POS, m0, m1, m2] reads three moves and predicts m0 .. m3
            full += 1
            assert b.tokens.shape == (1, 4) and b.tokens[0, 1:].tolist() == moves[:3].tolist()
            assert b.policy_targets[0].tolist() == moves.tolist()
            assert (b.value_targets[0] != IGNORE).all()
        else:  # the game ends inside the window: nothing follows its last move
            ended += 1
            assert int(game["length"]) > 0 and b.policy_targets[0, len(moves)] == IGNORE
            assert b.tokens.shape[1] == len(moves) + 1
    assert full > 20
    # block_size 2, the board-reading window: [POS(board), last move] -> the next move
    sample = index.sample(index.train[0], 2, rng, 1.0)
    moves = sample.moves
    b = collate([sample], 2)
    assert b.tokens.shape == (1, 2) and b.policy_targets[0].tolist() == moves.tolist() and len(moves) == 2


@pytest.fixture(scope="module")
def legal_shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Toy games with a board at every ply and every ply's legal moves (board-reading training)."""
    d = tmp_path_factory.mktemp("legal")
    (d / "g.pgn").write_text(make_pgn(random.Random(1), 200))
    prepare([d / "g.pgn"], d / "shards", PrepareConfig(workers=1, anchor_every=1, legal_moves=True), progress=False)
    return d / "shards"


def test_legal_policy_loss_is_cross_entropy_over_legal_moves() -> None:
    from chessformer.training.train import legal_policy_loss

    g = torch.Generator().manual_seed(0)
    policy = torch.randn(2, 3, 1968, generator=g)
    legal = torch.full((2, 3, 4), -1, dtype=torch.long)
    legal[0, 0, :3] = torch.tensor([5, 9, 700])
    legal[0, 1, :4] = torch.tensor([1, 2, 3, 4])
    legal[1, 0, :2] = torch.tensor([100, 1500])
    targets = torch.tensor([[9, 4, -100], [1500, -100, -100]])
    policy[0, 0, 1000] = 50.0  # an illegal move with the largest logit must not count as the best move
    policy[0, 0, 9] = 5.0
    loss, hits = legal_policy_loss(policy, targets, legal)
    expected = []
    for (b, t), ids in (((0, 0), [5, 9, 700]), ((0, 1), [1, 2, 3, 4]), ((1, 0), [100, 1500])):
        logp = torch.log_softmax(policy[b, t, ids], dim=0)
        expected.append(-logp[ids.index(int(targets[b, t]))])
    assert torch.allclose(loss, torch.stack(expected).mean(), atol=1e-5)
    assert hits.tolist()[0] is True and len(hits) == 3
    # the full-vocabulary loss of the same logits is larger: it also pays for illegal moves
    full = F.cross_entropy(policy.reshape(-1, 1968), targets.reshape(-1), ignore_index=-100)
    assert full > loss


def test_mirrored_sample_is_the_colour_flipped_position(legal_shards: Path) -> None:
    from chessformer.training.mirror import MIRROR_MOVE, mirror_features

    index = GameIndex(legal_shards, val_permille=100, legal=True)
    for ref in index.train[:30]:
        m0, f0, r0, l0, g0, _ = index.sample(ref, 2, random.Random(5), 1.0)
        m1, f1, r1, l1, g1, _ = index.sample(ref, 2, random.Random(5), 1.0, mirror_fraction=1.0)
        assert g1 == g0  # the ratings are the side to move's and its opponent's, mirrored or not
        assert l0 is not None and l1 is not None
        assert m1.tolist() == MIRROR_MOVE[m0].tolist() and f1.tolist() == mirror_features(f0).tolist()
        assert r1 == r0  # the side to move's result
        for mv, ids in zip(m1, l1, strict=True):
            assert mv in ids  # a played move stays legal in the mirrored position
    b = BatchStream(index, 2, 512, seed=1, mid_game_fraction=0.98, mirror_fraction=0.5).batch(0)
    assert b.legal is not None and b.legal.shape[:2] == b.tokens.shape
    rows = b.policy_targets != -100
    assert ((b.legal == b.policy_targets.unsqueeze(-1)).any(-1) | ~rows).all()  # every target among its legal moves


def test_end_game_samples_come_from_a_decisive_games_last_plies(legal_shards: Path) -> None:
    index = GameIndex(legal_shards, val_permille=100, legal=True)
    decisive = drawn = 0
    for ref in index.train[:60]:
        sh = index.shards[ref[0]]
        game = sh.games[ref[1]]
        n, result = int(game["length"]), int(game["result"])
        rows = sh.anchors[sh.anchors["game"] == ref[1]]
        late = {tuple(r["features"].tolist()) for r in rows if r["ply"] >= n - 4}
        for k in range(4):
            plain = index.sample(ref, 1, random.Random(k), 0.5)
            end = index.sample(ref, 1, random.Random(k), 0.5, end_game_fraction=1.0, end_game_plies=4)
            if result == 0:  # a draw is sampled as before, with the same draws from the rng
                drawn += 1
                assert end[0].tolist() == plain[0].tolist() and end[1].tolist() == plain[1].tolist()
            else:
                decisive += 1
                assert tuple(end[1].tolist()) in late and len(end[0]) == 1
    assert decisive > 20 and drawn > 0
    with pytest.raises(TrainConfigError, match="end_game_fraction"):
        _tiny_cfg(legal_shards, Path("unused"), "--end_game_fraction", "1.5")


def test_legal_loss_training_learns(legal_shards: Path, shards: Path, tmp_path: Path) -> None:
    cfg = _tiny_cfg(
        legal_shards,
        tmp_path / "run",
        *("--block_size", "2", "--max_steps", "40", "--lr", "3e-3", "--eval_every", "40"),
        *("--policy_loss", "legal", "--mirror_fraction", "0.5", "--mid_game_fraction", "0.98"),
    )
    train(cfg, progress=False)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    # a random model's legal-move loss is near log(~30 legal moves) = 3.4, far below log(1968) = 7.6
    assert log[0]["policy_loss"] < 4.5 and log[-1]["policy_loss"] < log[0]["policy_loss"]
    assert "val_top1" in log[-1]
    with pytest.raises(ValueError, match="legal move lists"):
        train(_tiny_cfg(shards, tmp_path / "r2", "--policy_loss", "legal"), progress=False)  # prepared without
    with pytest.raises(TrainConfigError, match="policy_loss"):
        _tiny_cfg(legal_shards, tmp_path / "r3", "--policy_loss", "illegal")


@pytest.mark.parametrize("encoding", ["squares", "squares-attacks"])
def test_squares_encoding_trains_exports_and_plays(tmp_path: Path, encoding: str) -> None:
    """board_encoding squares (and squares-attacks): one board per sample learns a board rule (the lowest
    from- and to-square), and the engine plays the export."""
    d = tmp_path / "rule"
    d.mkdir()
    (d / "g.pgn").write_text(make_pgn(random.Random(2), 200, choose=lowest_squares_after_opening))
    prepare([d / "g.pgn"], d / "shards", PrepareConfig(workers=1, anchor_every=1, legal_moves=True), progress=False)
    cfg = _tiny_cfg(
        d / "shards",
        tmp_path / "sq",
        *("--board_encoding", encoding, "--block_size", "1", "--batch_tokens", "256", "--max_steps", "60"),
        *("--lr", "3e-3", "--eval_every", "60", "--policy_loss", "legal", "--mid_game_fraction", "0.98"),
    )
    train(cfg, progress=False)
    log = [json.loads(line) for line in (tmp_path / "sq" / "log.jsonl").read_text().splitlines()]
    # uniform over ~30 legal moves is ~3% top-1; the rule decides ~90% of the positions
    assert log[-1]["val_top1"] > 0.3 and log[-1]["policy_loss"] < log[0]["policy_loss"] - 0.5
    assert 0 < log[0]["mfu"] < 1  # FLOPs counted over the 65 square tokens a position is read as
    from chessformer.engine.backends.torch_backend import TorchBackend
    from chessformer.engine.player import Player
    from chessformer.engine.weights import load_weights
    from chessformer.training.export import export

    out = export(tmp_path / "sq" / "checkpoint.pt", tmp_path / "sq.safetensors", "toy", 1500, bf16=False)
    model, info = load_weights(out["weights"])
    assert model.squares and info.config["block_size"] == 1 and info.config["board_encoding"] == encoding
    board = chess.Board()
    player = Player(TorchBackend(model, device="cpu"))
    for _ in range(30):
        if board.is_game_over():
            break
        board.push(player.evaluate(board).moves[0])
    assert board.ply() >= 10
    with pytest.raises(TrainConfigError, match="block_size must be 1"):
        _tiny_cfg(d / "shards", tmp_path / "r4", "--board_encoding", encoding)


def test_training_reduces_loss(shards: Path, tmp_path: Path) -> None:
    cfg = _tiny_cfg(
        shards, tmp_path / "run", "--max_steps", "60", "--lr", "3e-3", "--eval_every", "60", "--log_every", "10"
    )
    result = train(cfg, progress=False)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["loss"] < log[0]["loss"] - 1.0
    assert "val_policy_loss" in log[-1] and "mfu" in log[0] and "tokens_per_s" in log[0]
    assert result["step"] == 60 and (tmp_path / "run" / "checkpoint.pt").exists()


def test_existing_checkpoint_needs_resume_or_overwrite(shards: Path, tmp_path: Path, capsys) -> None:
    """Starting without --resume in a folder that has a checkpoint would replace it (and hours of training)
    within ckpt_every steps: it is a clear error, and --overwrite starts a clean run with its own log."""
    cfg = _tiny_cfg(shards, tmp_path / "run", "--max_steps", "3", "--eval_every", "1000", "--log_every", "1")
    train(cfg, progress=False)
    ck = tmp_path / "run" / "checkpoint.pt"
    before = ck.read_bytes()
    with pytest.raises(FileExistsError, match="--resume"):
        train(cfg, progress=False)
    args = ["--data", str(shards), "--out", str(tmp_path / "run"), "--max_steps", "3", "--no-progress"]
    assert train_cli([*args, *TINY]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert ck.read_bytes() == before
    train(_tiny_cfg(shards, tmp_path / "run", "--max_steps", "2", "--log_every", "1"), progress=False, overwrite=True)
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2] and torch.load(ck, weights_only=True)["step"] == 2


def test_resume_drops_log_lines_after_its_checkpoint(shards: Path, tmp_path: Path) -> None:
    """A run killed between checkpoints has logged steps that the resumed run trains again: the log
    keeps each step once."""
    args = ("--eval_every", "1000", "--log_every", "1", "--ckpt_every", "100")
    train(_tiny_cfg(shards, tmp_path / "run", "--max_steps", "4", *args), progress=False)
    log = tmp_path / "run" / "log.jsonl"
    with open(log, "a") as f:  # what a run killed at step 6, after its last checkpoint (step 4), left
        f.write('{"step": 5, "loss": 9.0}\n{"step": 6, "loss": 9.0}\n')
    train(_tiny_cfg(shards, tmp_path / "run", "--max_steps", "6", *args), resume=True, progress=False)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6] and all(r["loss"] != 9.0 for r in rows)


def test_config_from_toml_and_overrides(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text('n_layer = 3\nlr = 0.002\ndata = "x"\n')
    cfg = TrainConfig.load(str(p), ["--lr", "0.01", "--compile", "true"])
    assert (cfg.n_layer, cfg.lr, cfg.data, cfg.compile) == (3, 0.01, "x", True)
    with pytest.raises(TrainConfigError):
        TrainConfig.load(None, ["--no_such_field", "1"])


def _run(args: list[str], **kw) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "chessformer.training", "train", "--no-progress", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kw,
    )


@pytest.mark.slow
def test_sigkill_then_resume_matches_uninterrupted_run(shards: Path, tmp_path: Path) -> None:
    common = TINY + ["--data", str(shards), "--max_steps", "40", "--ckpt_every", "1", "--eval_every", "1000"]
    ref = _run(common + ["--out", str(tmp_path / "ref")])
    assert ref.wait(timeout=600) == 0, ref.stderr.read() if ref.stderr else ""
    victim = _run(common + ["--out", str(tmp_path / "cut")])
    ck = tmp_path / "cut" / "checkpoint.pt"
    deadline = time.time() + 300
    while time.time() < deadline:
        if ck.exists() and torch.load(ck, weights_only=True)["step"] >= 12:
            break
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_at = torch.load(ck, weights_only=True)["step"]
    assert 12 <= killed_at < 40
    resumed = _run(common + ["--out", str(tmp_path / "cut"), "--resume"])
    assert resumed.wait(timeout=600) == 0
    a = torch.load(tmp_path / "ref" / "checkpoint.pt", weights_only=True)
    b = torch.load(ck, weights_only=True)
    assert a["step"] == b["step"] == 40
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k


@pytest.mark.slow
def test_torchrun_two_processes_gloo(shards: Path, tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29533",
        "-m",
        "chessformer.training",
        "train",
        "--no-progress",
        *TINY,
        "--data",
        str(shards),
        "--out",
        str(tmp_path / "ddp"),
        "--max_steps",
        "10",
        "--eval_every",
        "10",
        "--log_every",
        "5",
    ]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    ck = torch.load(tmp_path / "ddp" / "checkpoint.pt", weights_only=True)
    assert ck["step"] == 10
    log = [json.loads(x) for x in (tmp_path / "ddp" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 10 and "val_policy_loss" in log[-1]


def test_board_every_ply_and_ratings_train_export_and_play(shards: Path, tmp_path: Path) -> None:
    """The bundled model's inputs (training/configs/default.toml) through train, export and the engine."""
    cfg = _tiny_cfg(
        shards,
        tmp_path / "r",
        "--max_steps",
        "40",
        "--lr",
        "3e-3",
        "--eval_every",
        "40",
        "--log_every",
        "10",
        "--board_every_ply",
        "true",
        "--rating_condition",
        "true",
        "--mirror_fraction",
        "0.5",
    )
    train(cfg, progress=False)
    log = [json.loads(line) for line in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["loss"] < log[0]["loss"] - 0.5
    b = BatchStream(
        GameIndex(shards, val_permille=100), 64, 1024, seed=1, mid_game_fraction=0.5, rows=cfg.row_spec()
    ).batch(0)
    assert b.features is not None and b.features.shape[:2] == b.tokens.shape and b.features.shape[2] == 72
    from chessformer.engine.loader import load_model
    from chessformer.training.export import export

    out = export(tmp_path / "r" / "checkpoint.pt", tmp_path / "w.safetensors", "toy", None, bf16=True)
    loaded = load_model(str(out["weights"]), "cpu-fast", threads=1, hash_mb=16)
    assert loaded.player.backend.inputs.board_every_ply and loaded.player.backend.inputs.rating_condition
    board = chess.Board()
    for _ in range(30):
        board.push(loaded.player.choose(board, 0.5, np.random.default_rng(0)))


def test_default_and_transcript_recipes_load() -> None:
    root = Path(__file__).resolve().parents[2] / "training" / "configs"
    default = TrainConfig.load(str(root / "default.toml"), [])
    assert default.board_every_ply and default.rating_condition and default.model_config().row_width == 40
    plain = TrainConfig.load(str(root / "transcript.toml"), [])
    assert not plain.board_every_ply and not plain.rating_condition and plain.row_spec().plain


def test_export_gives_engine_weights(shards: Path, tmp_path: Path) -> None:
    cfg = _tiny_cfg(shards, tmp_path / "r", "--max_steps", "3")
    train(cfg, progress=False)
    from chessformer.training.export import export

    out = export(tmp_path / "r" / "checkpoint.pt", tmp_path / "w.safetensors", "toy", 1500, bf16=True)
    from chessformer.engine.weights import load_weights

    model, info = load_weights(out["weights"])
    assert info.metadata["rating_cap"] == 1500 and info.metadata["training_steps"] == 3
    assert info.metadata["training_data"]["games"] == 300 and not info.is_random_init


def test_gradient_accumulation_counts_tokens_of_every_micro_batch(shards: Path, tmp_path: Path) -> None:
    cfg = _tiny_cfg(shards, tmp_path / "ga", "--max_steps", "3", "--grad_accum", "3", "--eval_every", "3")
    r = train(cfg, progress=False)
    one = _tiny_cfg(shards, tmp_path / "g1", "--max_steps", "9", "--eval_every", "9")
    r1 = train(one, progress=False)
    # three micro-batches per step read the same batches as three single steps
    assert r["step"] == 3 and r["tokens_seen"] == r1["tokens_seen"]


@pytest.mark.slow
def test_compiled_training_matches_eager(shards: Path, tmp_path: Path) -> None:
    """--compile true trains the same model (same losses up to kernel rounding) and saves plain weights."""
    losses = {}
    for flag in ("false", "true"):
        out = tmp_path / flag
        cfg = _tiny_cfg(shards, out, "--max_steps", "6", "--log_every", "2", "--eval_every", "1000", "--compile", flag)
        train(cfg, progress=False)
        losses[flag] = [json.loads(line)["loss"] for line in (out / "log.jsonl").read_text().splitlines()[:3]]
        state = torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=True)["model"]
        assert not any(k.startswith("_orig_mod.") for k in state)  # the engine loads it unchanged
    assert losses["true"] == pytest.approx(losses["false"], rel=2e-2)


def test_fine_tuning_starts_from_engine_weights(shards: Path, tmp_path: Path) -> None:
    """--init_weights loads exported engine weights as the start point; another shape is refused."""
    from chessformer.training.export import export

    train(_tiny_cfg(shards, tmp_path / "a", "--max_steps", "3", "--eval_every", "1000"), progress=False)
    weights = tmp_path / "a.safetensors"
    export(tmp_path / "a" / "checkpoint.pt", weights, "toy", None, bf16=False)
    # lr 0: the one optimizer step changes nothing, so the checkpoint holds the start weights
    zero = ("--max_steps", "1", "--lr", "0", "--min_lr", "0", "--warmup_steps", "1", "--eval_every", "1000")
    train(_tiny_cfg(shards, tmp_path / "b", *zero, "--init_weights", str(weights)), progress=False)
    start = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)["model"]
    tuned = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(start[k], tuned[k]) for k in start)
    train(_tiny_cfg(shards, tmp_path / "c", *zero, "--seed", "7"), progress=False)  # no init: random weights
    fresh = torch.load(tmp_path / "c" / "checkpoint.pt", weights_only=True)["model"]
    assert not all(torch.equal(start[k], fresh[k]) for k in start)
    with pytest.raises(TrainConfigError, match="not the configured"):
        train(
            _tiny_cfg(shards, tmp_path / "d", *zero, "--n_embd", "64", "--init_weights", str(weights)), progress=False
        )


def test_a_threat_model_grows_from_a_model_without_threats_and_trains(shards: Path, tmp_path: Path) -> None:
    """--threat_inputs true with --init_weights of the same model without threats: every weight is copied,
    the new feature rows start at zero (so the first loss is the source model's), and it trains, exports, plays."""
    from chessformer.engine.loader import load_model
    from chessformer.training.export import export

    rows = ("--board_every_ply", "true", "--rating_condition", "true", "--eval_every", "1000")
    train(_tiny_cfg(shards, tmp_path / "a", "--max_steps", "5", *rows), progress=False)
    weights = tmp_path / "a.safetensors"
    export(tmp_path / "a" / "checkpoint.pt", weights, "toy", None, bf16=False)
    zero = ("--max_steps", "1", "--lr", "0", "--min_lr", "0", "--warmup_steps", "1", "--log_every", "1")
    for name, threats in (("same", "false"), ("grown", "true")):
        cfg = _tiny_cfg(
            shards, tmp_path / name, *zero, *rows, "--threat_inputs", threats, "--init_weights", str(weights)
        )
        train(cfg, progress=False)
    first = {n: json.loads((tmp_path / n / "log.jsonl").read_text().splitlines()[0])["loss"] for n in ("same", "grown")}
    assert first["grown"] == pytest.approx(first["same"], abs=1e-3)
    grown = torch.load(tmp_path / "grown" / "checkpoint.pt", weights_only=True)["model"]["feat_emb.weight"]
    assert grown.shape[0] > 851 and torch.count_nonzero(grown[851:]) == 0
    cfg = _tiny_cfg(shards, tmp_path / "t", "--max_steps", "30", "--lr", "3e-3", "--log_every", "10", *rows)
    cfg = TrainConfig.from_dict({**dataclasses.asdict(cfg), "threat_inputs": True, "init_weights": str(weights)})
    train(cfg, progress=False)
    trained = torch.load(tmp_path / "t" / "checkpoint.pt", weights_only=True)["model"]["feat_emb.weight"]
    assert torch.count_nonzero(trained[851:]) > 0  # the threat rows learned
    out = export(tmp_path / "t" / "checkpoint.pt", tmp_path / "t.safetensors", "toy", None, bf16=True)
    loaded = load_model(str(out["weights"]), "cpu-int8", threads=1, hash_mb=16)
    assert loaded.player.backend.inputs.threat_inputs
    board = chess.Board()
    for _ in range(30):
        board.push(loaded.player.choose(board, 0.5, np.random.default_rng(0)))
