"""Engines as bench sees them: a UCI command, its options and its per-move limit.

Specs are written on the command line as short strings:

- ``stockfish:skill=0`` Stockfish at a Skill Level; also ``elo=1350`` (UCI_LimitStrength),
  ``nodes=1000``, ``depth=3``, ``movetime=0.1`` (seconds), combinable with commas; ``random=0.5``:
  a uniformly random legal move with that probability, Stockfish's otherwise (bench/random_mover.py),
  the rungs between the random mover and Skill Level 0 that a strength calibration is tied through.
- ``random``: the uniformly random mover (bench/random_mover.py).
- a kind another package registers in ``SPEC_KINDS`` (the transcendence experiment's ``noisy:``,
  experiments/transcendence/noisy_engine.py, once that module is imported).
- ``chessformer:temperature=0.3,weights=PATH``: this project's engine (also ``backend=NAME``,
  ``draw_avoidance=true`` and ``mate_in_one=false``: the DrawAvoidance and MateInOne options,
  engine/player.py; ``elo=1200``: UCI_LimitStrength at that UCI_Elo, with ``weights=`` started as
  ``chessformer --weights PATH`` so that UCI_Elo's declared range is that model's; ``rating=2700,scale=fide``:
  the Rating and RatingScale options of a rating-conditioned model, ``rating=0`` unconditioned).
- ``cmd=PATH [ARGS];Option=value;...``: any UCI engine with options.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

OptionMap = dict[str, str | int | bool]


@dataclass(frozen=True)
class EngineSpec:
    """One engine configuration in a match."""

    name: str  # shown in PGN headers and tables
    command: tuple[str, ...]  # argv of the UCI engine
    options: OptionMap = field(default_factory=dict)  # setoption name -> value
    nodes: int | None = None  # per-move node limit, if any (count)
    depth: int | None = None  # per-move depth limit, if any (plies)
    movetime: float | None = None  # per-move time for this engine, overriding the match's (seconds)

    def describe(self) -> str:
        opts = ",".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        limits = ",".join(
            f"{k}={v}"
            for k, v in (("nodes", self.nodes), ("depth", self.depth), ("movetime", self.movetime))
            if v is not None
        )
        return " ".join(self.command) + (f" [{opts}]" if opts else "") + (f" {{{limits}}}" if limits else "")


def stockfish_path() -> str:
    for cand in (shutil.which("stockfish"), "/usr/games/stockfish"):
        if cand and Path(cand).exists():
            return cand
    raise FileNotFoundError("Stockfish not found: apt-get install stockfish (binary /usr/games/stockfish)")


def chessformer_command() -> tuple[str, ...]:
    exe = shutil.which("chessformer")
    return (exe,) if exe else (sys.executable, "-m", "chessformer.engine")


def _kv(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in filter(None, text.split(",")):
        if "=" not in part:
            raise ValueError(f"expected key=value, got {part!r}")
        k, v = part.split("=", 1)
        out[k.strip().lower()] = v.strip()
    return out


# Engine kinds registered by other packages: HEAD -> (the spec's key=value settings -> EngineSpec).
SPEC_KINDS: dict[str, Callable[[dict[str, str]], EngineSpec]] = {}


def parse_engine_spec(text: str) -> EngineSpec:
    """An EngineSpec from its short string (see the module doc); ValueError if malformed."""
    head, _, rest = text.partition(":")
    head = head.strip().lower()
    if text.startswith("cmd="):
        parts = text[4:].split(";")
        argv = tuple(shlex.split(parts[0]))
        if not argv:
            raise ValueError("cmd= needs a command")
        cmd_options: OptionMap = {}
        for p in parts[1:]:
            if "=" not in p:
                raise ValueError(f"expected Option=value, got {p!r}")
            k, v = p.split("=", 1)
            cmd_options[k.strip()] = v.strip()
        return EngineSpec(name=Path(argv[0]).name, command=argv, options=cmd_options)
    kv = _kv(rest)
    if head in SPEC_KINDS:  # a kind another package registered (the transcendence experiment's noisy experts)
        return SPEC_KINDS[head](kv)
    nodes = int(kv.pop("nodes")) if "nodes" in kv else None
    depth = int(kv.pop("depth")) if "depth" in kv else None
    movetime = float(kv.pop("movetime")) if "movetime" in kv else None
    options: OptionMap
    if head == "stockfish":
        options = {}
        name = "Stockfish"
        if "skill" in kv:
            options["Skill Level"] = int(kv.pop("skill"))
            name += f" skill {options['Skill Level']}"
        if "elo" in kv:
            options["UCI_LimitStrength"] = True
            options["UCI_Elo"] = int(kv.pop("elo"))
            name += f" elo {options['UCI_Elo']}"
        options["Threads"] = int(kv.pop("threads", "1"))
        options["Hash"] = int(kv.pop("hash", "16"))
        command: tuple[str, ...] = (stockfish_path(),)
        if "random" in kv:
            share = float(kv.pop("random"))
            if not 0 <= share <= 1:
                raise ValueError(f"stockfish random= is a probability within 0..1, got {share:g}")
            command = (sys.executable, "-m", "chessformer.bench.random_mover", "--random", f"{share:g}")
            name += f" random {share:g}"
    elif head == "random":
        options, name, command = {}, "Random", (sys.executable, "-m", "chessformer.bench.random_mover")
    elif head == "chessformer":
        options = {}
        name = "ChessFormer"
        if "temperature" in kv:
            options["Temperature"] = kv.pop("temperature")
            name += f" T={options['Temperature']}"
        if "weights" in kv:
            options["WeightsFile"] = kv.pop("weights")
            name += f" {Path(str(options['WeightsFile'])).stem}"
        if "backend" in kv:
            options["Backend"] = kv.pop("backend")
        if "rating" in kv:  # the rating a rating-conditioned model plays as (0: unknown)
            options["Rating"] = kv.pop("rating")
            name += f" R={options['Rating']}"
        if "elo" in kv:  # UCI_LimitStrength at this UCI_Elo (the weights' calibration table)
            options["UCI_LimitStrength"] = "true"
            options["UCI_Elo"] = kv.pop("elo")
            name += f" elo {options['UCI_Elo']}"
        if "scale" in kv:
            options["RatingScale"] = kv.pop("scale")
            name += f" {options['RatingScale']}"
        for key, option in (
            ("draw_avoidance", "DrawAvoidance"),
            ("mate_in_one", "MateInOne"),
            ("material_guard", "MaterialGuard"),
        ):
            if key in kv:
                value = kv.pop(key).lower()
                if value not in ("true", "false"):
                    raise ValueError(f"{key} must be true or false, got {value!r}")
                options[option] = value
                name += f" {key.replace('_', '-')}" if value == "true" else ""
        command = chessformer_command()
        if "UCI_Elo" in options and "WeightsFile" in options:  # so the engine declares that model's UCI_Elo range
            command += ("--weights", str(options["WeightsFile"]))
    else:
        kinds = ", ".join(f"{k}:..." for k in ("stockfish", "random", "chessformer", *SPEC_KINDS))
        raise ValueError(f"unknown engine {head!r}: use {kinds} or cmd=...")
    if kv:
        raise ValueError(f"unknown settings for {head}: {sorted(kv)}")
    for suffix in (
        f" nodes {nodes}" if nodes else "",
        f" depth {depth}" if depth else "",
        f" {movetime}s" if movetime else "",
    ):
        name += suffix
    return EngineSpec(name=name, command=command, options=options, nodes=nodes, depth=depth, movetime=movetime)
