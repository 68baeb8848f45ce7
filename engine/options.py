"""UCI options: each declared once, here, with its type, default, range and meaning.

The README's option table is written from these declarations' help texts. Names are
matched case-insensitively; a bad value raises OptionError and leaves the option as it
was (the UCI loop reports it as ``info string``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from chessformer.engine.backends.registry import NAMES, backend_help

OptionType = Literal["check", "spin", "combo", "string", "button"]
OptionValue = bool | int | str | float

BUNDLED = "<bundled>"  # WeightsFile value meaning "the model shipped with the package"
DEFAULT_TEMPERATURE = 0.1
# The rating a rating-conditioned model plays as, by default: FIDE 2700, the bucket 2600-2799, the
# strongest players of the training data with 100k+ games (FIDE 2800+ holds 4.9k).
DEFAULT_RATING = 2700
DEFAULT_RATING_SCALE = "fide"
DEFAULT_ELO_RANGE = (1000, 2000)  # UCI_Elo's range when the bundled model carries no calibration (Elo)
RATING_SCALE_NAMES: tuple[str, ...] = ("lichess", "chesscom", "fide")  # engine/tokenizer.py RATING_SCALES
BACKEND_NAMES: tuple[str, ...] = NAMES  # from the backend registry, declared once there


def declared_elo_range(weights: str = BUNDLED) -> tuple[int, int]:
    """UCI_Elo's declared range: the calibrated range of the model the engine starts with (the bundled
    one, or ``chessformer --weights FILE``), read from its JSON sidecar without torch; a default where
    it has none. Requests are clamped to the loaded model's own table."""
    import json
    from pathlib import Path

    try:
        if weights.strip() in ("", BUNDLED):
            sidecar = Path(__file__).parent / "models" / "default.json"
        else:
            from chessformer.engine.weights import resolve_weights, sidecar_path

            sidecar = sidecar_path(resolve_weights(weights))
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        points = meta["metadata"]["strength_calibration"]["points"]
        elos = [float(p["elo"]) for p in points]
        return round(min(elos)), round(max(elos))
    except (OSError, KeyError, TypeError, ValueError):
        return DEFAULT_ELO_RANGE


class OptionError(ValueError):
    """A setoption that cannot be applied; the message is one line for the user."""


TEMPERATURE_RULE = "Temperature must be a number between 0 and 100"  # one rule, in every message


def _parse_temperature(raw: str) -> float:
    try:
        t = float(raw)
    except ValueError:
        raise OptionError(f"{TEMPERATURE_RULE}, got {raw[:40]!r}") from None
    if not math.isfinite(t) or t < 0 or t > 100:
        raise OptionError(f"{TEMPERATURE_RULE}, got {raw[:40]!r}")
    return t


def _parse_weights_file(raw: str) -> str:
    """A WeightsFile value is checked when it is set (file, sidecar, sha256, config), so a bad one
    is refused like any bad value and the model in use stays."""
    from chessformer.engine.weights import WeightsError, check_weights, resolve_weights

    value = raw.strip() or BUNDLED
    try:
        check_weights(resolve_weights(value))
    except WeightsError as e:
        raise OptionError(f"WeightsFile: {e}") from None
    return value


@dataclass(frozen=True)
class OptionSpec:
    """One UCI option as declared to the GUI."""

    name: str  # as shown to the GUI
    type: OptionType
    default: OptionValue  # the parsed default value
    help: str  # one sentence for the README
    min: int | None = None  # spin only
    max: int | None = None  # spin only
    choices: tuple[str, ...] = ()  # combo only
    parse: Callable[[str], OptionValue] | None = None  # string options: raw text -> value
    uci_default: str | None = None  # how the default is written in `uci` output, if not str(default)
    on_change: str | None = (
        None  # the side effect of a new value: a UciEngine method, called with it (Stockfish's on_change)
    )

    def declaration(self) -> str:
        """The `option name ...` line for the `uci` command."""
        line = f"option name {self.name} type {self.type}"
        if self.type == "button":
            return line
        if self.type == "check":
            d = "true" if self.default else "false"
        else:
            d = self.uci_default if self.uci_default is not None else str(self.default)
        line += f" default {d}"
        if self.type == "spin":
            line += f" min {self.min} max {self.max}"
        for c in self.choices:
            line += f" var {c}"
        return line

    def convert(self, raw: str) -> OptionValue:
        """Parse a setoption value, or raise OptionError."""
        raw = raw.strip()
        if self.type == "check":
            low = raw.lower()
            if low not in ("true", "false"):
                raise OptionError(f"{self.name} must be true or false, got {raw!r}")
            return low == "true"
        if self.type == "spin":
            try:
                v = int(raw)
            except ValueError:
                raise OptionError(f"{self.name} must be an integer, got {raw[:40]!r}") from None
            assert self.min is not None and self.max is not None
            if not self.min <= v <= self.max:
                raise OptionError(f"{self.name} must be between {self.min} and {self.max}, got {v}")
            return v
        if self.type == "combo":
            for c in self.choices:
                if c.lower() == raw.lower():
                    return c
            raise OptionError(f"{self.name} must be one of {', '.join(self.choices)}, got {raw[:40]!r}")
        if self.type == "button":
            return True
        if raw == "<empty>":  # cutechess and python-chess send this for an empty string
            raw = ""
        return self.parse(raw) if self.parse else raw


def declare_options(weights: str = BUNDLED) -> tuple[OptionSpec, ...]:
    """Every option, for an engine that starts with ``weights`` (WeightsFile's default; UCI_Elo's range
    is that model's calibrated one, since clients refuse to send a value outside the declared range)."""
    lo, hi = declared_elo_range(weights)
    return (
        OptionSpec(
            "Temperature",
            "string",
            DEFAULT_TEMPERATURE,
            "Sampling temperature tau >= 0 over legal moves: 0 plays the model's most likely move, 1 samples"
            " the model's own distribution. Default 0.1: low temperature is where the paper's models transcend"
            " their training data, while games still vary where the model is unsure.",
            parse=_parse_temperature,
            uci_default=str(DEFAULT_TEMPERATURE),
        ),
        OptionSpec(
            "DrawAvoidance",
            "check",
            True,
            "When the side to move is not behind in material (pawns 1, knights and bishops 3, rooks 5, queens 9),"
            " leave out moves after which the"
            " game can end drawn by rule (stalemate, a repeated position, insufficient material, or a threefold or"
            " fifty-move claim the opponent's reply allows), unless no other move is left. On by default, by"
            " measurement: the first bundled model at Temperature 0 beat a random mover 18/20 with it, 9/20 without"
            " (11 draws by repetition or stalemate). Off plays the paper's plain sampling.",
        ),
        OptionSpec(
            "MateInOne",
            "check",
            True,
            "When a move mates at once, play a mating move (Temperature chooses among them). Human games seldom"
            " reach the lopsided endings a model reaches against weak opponents, so the model alone can shuffle"
            " a won ending into the fifty-move rule. On by default; off plays the paper's plain sampling.",
        ),
        OptionSpec(
            "MaterialGuard",
            "check",
            True,
            "Leave out moves that lose material next to the best candidate: what a move takes, less what the"
            " opponent's best capture or promotion then wins by exchange on its square (SEE), or by a check or"
            " fork that the best answer cannot meet, or a mate in one it allows. A rule check on exchanges and"
            " one reply, not a search. On by default, by measurement: the bundled"
            " model at Temperature 0 scored 54% of 480 games against Stockfish Skill 0 with it, 14-18% of 40 without."
            " Off plays the model's own moves (the paper's plain sampling); UCI_Elo settings play without it.",
        ),
        OptionSpec(
            "Rating",
            "spin",
            DEFAULT_RATING,
            "The rating the engine plays as, on RatingScale's scale, for models trained with rating conditioning"
            " (others ignore it). 0: unknown, the model's unconditioned play. Read in 200-point buckets from"
            " below 1000 to 2800 and above. Default FIDE 2700: the strongest players of the training data.",
            min=0,
            max=4000,
        ),
        OptionSpec(
            "OpponentRating",
            "spin",
            0,
            "The opponent's rating on RatingScale's scale, for rating-conditioned models. 0: the same as Rating.",
            min=0,
            max=4000,
        ),
        OptionSpec(
            "RatingScale",
            "combo",
            DEFAULT_RATING_SCALE,
            "Which rating scale Rating and OpponentRating are on: lichess, chesscom or fide. The training data"
            " mixes the three, and the model reads each on its own scale (they differ by hundreds of points).",
            choices=RATING_SCALE_NAMES,
        ),
        OptionSpec(
            "UCI_LimitStrength",
            "check",
            False,
            "Play at UCI_Elo instead of at Temperature and Rating: the setting (conditioning rating and temperature)"
            " comes from the calibration table in the model's weights (python -m chessformer.bench calibrate), measured on the"
            " paper's scale (Stockfish 15.1 Skill Levels at 0.1 s a move). An info string names the setting.",
        ),
        OptionSpec(
            "UCI_Elo",
            "spin",
            (lo + hi) // 2,
            "The Elo to play at with UCI_LimitStrength on. The range is the calibrated range of the model the"
            " engine starts with (the bundled one, or chessformer --weights FILE); a request outside the loaded"
            " model's table is clamped to it, with an info string.",
            min=lo,
            max=hi,
        ),
        OptionSpec(
            "PaperSampler",
            "check",
            False,
            "For the paper's character-level nanoGPT models: sample characters one at a time at the temperature,"
            " as the paper's harness does (cut at ';' and after the first '+', the first word read as SAN, up to"
            " 5 tries after an illegal move), instead of the exact temperature over the legal moves. When all 5"
            " tries fail (the paper counts a loss), the exact sampler's move is played and an info string says so.",
        ),
        OptionSpec(
            "Seed",
            "spin",
            0,
            "Seed of the move sampler. 0: fresh randomness. N > 0: the generator is reset to N at setoption and at"
            " every ucinewgame, so the same game against the same replies is replayed move for move.",
            min=0,
            max=2**31 - 1,
            on_change="on_seed_change",
        ),
        OptionSpec(
            "WeightsFile",
            "string",
            weights,
            "Path of a .safetensors weights file (its .json beside it). <bundled> is the model shipped with the"
            " engine (the default, unless it was started as chessformer --weights FILE). Checked when set: a"
            " file that is missing, not .safetensors, corrupted (sha256), or of an unknown architecture is"
            " refused and the model in use stays. Loaded at the next isready or go.",
            parse=_parse_weights_file,
            uci_default=weights,
            on_change="on_model_change",
        ),
        OptionSpec(
            "Backend",
            "combo",
            "auto",
            backend_help(),
            choices=BACKEND_NAMES,
            on_change="on_model_change",
        ),
        OptionSpec(
            "MultiPV",
            "spin",
            1,
            "Number of moves reported in info lines, the played move first, then the most probable others.",
            min=1,
            max=256,
        ),
        OptionSpec(
            "Threads",
            "spin",
            1,
            "CPU threads for inference (torch.set_num_threads), capped at the machine's core count.",
            min=1,
            max=1024,
            on_change="on_threads_change",
        ),
        OptionSpec(
            "Hash",
            "spin",
            128,
            "Megabytes for the KV cache of recent positions (reused when a game continues).",
            min=1,
            max=65536,
            on_change="on_hash_change",
        ),
        OptionSpec(
            "Move Overhead",
            "spin",
            10,
            "Accepted because lichess-bot and GUIs send it. The engine answers every go in milliseconds and"
            " never spends its clock, so there is nothing to keep in reserve: it has no effect.",
            min=0,
            max=10000,
        ),
        OptionSpec(
            "Ponder",
            "check",
            False,
            "Tells the engine that the GUI may send go ponder. The engine suggests a ponder move in every bestmove.",
        ),
        OptionSpec(
            "UCI_ShowWDL", "check", False, "Add wdl W D L (per mille, side to move) from the value head to info lines."
        ),
        OptionSpec(
            "UCI_Chess960",
            "check",
            False,
            "Chess960 castling notation (king takes own rook) in position and bestmove. The model has seen only"
            " standard chess; it plays from any FEN through its POS token.",
        ),
        OptionSpec(
            "SyzygyPath",
            "string",
            "",
            "Accepted so that default lichess-bot and GUI configurations work; tablebases are not probed,"
            " because the engine's moves are the model's alone (that is what is being rated).",
            uci_default="<empty>",
        ),
    )


OPTIONS: tuple[OptionSpec, ...] = declare_options()  # as declared by an engine started with the bundled model
_BY_LOWER: dict[str, OptionSpec] = {o.name.lower(): o for o in OPTIONS}


def find_option(name: str) -> OptionSpec | None:
    return _BY_LOWER.get(name.strip().lower())


@dataclass
class OptionValues:
    """Current values, keyed by the declared name."""

    specs: tuple[OptionSpec, ...] = OPTIONS  # what the engine declared (``declare_options``)
    values: dict[str, OptionValue] = field(init=False)

    def __post_init__(self) -> None:
        self.values = {o.name: o.default for o in self.specs}
        self._by_lower = {o.name.lower(): o for o in self.specs}

    def __getitem__(self, name: str) -> OptionValue:
        return self.values[name]

    def set(self, name: str, raw: str) -> tuple[OptionSpec, OptionValue]:
        """Parse and store; raise OptionError (value unchanged) on a bad name or value."""
        spec = self._by_lower.get(name.strip().lower())
        if spec is None:
            raise OptionError(f"unknown option {name[:60]!r}")
        value = spec.convert(raw)
        self.values[spec.name] = value
        return spec, value

    @property
    def temperature(self) -> float:
        return float(self.values["Temperature"])

    @property
    def ratings(self) -> tuple[tuple[str | None, int | None], tuple[str | None, int | None]]:
        """(own, opponent) as (scale, rating) for the player; rating None is unknown."""
        scale = str(self.values["RatingScale"])
        own = int(self.values["Rating"])
        opp = int(self.values["OpponentRating"]) or own
        return (scale, own or None), (scale, opp or None)

    @property
    def draw_avoidance(self) -> bool:
        return bool(self.values["DrawAvoidance"])

    @property
    def mate_in_one(self) -> bool:
        return bool(self.values["MateInOne"])

    @property
    def material_guard(self) -> bool:
        return bool(self.values["MaterialGuard"])
