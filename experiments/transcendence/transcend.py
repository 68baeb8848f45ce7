"""``python -m experiments.transcendence run --config experiments/transcendence/configs/NAME.toml``: the paper's Figure 1 on a pool of noisy experts.

1. Rate the experts in a round robin (maximum-likelihood Elo, one expert anchored so the
   numbers are readable); the cap is a rating or the rating of a named expert.
2. Datasets: (a) diverse: games (generate.py) among the experts rated at most the
   cap, so every generated game is usable; (b) ablation: self-play games of one expert
   near the cap, as many games as (a).
3. Train a model on each (training's pipeline: prepare, train, export).
4. Rate each model at each temperature against the experts, in the same Elo pool.
5. Write transcend.png (rating against temperature with 95% bands, a line at the best
   expert in the diverse data), transcend.csv and report.md with seeds and commands.

Every step resumes: games already in a PGN, prepared shards and exported weights are kept.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import sys
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chessformer.bench.batched_match import run_batched_match
from chessformer.bench.engines import EngineSpec, parse_engine_spec
from chessformer.bench.match import MatchConfig, Opening, load_openings, run_match
from chessformer.bench.rate import ends_of, finished_headers, parse_anchors, rate, results_of, write_record
from experiments.transcendence.repeats import repeats_of

if TYPE_CHECKING:
    from chessformer.engine.player import Player

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]


@dataclass
class TranscendConfig:
    """One experiment (a TOML file in experiments/transcendence/configs/)."""

    name: str
    pool: str  # expert pool TOML (experiments/transcendence/pools/expert_pool.toml format)
    out: str  # run folder
    expert_games: int = 20_000  # generated games between experts (count)
    rating_games: int = 40  # round-robin games per expert pair (count)
    anchor: str = ""  # NAME=ELO of one expert; default: the first expert at 1000
    cap: float = 1000.0  # experts rated at most this form the diverse dataset (Elo)
    cap_expert: str = ""  # if set, the cap is this expert's measured rating instead of ``cap``
    single_expert: str = ""  # the ablation's expert; default: the best expert under the cap
    # the diverse data's experts (names); default: every expert rated at most the cap. Given
    # without cap_expert, the cap is the best of them (``cap`` is not used)
    data_experts: tuple[str, ...] = ()
    # how the diverse data's games mix the experts: "game" (two experts play each game) or
    # "move" (each move by an expert drawn for it: a committee, training/generate.py)
    diverse_mixing: str = "game"
    temperatures: tuple[float, ...] = (0.001, 0.1, 0.3, 0.5, 0.75, 1.0)
    games_per_point: int = 100  # model games per temperature, spread over the experts (count)
    movetime: float = 0.05  # per-move time for the model's games (seconds); experts use their own limits
    max_moves: int = 150  # adjudicated draw after this many full moves
    concurrency: int = 2  # games at once
    batched: bool = False  # rate the models in-process, one batched forward per ply (bench/batched_match.py)
    batched_games: int = 16  # games at once when batched (count)
    train: dict[str, Any] = field(default_factory=dict)  # TrainConfig overrides (model size, minutes, ...)
    prepare: dict[str, Any] = field(default_factory=dict)  # PrepareConfig overrides (anchor_every, workers, ...)
    init_temperatures: tuple[float, ...] = (0.001, 1.0)  # with train.init_weights: the start model is rated too
    # label -> weights of an earlier attempt, rated as is. "diverse" and "single" stand in for the
    # models this run would train; any other label (a-z, 0-9, '-') is a further model rated beside them
    trained_models: dict[str, str] = field(default_factory=dict)
    # generate data for and train the "diverse" and "single" models that trained_models does not
    # give; false: rate only trained_models (a re-rating run, e.g. attempt 18b, cannot start a
    # 45-minute training by leaving an arm out)
    train_missing: bool = True
    rating_opponents: tuple[str, ...] = ()  # experts the models play (names); default: every expert
    # label of a further trained model -> the expert whose games it learned from: its own bar, drawn
    # in the plot and compared with in the report. The single model's bar is the single expert
    # (when that is not the cap); the diverse model and the others are compared with the cap
    model_experts: dict[str, str] = field(default_factory=dict)
    draw_avoidance: bool = False  # the models play with the DrawAvoidance option (engine/player.py)
    # PGN or EPD file of the openings every rating game starts from (the round robin's and the
    # models'), each opening played once with each colour per pair; "" = the start position only,
    # where two deterministic players (tau ~0 against a greedy expert) replay one game (attempts 1-15)
    rating_openings: str = ""

    @classmethod
    def load(cls, path: Path) -> TranscendConfig:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
        for key in ("temperatures", "init_temperatures", "rating_opponents", "data_experts"):
            if key in raw:
                raw[key] = tuple(raw[key])
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
        return cls(**raw)


def expert_specs(pool: Any) -> list[EngineSpec]:
    """Each expert of a generate pool as a noisy UCI engine (same noise, same Stockfish settings)."""
    specs = []
    for e in pool.experts:
        parts = [f"skill={e.skill}", f"random={e.random_move_prob}", f"name={e.name}"]
        if e.depth is not None:
            parts.append(f"depth={e.depth}")
        if e.nodes is not None:
            parts.append(f"nodes={e.nodes}")
        if e.habit:
            parts.append(f"habit={e.habit}")
            if e.habit_prob < 1:
                parts.append(f"habit_prob={e.habit_prob}")
            if e.habit_fallback != "random":
                parts.append(f"fallback={e.habit_fallback}")
        if e.clean != "stockfish":
            parts.append(f"clean={e.clean}")
        specs.append(parse_engine_spec("noisy:" + ",".join(parts)))
    return specs


def _log(msg: str) -> None:
    print(f"transcend: {msg}", file=sys.stderr, flush=True)


@dataclass
class PoolResult:
    """Step 1's outcome: every expert's rating, and who goes into which arm."""

    ratings: dict[str, float]  # expert -> Elo on the pool's scale
    intervals: dict[str, tuple[float, float]]  # expert -> 95% interval
    headers: list[Any]  # the round robin's finished games' headers (read once)
    diverse: tuple[str, ...]  # the diverse arm's experts (rated at most the cap)
    best: str  # the best expert in the diverse data: the cap to beat
    single: str  # the single arm's expert


def validate(cfg: TranscendConfig, names: list[str]) -> None:
    """Everything that can be checked before a long step, so a typo fails in seconds."""
    from chessformer.training.prepare import PrepareConfig
    from experiments.transcendence.generate import MIXINGS

    bad_labels = [k for k in cfg.trained_models if k == "init" or not re.fullmatch(r"[a-z][a-z0-9-]*", k)]
    if bad_labels:
        raise ValueError(f"trained_models labels must be lower-case words other than 'init', got {bad_labels}")
    if cfg.diverse_mixing not in MIXINGS:
        raise ValueError(f"diverse_mixing must be one of {MIXINGS}, got {cfg.diverse_mixing!r}")
    for key, chosen in (("rating_opponents", cfg.rating_opponents), ("data_experts", cfg.data_experts)):
        missing = set(chosen) - set(names)
        if missing:
            raise ValueError(f"{key} {sorted(missing)} are not in the pool {names}")
    bad = set(cfg.prepare) - {f.name for f in dataclasses.fields(PrepareConfig)} | ({"filters"} & set(cfg.prepare))
    if bad:
        raise ValueError(
            f"[prepare] keys {sorted(bad)} are not PrepareConfig options (filters are set by the experiment)"
        )
    stray = {k: v for k, v in cfg.model_experts.items() if k not in cfg.trained_models or v not in names}
    if stray:
        raise ValueError(f"model_experts {stray}: labels must be trained_models labels, experts in the pool {names}")
    for path in cfg.trained_models.values():
        if not Path(path).exists():
            raise FileNotFoundError(f"trained_models weights {path} do not exist")
    # a match is identified by the engine's command and options, not its name: two labels with the
    # same weights would share one set of games, filed under the first label only
    if len({Path(p).resolve() for p in cfg.trained_models.values()}) < len(cfg.trained_models):
        raise ValueError(f"trained_models gives the same weights twice: {cfg.trained_models}")
    if cfg.cap_expert and cfg.cap_expert not in names:
        raise ValueError(f"cap_expert {cfg.cap_expert!r} is not in the pool {names}")


def rate_pool(
    cfg: TranscendConfig, specs: list[EngineSpec], names: list[str], out: Path, match: Any, progress: bool
) -> PoolResult:
    """Step 1: the round robin, the pool's ratings, the cap and the two arms' experts."""
    _log("1/5 rating the pool (round robin)")
    for i, spec in enumerate(specs[:-1]):
        run_match(match(spec, specs[i + 1 :], cfg.rating_games), out / "pool.pgn", cfg.concurrency, progress)
    anchor = parse_anchors([cfg.anchor or f"{names[0]}=1000"])
    # read once: the pool's ratings now, and with the models' games, the final table and records
    # (forfeits, an expert wrapper's protocol error or illegal move, are not chess results)
    headers = list(finished_headers([out / "pool.pgn"]))
    table = rate(results_of(headers, skip_forfeits=True), anchor)
    ratings = {n: float(table[n]["elo"]["rating"]) for n in names}  # type: ignore[index]  # rows are dicts
    intervals = {n: (float(table[n]["elo"]["low"]), float(table[n]["elo"]["high"])) for n in names}  # type: ignore[index]
    if cfg.cap_expert:
        cap = ratings[cfg.cap_expert]
    else:
        cap = max(ratings[n] for n in cfg.data_experts) if cfg.data_experts else cfg.cap
    above = [n for n in cfg.data_experts if ratings[n] > cap]
    if above:
        raise ValueError(f"data_experts {above} are rated above the cap {cap:.0f}: {ratings}")
    diverse = cfg.data_experts or tuple(n for n in names if ratings[n] <= cap)
    if len(diverse) < 2:
        raise ValueError(f"fewer than two experts are rated at most the cap {cap:.0f}: {ratings}")
    best = max(diverse, key=lambda n: ratings[n])
    single = cfg.single_expert or best
    _log(f"ratings {ratings}; diverse set {diverse}; best in data {best}; single expert {single}")
    return PoolResult(ratings, intervals, headers, diverse, best, single)


def train_arms(
    cfg: TranscendConfig, to_train: list[str], pool: PoolResult, out: Path, progress: bool
) -> dict[str, Path]:
    """Step 3: each arm's model trained on its data and exported (kept if it exists)."""
    from chessformer.training.export import export
    from chessformer.training.train import TrainConfig, train

    models = {}
    for label in to_train:
        weights = out / f"model_{label}.safetensors"
        if not weights.exists():
            _log(f"3/5 training the {label} model")
            tcfg = TrainConfig.from_dict(
                {**cfg.train, "data": str(out / f"data_{label}"), "out": str(out / f"run_{label}")}
            )
            train(tcfg, resume=True, progress=progress)
            export(
                out / f"run_{label}" / "checkpoint.pt",
                weights,
                f"{cfg.name}: {label} experts",
                int(pool.ratings[pool.best]),
                bf16=False,
            )
        models[label] = weights
    return models


def rate_models(
    cfg: TranscendConfig,
    plan: list[tuple[str, Path, tuple[float, ...]]],
    opponents: list[EngineSpec],
    per_opp: int,
    out: Path,
    match: Any,
    progress: bool,
) -> None:
    """Step 4: every model at every temperature against the rating opponents (resumable)."""
    _log("4/5 rating the models at each temperature")
    players: dict[str, Player] = {}
    if cfg.batched:
        from chessformer.engine.loader import hash_mb_for_slots, load_model
        from chessformer.engine.weights import read_info

        # two slots per game in flight (its sequence and the one it extends); no more memory than that
        players = {
            label: load_model(str(w), "auto", 1, hash_mb_for_slots(read_info(w).config, 2 * cfg.batched_games)).player
            for label, w, _ in plan
        }
    for label, weights, temps in plan:
        for t in temps:
            # explicit both ways: the engine's defaults (on) are not what the experiment measured
            draws = (
                f",draw_avoidance={'true' if cfg.draw_avoidance else 'false'},mate_in_one=false,material_guard=false"
            )
            base = parse_engine_spec(f"chessformer:temperature={t:g},weights={weights}{draws}")
            mc = match(EngineSpec(f"CF-{label} T={t:g}", base.command, base.options), opponents, per_opp)
            if cfg.batched:
                run_batched_match(mc, players[label], out / "models.pgn", cfg.batched_games, progress)
            else:
                run_match(mc, out / "models.pgn", cfg.concurrency, progress)


def model_rows(
    plan: list[tuple[str, Path, tuple[float, ...]]], pool: PoolResult, out: Path
) -> tuple[list[dict[str, Any]], dict[Path, list[Any]], int]:
    """The models' ratings on the pool's scale, with each point's game ends and repeats;
    and every PGN's headers, and the forfeits left out."""
    pgns = [out / "pool.pgn", out / "models.pgn"]
    headers = {pgns[0]: pool.headers, pgns[1]: list(finished_headers([pgns[1]]))}
    finished = [h for p in pgns for h in headers[p]]
    played = results_of(finished, skip_forfeits=True)
    table = rate(played, dict(pool.ratings))
    rows: list[dict[str, Any]] = []
    for label, _, temps in plan:
        for t in temps:
            e = table[f"CF-{label} T={t:g}"]["elo"]
            assert isinstance(e, dict)
            rows.append(
                {
                    "model": label,
                    "temperature": t,
                    "elo": e["rating"],
                    "low": e["low"],
                    "high": e["high"],
                    "games": e["games"],
                    "score": e["score"],
                }
            )
    ends = ends_of(headers[pgns[1]])
    repeats = repeats_of(pgns[1])
    for r in rows:
        name = f"CF-{r['model']} T={r['temperature']:g}"
        r["ends"] = dict(ends.get(name, {}))
        r["repeats"] = repeats[name]  # games that replay an earlier one move for move: not new evidence
    return rows, headers, len(finished) - len(played)


def run_transcend(
    cfg: TranscendConfig, progress: bool = True, config_path: str = "", data_only: bool = False
) -> dict[str, Any]:
    """The whole experiment (steps 1-5), or with ``data_only`` steps 1-2: the pool's ratings and
    the prepared datasets, so the CPU-bound training can wait for a free machine."""
    from experiments.transcendence.generate import load_pool

    t0 = time.time()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    pool_cfg = load_pool(Path(cfg.pool))
    specs = expert_specs(pool_cfg)
    names = [e.name for e in pool_cfg.experts]
    validate(cfg, names)
    opponents = [sp for sp in specs if not cfg.rating_opponents or sp.name in cfg.rating_opponents]
    openings = load_openings(Path(cfg.rating_openings)) if cfg.rating_openings else [Opening("startpos")]
    per_opp = max(2, cfg.games_per_point // len(opponents))  # each model's games per opponent per temperature
    for what, games in (("round-robin pair", cfg.rating_games), ("model and opponent", per_opp)):
        if games > 2 * len(openings):  # each opening is played once with each colour
            _log(f"warning: {games} games per {what} from {len(openings)} opening(s): openings are reused")

    def match(engine: EngineSpec, others: list[EngineSpec], games: int) -> MatchConfig:
        """The round robin's and the models' matches: same openings, time, move limit and seeds."""
        return MatchConfig(
            engine, others, games, openings=openings, movetime=cfg.movetime, max_moves=cfg.max_moves, seed=pool_cfg.seed
        )

    pool = rate_pool(cfg, specs, names, out, match, progress)
    models: dict[str, Path] = {label: Path(w) for label, w in cfg.trained_models.items()}
    # the arms this run generates and trains: those trained_models does not give, unless train_missing is off
    to_train = [label for label in ("diverse", "single") if label not in models] if cfg.train_missing else []
    if not models and not to_train:
        raise ValueError("train_missing = false rates only trained_models, and it gives none")
    man_a: dict[str, Any] = {}
    man_b: dict[str, Any] = {}
    if to_train:
        man_a, man_b = _datasets(cfg, pool_cfg, out, pool.diverse, pool.single, progress, skip=set(models))
    if data_only:
        _log("stopping after the datasets (data only)")
        return {
            "ratings": pool.ratings,
            "best_in_data": pool.best,
            "single_expert": pool.single,
            "rows": [],
            "diverse": pool.diverse,
        }
    models.update(train_arms(cfg, to_train, pool, out, progress))
    # the diverse model first, also when the single one is given: it is the experiment's question
    plan = [(label, w, cfg.temperatures) for label, w in sorted(models.items())]
    if cfg.train.get("init_weights"):  # the control: what the start model alone scores in this pool
        plan.append(("init", Path(cfg.train["init_weights"]), cfg.init_temperatures))
    rate_models(cfg, plan, opponents, per_opp, out, match, progress)
    rows, headers, forfeits = model_rows(plan, pool, out)
    extra = {
        "config": config_path,
        "pool_seed": pool_cfg.seed,
        "games": {"diverse": man_a.get("games"), "single": man_b.get("games")},
        "tokens": {"diverse": man_a.get("tokens"), "single": man_b.get("tokens")},
        "rating_opponents": [o.name for o in opponents],
        "rating_openings": [o.name for o in openings],
        "forfeits_excluded": forfeits,
    }
    return write_report(cfg, pool, rows, headers, extra, out, t0)


def write_report(
    cfg: TranscendConfig,
    pool: PoolResult,
    rows: list[dict[str, Any]],
    headers: dict[Path, list[Any]],
    extra: dict[str, Any],
    out: Path,
    t0: float,
) -> dict[str, Any]:
    """Step 5: result records, the table, the plot, transcend.json and report.md."""
    from chessformer.training.train import TrainConfig

    _log("5/5 report")
    # the games' results without their moves (~an eighth of the size): small enough to keep with the
    # report, and copied back into a run folder they let a later run resume instead of replaying
    (out / "records").mkdir(exist_ok=True)
    for pgn, hs in headers.items():
        write_record(hs, out / "records" / pgn.name)
    with open(out / "transcend.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[k for k in rows[0] if k != "ends"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    # the single model's data hold one expert: that expert is its bar, as the cap is the diverse model's
    own = {"single": pool.single, **cfg.model_experts} if pool.single != pool.best else dict(cfg.model_experts)
    own_bars = {label: (e, pool.ratings[e]) for label, e in own.items()}
    plot_transcend(rows, pool.ratings[pool.best], pool.best, out / "transcend.png", cfg.name, own_bars)
    summary = {
        "config": extra["config"],
        "pool_seed": extra["pool_seed"],
        "train_seed": cfg.train.get("seed", TrainConfig.seed),
        "ratings": pool.ratings,
        "intervals": pool.intervals,
        "diverse": pool.diverse,
        "best_in_data": pool.best,
        "single_expert": pool.single,
        "own_experts": own,
        "games": extra["games"],
        "tokens": extra["tokens"],
        "trained_models": cfg.trained_models,
        "rows": rows,
        "rating_opponents": extra["rating_opponents"],
        "rating_openings": extra["rating_openings"],
        "pool_repeats": sum(repeats_of(out / "pool.pgn").values()) // 2,  # each repeat counts for both players
        "forfeits_excluded": extra["forfeits_excluded"],
        "wall_seconds": time.time() - t0,
    }
    (out / "transcend.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "report.md").write_text(report_markdown(cfg, summary))
    return summary


def _datasets(
    cfg: TranscendConfig,
    pool: Any,
    out: Path,
    diverse: tuple[str, ...],
    single: str,
    progress: bool,
    skip: Collection[str] = (),
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Step 2: generate and prepare the diverse and the single-expert games; their manifests
    (empty for a label in ``skip``: its model is given)."""
    from chessformer.training.filters import FilterConfig
    from chessformer.training.prepare import PrepareConfig, prepare
    from experiments.transcendence.generate import COMMITTEE, Pool, generate

    man_a: dict[str, Any] = {}
    if "diverse" not in skip:
        _log(f"2/5 datasets: {cfg.expert_games} games among {diverse}, mixed by {cfg.diverse_mixing}")
        members = tuple(e for e in pool.experts if e.name in diverse)
        data_pool = dataclasses.replace(pool, experts=members, mixing=cfg.diverse_mixing)
        generate(data_pool, cfg.expert_games, out / "experts.pgn", cfg.concurrency, progress)
        players = (COMMITTEE,) if cfg.diverse_mixing == "move" else diverse
        pcfg = PrepareConfig(filters=FilterConfig(players=players), **cfg.prepare)
        man_a = prepare([out / "experts.pgn"], out / "data_diverse", pcfg, progress=progress)
    if "single" in skip:
        return man_a, {}
    solo = next(e for e in pool.experts if e.name == single)
    solo_pool = Pool(
        experts=(solo, dataclasses.replace(solo, name=solo.name + "-self")),
        seed=pool.seed + 1,
        opening_plies=pool.opening_plies,
        max_plies=pool.max_plies,
    )
    generate(solo_pool, man_a.get("games", cfg.expert_games), out / "single.pgn", cfg.concurrency, progress)
    man_b = prepare([out / "single.pgn"], out / "data_single", PrepareConfig(**cfg.prepare), progress=progress)
    return man_a, man_b


def plot_transcend(
    rows: list[dict[str, Any]],
    best_rating: float,
    best_name: str,
    path: Path,
    title: str,
    own_bars: dict[str, tuple[str, float]] | None = None,
) -> None:
    """Rating against temperature per model, with the cap; ``own_bars``: label -> (expert, Elo)
    of a further model's own expert, drawn dotted in the model's colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    fixed = {"diverse": "tab:blue", "single": "tab:red", "init": "tab:gray"}
    extra = iter(("tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive"))
    labels = list(fixed) + sorted({r["model"] for r in rows} - set(fixed))
    # (own expert, its Elo) -> the models it is the bar of and the first one's colour: one line each
    bars: dict[tuple[str, float], tuple[list[str], str]] = {}
    for label in labels:
        pts = [r for r in rows if r["model"] == label]
        if not pts:
            continue
        color = fixed.get(label) or next(extra, "black")
        ts = [r["temperature"] for r in pts]
        name = {
            "init": "start model (before fine-tuning)",
            "diverse": "diverse-expert data",
            "single": "single-expert data",
        }.get(label, f"{label} model")
        ax.plot(ts, [r["elo"] for r in pts], "o-", color=color, label=name)
        ax.fill_between(ts, [r["low"] for r in pts], [r["high"] for r in pts], color=color, alpha=0.2)
        if own_bars and label in own_bars:
            bars.setdefault(own_bars[label], ([], color))[0].append(label)
    for (expert, elo), (of, color) in bars.items():
        ax.axhline(elo, color=color, linestyle=":", label=f"{' and '.join(of)}'s expert ({expert}, {elo:.0f})")
    ax.axhline(best_rating, color="gray", linestyle="--", label=f"best expert in data ({best_name}, {best_rating:.0f})")
    ax.set_xscale("symlog", linthresh=0.01)
    ts = sorted({r["temperature"] for r in rows})
    ax.set_xticks(ts)
    ax.set_xticklabels([f"{t:g}" for t in ts], rotation=45)
    ax.set_xlabel("temperature")
    ax.set_ylabel("Elo in the expert pool (95% interval)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _openings_text(cfg: TranscendConfig, s: dict[str, Any]) -> str:
    if not cfg.rating_openings:
        return "the start position"
    n = len(s.get("rating_openings", []))
    return f"one of {n} openings (`{cfg.rating_openings}`), each played with both colours"


def report_markdown(cfg: TranscendConfig, s: dict[str, Any]) -> str:
    best = s["ratings"][s["best_in_data"]]
    lines = [
        f"# Transcendence experiment: {cfg.name}",
        "",
        f"Command: `python -m experiments.transcendence run --config {s.get('config') or '<experiment TOML>'}` "
        f"(pool `{cfg.pool}`, pool seed {s.get('pool_seed')}, training seed {s.get('train_seed')}); "
        f"wall time of the last invocation {s['wall_seconds'] / 60:.0f} min.",
        f"Round robin: {cfg.rating_games} games per expert pair. Model ratings: {cfg.games_per_point} games per "
        f"temperature, spread evenly over {', '.join(s.get('rating_opponents') or sorted(s['ratings']))}, "
        f"{cfg.movetime:g} s per move for the "
        f"model{' (with DrawAvoidance on)' if cfg.draw_avoidance else ''}, draws adjudicated after "
        f"{cfg.max_moves} moves. Elo is maximum likelihood with the experts "
        "fixed at their round-robin ratings; intervals are 95% (Fisher information).",
        f"Every rating game starts from {_openings_text(cfg, s)}; "
        f"{s.get('pool_repeats', 0)} of the round robin's games repeat an earlier game move for move, "
        "and the models' repeats are in the table below (a repeat is the same result counted again).",
        "",
        "## Experts (round robin, max-likelihood Elo)",
        "",
        "| expert | Elo | 95% interval | in diverse data |",
        "|---|---|---|---|",
    ]
    for n, r in sorted(s["ratings"].items(), key=lambda kv: kv[1]):
        lo, hi = s.get("intervals", {}).get(n, (r, r))
        lines.append(f"| {n} | {r:.0f} | {lo:.0f}..{hi:.0f} | {'yes' if n in s['diverse'] else 'no'} |")
    tokens = s.get("tokens", {})
    lines += [
        "",
        f"Best expert in the diverse data: {s['best_in_data']} ({best:.0f}). Ablation expert: {s['single_expert']}."
        + (
            " The diverse games were played by the experts as a committee (each move by one drawn for it)."
            if cfg.diverse_mixing == "move"
            else ""
        ),
    ]
    if s["games"]["diverse"] is not None or s["games"]["single"] is not None:
        trained = [  # an arm whose model is given has no games in this run
            f"{arm} {s['games'][arm]} ({tokens.get(arm, '?')} tokens)"
            for arm in ("diverse", "single")
            if s["games"][arm] is not None
        ]
        lines.append(
            f"Training games: {', '.join(trained)}. Model and budget: "
            + ", ".join(f"{k} {v}" for k, v in cfg.train.items())
            + "."
            + (
                " Prepare options: " + ", ".join(f"{k} {v}" for k, v in cfg.prepare.items()) + "."
                if cfg.prepare
                else ""
            )
        )
    if s.get("trained_models"):
        lines.append(
            "Models trained in an earlier attempt and rated here as they are (their data and budget are in that "
            "attempt's report): " + ", ".join(f"{k} `{v}`" for k, v in s["trained_models"].items()) + "."
        )
    lines += [
        "",
        "## Models",
        "",
        "| data | temperature | Elo | 95% interval | vs best expert in its data | games | repeats | score |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in s["rows"]:
        own = s["own_experts"].get(r["model"])
        bar = s["ratings"][own] if own else best
        clear = "above, clear" if r["low"] > bar else ("below, clear" if r["high"] < bar else "overlaps")
        clear += f", vs {own}" if own else ""
        lines.append(
            f"| {r['model']} | {r['temperature']:g} | {r['elo']:.0f} | {r['low']:.0f}..{r['high']:.0f} | "
            f"{r['elo'] - bar:+.0f} ({clear}) | {r['games']} | {r.get('repeats', '?')} | {r['score']:.3f} |"
        )
    kinds = ("win: mate", "draw: stalemate", "draw: repetition", "draw: fifty moves", "draw: material")
    lines += [
        "",
        "How the models' games ended (the model's view; draws by the move limit are the rest of the draws):",
        "",
        "| data | temperature | wins | by mate | draws | stalemate | repetition | fifty moves | material | losses |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in s["rows"]:
        e = r.get("ends", {})
        total = {v: sum(n for k, n in e.items() if k.startswith(v)) for v in ("win", "draw", "loss")}
        lines.append(
            f"| {r['model']} | {r['temperature']:g} | {total['win']} | "
            + " | ".join(str(e.get(k, 0)) for k in kinds[:1])
            + f" | {total['draw']} | "
            + " | ".join(str(e.get(k, 0)) for k in kinds[1:])
            + f" | {total['loss']} |"
        )
    lines += [
        "",
        f"Games ended by a forfeit (left out of every rating): {s.get('forfeits_excluded', 0)}.",
        "",
        "![rating against temperature](transcend.png)",
        "",
    ]
    return "\n".join(lines)
