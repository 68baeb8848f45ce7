"""``python -m chessformer.training train``: the training loop (nanoGPT-style, one file to read).

One process by default; ``torchrun --nproc_per_node N -m chessformer.training train ...`` runs
DistributedDataParallel (gloo on CPU, nccl on CUDA), each rank taking every N-th batch.
Checkpoints are written atomically; ``--resume`` continues from the last one with the
same data order (training/data.py) and no lost step.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from chessformer.engine.model import BOARD_ENCODINGS, SQUARE_TOKENS, ChessFormer, ModelConfig
from chessformer.engine.perf import measure_matmul_peak
from chessformer.engine.tokenizer import anchor_stride
from chessformer.training.data import RowSpec

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]


class TrainConfigError(ValueError):
    """A training config that cannot be used; the message is one line."""


@dataclass
class TrainConfig:
    """Every field can be set in a TOML file and overridden as --field value."""

    data: str = "data/human"  # folder of token shards (python -m chessformer.training prepare)
    out: str = "runs/default"  # run folder: checkpoint, log.jsonl, config.json
    # model
    n_layer: int = 8  # transformer blocks (count)
    n_head: int = 8  # attention heads (count)
    n_embd: int = 384  # residual width (channels)
    block_size: int = 256  # longest sequence (tokens); 1 for the squares encodings
    board_encoding: str = "summed"  # "summed": the paper's transcript model; "squares": a board reader with one token per square and an attention policy (engine/model.py), block_size 1; "squares-attacks": squares plus each square's attackers
    board_every_ply: bool = False  # each move token also reads the board after it (engine/model.py)
    rating_condition: bool = False  # every token reads the mover's and the opponent's rating bucket
    threat_inputs: bool = False  # every board row also holds its threats: square control, pieces en prise (engine/model.py); needs board_every_ply
    rating_dropout: float = (
        0.2  # training samples given "unknown" ratings, so the model also plays unconditioned (fraction)
    )
    # optimisation (the paper's AdamW settings)
    lr: float = 1e-3  # peak learning rate (per step); the paper's 3e-4 is for 50M params, small models take more
    min_lr: float = 1e-4  # cosine floor (per step)
    warmup_steps: int = 200  # linear warm-up (optimizer steps)
    max_steps: int = 5000  # optimizer steps in the schedule (count)
    weight_decay: float = 0.1  # AdamW decoupled decay on matrices (per step, scaled by lr)
    beta1: float = 0.9  # AdamW beta1
    beta2: float = 0.95  # AdamW beta2
    grad_clip: float = 1.0  # max global gradient norm; 0 disables
    batch_tokens: int = 16384  # padded tokens per micro-batch (tokens)
    grad_accum: int = 1  # micro-batches per optimizer step (count)
    value_weight: float = 0.5  # weight of the value loss next to the policy loss
    policy_loss: str = "all"  # "all": softmax over all 1968 moves (the paper's); "legal": over the position's legal moves only, as the engine plays and lc0 trains (needs data prepared with legal_moves)
    mid_game_fraction: float = 0.25  # samples starting mid-game from a POS anchor (fraction)
    end_game_fraction: float = 0.0  # of decisive games' samples, those from their last end_game_plies (fraction)
    end_game_plies: int = 10  # how near the end those samples start (plies); needs anchors there (anchor_every 1)
    mirror_fraction: float = (
        0.0  # training samples colour-mirrored, board and moves (fraction; training/mirror.py); validation never
    )
    # run
    seed: int = 1337  # data order and initialisation
    init_weights: str = ""  # engine weights (safetensors) to start from instead of a random init; same shape
    dtype: str = "bfloat16"  # autocast dtype: bfloat16 or float32
    compile: bool = False  # torch.compile the model
    device: str = "auto"  # auto, cpu or cuda
    threads: int = 0  # torch CPU threads; 0: all cores
    val_permille: int = 5  # games held out for validation (per mille)
    val_games: int = 400  # validation games evaluated (count; each from start and mid-game)
    eval_every: int = 250  # optimizer steps between validations
    ckpt_every: int = 100  # optimizer steps between checkpoints
    log_every: int = 10  # optimizer steps between log lines
    time_limit_minutes: float = 0.0  # stop (with a checkpoint) after this wall time; 0: none
    schedule_by_time: bool = False  # warm-up/cosine over the time limit instead of max_steps (for equal-time comparisons; not step-reproducible)

    def __post_init__(self) -> None:
        if self.board_encoding not in BOARD_ENCODINGS:
            raise TrainConfigError(f"board_encoding must be one of {BOARD_ENCODINGS}, got {self.board_encoding!r}")
        if self.board_encoding != "summed" and self.block_size != 1:
            raise TrainConfigError(
                f"board_encoding {self.board_encoding} reads one board: block_size must be 1, got {self.block_size}"
            )
        if self.policy_loss not in ("all", "legal"):
            raise TrainConfigError(f"policy_loss must be all or legal, got {self.policy_loss!r}")
        if not 0.0 <= self.mirror_fraction <= 1.0:
            raise TrainConfigError(f"mirror_fraction must be within [0, 1], got {self.mirror_fraction}")
        if not 0.0 <= self.end_game_fraction <= 1.0:
            raise TrainConfigError(f"end_game_fraction must be within [0, 1], got {self.end_game_fraction}")
        if not 0.0 <= self.rating_dropout <= 1.0:
            raise TrainConfigError(f"rating_dropout must be within [0, 1], got {self.rating_dropout}")
        if self.end_game_plies < 1:
            raise TrainConfigError(f"end_game_plies must be at least 1, got {self.end_game_plies}")

    @classmethod
    def load(cls, toml_path: str | None, overrides: list[str]) -> TrainConfig:
        values: dict[str, Any] = {}
        if toml_path:
            with open(toml_path, "rb") as f:
                values.update(tomllib.load(f))
        types = {f.name: f.type for f in fields(cls)}
        i = 0
        while i < len(overrides):
            key = overrides[i].removeprefix("--").replace("-", "_")
            if key not in types or i + 1 >= len(overrides):
                raise TrainConfigError(f"unknown or incomplete option {overrides[i]!r}")
            raw = overrides[i + 1]
            t = types[key]
            values[key] = (
                (raw.lower() in ("1", "true", "yes"))
                if t in (bool, "bool")
                else (int(raw) if t in (int, "int") else float(raw) if t in (float, "float") else raw)
            )
            i += 2
        return cls.from_dict(values)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """A config from field values (TOML tables, an experiment's [train] table); unknown keys are errors."""
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise TrainConfigError(f"unknown config keys {sorted(unknown)}")
        return cls(**values)

    def model_config(self) -> ModelConfig:
        return ModelConfig(
            n_layer=self.n_layer,
            n_head=self.n_head,
            n_embd=self.n_embd,
            block_size=self.block_size,
            board_encoding=self.board_encoding,
            board_every_ply=self.board_every_ply,
            rating_condition=self.rating_condition,
            threat_inputs=self.threat_inputs,
        )

    def row_spec(self) -> RowSpec:
        """The per-token feature rows the model reads (training/data.py)."""
        return RowSpec(self.board_every_ply, self.rating_condition, self.rating_dropout, self.threat_inputs)


def init_from(model: ChessFormer, weights: Path) -> None:
    """Copy engine weights into a freshly built model (fine-tuning); the shapes must match.

    One change is allowed: a model without threat_inputs starts a model with them. Its feature
    rows are copied and the new threat rows start at zero, so the new model computes exactly
    what the old one did and learns from there what the threats add.
    """
    from chessformer.engine.weights import load_weights

    source, _ = load_weights(weights)
    state = {k: v.float() for k, v in source.state_dict().items()}
    if source.cfg != model.cfg and {**source.cfg.to_dict(), "threat_inputs": True} == model.cfg.to_dict():
        old = state["feat_emb.weight"]  # [n_features of the source, C]
        grown = torch.zeros_like(model.feat_emb.weight)  # [N_FEATURES_THREATS, C]
        grown[: old.shape[0]] = old
        state["feat_emb.weight"] = grown
    elif source.cfg != model.cfg:
        raise TrainConfigError(f"{weights} is a {source.cfg}, not the configured {model.cfg}")
    model.load_state_dict(state)


def training_dtype(name: str, device: torch.device, verbose: bool) -> torch.dtype:
    """The autocast dtype: ``name``, except bfloat16 on a CPU that runs it slower than float32
    (no native bf16: one such CPU took 300x longer), where training falls back to float32 and says so."""
    if name != "bfloat16":
        return torch.float32
    if device.type != "cpu":
        return torch.bfloat16
    bf16, fp32 = (measure_matmul_peak(d, device, seconds=0.3) for d in (torch.bfloat16, torch.float32))
    if bf16 >= fp32:
        return torch.bfloat16
    if verbose:
        print(
            f"warning: bfloat16 matmuls run at {bf16 / 1e9:.1f} GFLOP/s on this CPU against {fp32 / 1e9:.1f}"
            " in float32 (no native bf16): training in float32",
            file=sys.stderr,
        )
    return torch.float32


def lr_at(step: int, cfg: TrainConfig, time_fraction: float | None = None) -> float:
    """Linear warm-up, then cosine decay to min_lr at max_steps (or at the time limit)."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if time_fraction is not None:
        t = min(1.0, time_fraction)
    else:
        t = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
    return cfg.min_lr + 0.5 * (1 + math.cos(math.pi * t)) * (cfg.lr - cfg.min_lr)


def flops_per_token(model: ChessFormer, seq_len: float) -> float:
    """Training FLOPs per input token: 6 x non-embedding parameters plus attention (PaLM appendix B).

    A squares model reads its one input token as 65 square tokens with full attention.
    """
    cfg = model.cfg
    n = sum(p.numel() for name, p in model.named_parameters() if "emb" not in name)
    if model.squares:
        return SQUARE_TOKENS * (6 * n + 12 * cfg.n_layer * cfg.n_embd * SQUARE_TOKENS)
    return 6 * n + 12 * cfg.n_layer * cfg.n_embd * seq_len


def legal_policy_loss(
    policy: torch.Tensor, targets: torch.Tensor, legal: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of a softmax over each position's legal moves only, and its top-1 hits.

    policy: [B, T, M] logits; targets: [B, T] move ids, -100 where none; legal: [B, T, K]
    legal move ids, -1 padded (every target is among its legal moves). Returns the mean
    loss over the targets and a [N] bool tensor, per target: is it the best legal move.
    """
    valid = legal >= 0  # [B, T, K]
    picked = policy.float().gather(-1, legal.clamp(min=0))  # [B, T, K] logits of the legal moves
    picked = picked.masked_fill(~valid, float("-inf"))
    mask = targets != -100  # [B, T]
    lse = torch.logsumexp(picked[mask], dim=-1)  # [N]
    target_logit = policy.float().gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)[mask]  # [N]
    best = legal.gather(-1, picked.argmax(-1, keepdim=True)).squeeze(-1)[mask]  # [N] best legal move id
    return (lse - target_logit).mean(), best == targets[mask]


def losses(
    model: torch.nn.Module, batch: Any, device: torch.device, value_weight: float
) -> tuple[torch.Tensor, dict[str, float]]:
    """Policy + value loss of a batch; the policy over legal moves only if the batch carries them."""
    tokens, inputs = batch.tokens.to(device), batch.inputs.to(device)
    pt, vt = batch.policy_targets.to(device), batch.value_targets.to(device)
    policy, value, _ = model(tokens, inputs)
    mask = pt != -100
    if batch.legal is not None:
        pl, hits = legal_policy_loss(policy, pt, batch.legal.to(device))
    else:
        # [B, T, M] -> [B*T, M] for the cross-entropy
        pl = F.cross_entropy(policy.float().reshape(-1, policy.shape[-1]), pt.reshape(-1), ignore_index=-100)
        hits = (policy.argmax(-1) == pt)[mask]
    vl = F.cross_entropy(value.float().reshape(-1, 3), vt.reshape(-1), ignore_index=-100)
    with torch.no_grad():
        top1 = hits.float().mean().item() if mask.any() else 0.0
        vmask = vt != -100
        vacc = (value.argmax(-1) == vt)[vmask].float().mean().item() if vmask.any() else 0.0
    return pl + value_weight * vl, {"policy_loss": pl.item(), "value_loss": vl.item(), "top1": top1, "value_acc": vacc}


@torch.no_grad()
def evaluate(
    model: torch.nn.Module, batches: list[Any], device: torch.device, ctx: Any, value_weight: float
) -> dict[str, float]:
    model.eval()
    tot: dict[str, float] = {}
    weight = 0
    for b in batches:
        with ctx:
            _, m = losses(model, b, device, value_weight)
        w = int((b.policy_targets != -100).sum())
        for k, v in m.items():
            tot[k] = tot.get(k, 0.0) + v * w
        weight += w
    model.train()
    return {f"val_{k}": v / max(1, weight) for k, v in tot.items()}


def save_checkpoint(
    path: Path, model: ChessFormer, opt: torch.optim.Optimizer, step: int, cfg: TrainConfig, extra: dict[str, Any]
) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "step": step,
            "config": dataclasses.asdict(cfg),
            "extra": extra,
        },
        tmp,
    )
    os.replace(tmp, path)  # atomic: a kill leaves either the old or the new checkpoint


def _truncate_log(path: Path, step: int) -> None:
    """Drop the log lines of steps after ``step``, where a run starts: a run killed between
    checkpoints logged steps that its resumption trains again, and a fresh start (``--overwrite``,
    or a run killed before its first checkpoint) trains every step again; each must appear once."""
    if not path.exists():
        return
    lines = path.read_text().splitlines(keepends=True)
    keep = [line for line in lines if line.strip() and json.loads(line).get("step", 0) <= step]
    if len(keep) < len(lines):
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(keep))
        os.replace(tmp, path)


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True, overwrite: bool = False) -> dict[str, Any]:
    from tqdm import tqdm

    from chessformer.training.data import BatchStream, GameIndex, validation_batches

    ddp = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank, world = 0, 1
    if cfg.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(cfg.device)
    if ddp:
        import torch.distributed as dist

        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        if device.type == "cuda":
            device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    master = rank == 0
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "checkpoint.pt"
    if ckpt_path.exists() and not (resume or overwrite):
        # a fresh run would replace the checkpoint within ckpt_every steps: hours of training lost
        raise FileExistsError(
            f"{ckpt_path} exists: pass --resume to continue it, or --overwrite to start again in {out}"
        )
    torch.manual_seed(cfg.seed)
    model = ChessFormer(cfg.model_config()).to(device)
    opt_groups = [
        {"params": [p for p in model.parameters() if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in model.parameters() if p.dim() < 2], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(opt_groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=device.type == "cuda")
    step, extra = 0, {"tokens_seen": 0, "wall_seconds": 0.0}
    if resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=device, weights_only=True)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        step, extra = int(ck["step"]), dict(ck["extra"])
        if master:
            print(f"resumed from {ckpt_path} at step {step}", file=sys.stderr)
    else:
        if cfg.init_weights:
            init_from(model, Path(cfg.init_weights))
            if master:
                print(f"initialised from {cfg.init_weights}", file=sys.stderr)
        if master:
            (out / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=1) + "\n")
    if master:  # the log keeps the steps before this start only: 0 for a fresh run (--overwrite)
        _truncate_log(out / "log.jsonl", step)
    n_params = model.num_parameters()
    net: torch.nn.Module = torch.compile(model) if cfg.compile else model  # type: ignore[assignment]
    if ddp:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(net)
    dtype = training_dtype(cfg.dtype, device, master)
    ctx = torch.autocast(device_type=device.type, dtype=dtype) if dtype != torch.float32 else nullcontext()

    index = GameIndex(Path(cfg.data), cfg.val_permille, legal=cfg.policy_loss == "legal")
    stream = BatchStream(
        index,
        cfg.block_size,
        cfg.batch_tokens,
        cfg.seed,
        cfg.mid_game_fraction,
        mirror_fraction=cfg.mirror_fraction,
        end_game_fraction=cfg.end_game_fraction,
        end_game_plies=cfg.end_game_plies,
        rows=cfg.row_spec(),
    )
    val = (
        validation_batches(index, cfg.block_size, cfg.batch_tokens, cfg.val_games, rows=cfg.row_spec())
        if master
        else []
    )
    peak = measure_matmul_peak(dtype, device)
    manifest = Path(cfg.data) / "manifest.json"
    every = json.loads(manifest.read_text()).get("anchor_every") if manifest.exists() else None
    stride = anchor_stride(cfg.block_size)  # the engine re-anchors long games every stride plies
    if master and every and every > stride:  # windows anchored there would never have been trained
        print(
            f"warning: the data has a board anchor every {every} plies, but a {cfg.block_size}-token window is "
            f"re-anchored every {stride}: prepare with --anchor-every {stride} for a model that plays long games",
            file=sys.stderr,
        )
    if master:
        print(
            f"model {n_params:,} parameters; train games {len(index.train):,}, val games {len(index.val):,};"
            f" matmul peak {peak / 1e12:.2f} TFLOP/s ({str(dtype).removeprefix('torch.')})",
            file=sys.stderr,
        )
    log = open(out / "log.jsonl", "a") if master else None
    bar = tqdm(total=cfg.max_steps, initial=step, disable=not (progress and master), desc="train", unit="step")
    t_start = time.time()
    wall0 = float(extra["wall_seconds"])
    last: dict[str, Any] = {}
    window_tokens, window_t = 0, time.time()
    while step < cfg.max_steps:
        frac = None
        if cfg.schedule_by_time and cfg.time_limit_minutes > 0:
            frac = (wall0 + time.time() - t_start) / (cfg.time_limit_minutes * 60)
        lr = lr_at(step, cfg, frac)
        for g in opt.param_groups:
            g["lr"] = lr
        metrics: dict[str, float] = {}
        real = padded = 0
        for micro in range(cfg.grad_accum):
            batch = stream.batch((step * cfg.grad_accum + micro) * world + rank)
            sync = nullcontext() if not ddp or micro == cfg.grad_accum - 1 else net.no_sync()  # type: ignore[operator]
            with sync, ctx:
                loss, metrics = losses(net, batch, device, cfg.value_weight)
            (loss / cfg.grad_accum).backward()
            real += batch.real_tokens
            padded += batch.tokens.numel()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        extra["tokens_seen"] = int(extra["tokens_seen"]) + real * world
        window_tokens += padded
        bar.update(1)
        if master and (step % cfg.log_every == 0 or step == cfg.max_steps):
            dt = time.time() - window_t
            tps = window_tokens * world / max(dt, 1e-9)
            mfu = tps * flops_per_token(model, cfg.block_size / 2) / (peak * world)
            last = {
                "step": step,
                "lr": lr,
                "loss": float(loss.item()),
                **metrics,
                "tokens_seen": extra["tokens_seen"],
                "tokens_per_s": round(tps, 1),
                "mfu": round(mfu, 4),
                "padding": round(1 - real / max(1, padded), 4),
                "wall_seconds": round(wall0 + time.time() - t_start, 1),
            }
            bar.set_postfix(loss=f"{last['loss']:.3f}", tok_s=f"{tps:.0f}", mfu=f"{mfu:.1%}")
            window_tokens, window_t = 0, time.time()
        timed_out = cfg.time_limit_minutes > 0 and (wall0 + time.time() - t_start) > cfg.time_limit_minutes * 60
        if ddp:  # every rank must stop at the same step, or the others hang in all-reduce
            import torch.distributed as dist

            flag = torch.tensor([int(timed_out)])
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            timed_out = bool(flag.item())
        if master and (step % cfg.eval_every == 0 or step == cfg.max_steps or timed_out):
            last.update(evaluate(net, val, device, ctx, cfg.value_weight))
            last["step"] = step
        if master and last and log:
            log.write(json.dumps(last) + "\n")
            log.flush()
            extra.update({k: v for k, v in last.items() if k.startswith("val_")})
            last = {}
        if master and (step % cfg.ckpt_every == 0 or step == cfg.max_steps or timed_out):
            extra["wall_seconds"] = wall0 + time.time() - t_start
            save_checkpoint(ckpt_path, model, opt, step, cfg, extra)
        if timed_out:
            break
    bar.close()
    if log:
        log.close()
    if ddp:
        import torch.distributed as dist

        dist.destroy_process_group()
    return {"step": step, "parameters": n_params, **extra}


def cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m chessformer.training train", description="Train a ChessFormer.")
    p.add_argument("--config", help="TOML file with TrainConfig fields")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--overwrite", action="store_true", help="start again even if OUT has a checkpoint (it is replaced)")
    p.add_argument("--no-progress", action="store_true")
    a, rest = p.parse_known_args(argv)
    try:
        cfg = TrainConfig.load(a.config, rest)
        result = train(cfg, resume=a.resume, progress=not a.no_progress, overwrite=a.overwrite)
    except (FileExistsError, TrainConfigError) as e:
        print(f"train: {e}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(result))
    return 0
