"""``python -m experiments.transcendence curve``: rating (and agreement) against training steps, per arm of a transcend run.

A transcend run (bench/transcend.py) rates models at temperatures; when the models are
checkpoints of longer training runs of its two arms (the committee's data and the single
expert's), the question is whether more training moves a model past the cap. This reads the
run's transcend.json, takes each named model's rating at one temperature, counts each model's
total optimizer steps from its weights' metadata (its own run's steps plus those of the model it
started from, followed through ``init_weights``), and draws rating against steps with the cap
and the single arm's own expert. Agreement JSONs (``experiments.transcendence diagnose agreement --json``) of the same
weights (matched by content) add a second panel: how often the model's top move is the experts' shared move.

    python -m experiments.transcendence curve runs/transcend_pool_v13_long/transcend.json \\
        --arm committee=diverse,committee-2000 --arm single=single,single-2000 \\
        --agreement runs/pool_v13_long/agreement_2000.json --out curve.png
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chessformer.engine.weights import WeightsInfo, read_info


@dataclass(frozen=True)
class CurvePoint:
    arm: str  # the data the model learned from, e.g. "committee" or "single"
    label: str  # the model's label in the transcend run
    steps: int  # optimizer steps in total, start models included (count)
    elo: float  # rating at the curve's temperature (Elo in the pool)
    low: float  # 95% interval, lower end (Elo)
    high: float  # 95% interval, upper end (Elo)
    top1: float | None  # model's top move = the shared move, if an agreement JSON had it (fraction)
    p_ref: float | None  # mean probability of the shared move, likewise (probability)


def total_steps(info: WeightsInfo) -> int:
    """Optimizer steps behind the weights of ``info``: its run's, plus those of the weights it started from."""
    steps, seen = 0, set()
    current: WeightsInfo | None = info
    while current is not None and current.path.resolve() not in seen:
        seen.add(current.path.resolve())
        steps += int(current.metadata.get("training_steps") or 0)
        start = (current.metadata.get("train_config") or {}).get("init_weights")
        if start and not Path(start).exists():
            raise FileNotFoundError(f"{current.path} started from {start}, which is not here: its steps are unknown")
        current = read_info(Path(start)) if start else None
    return steps


def curve_points(
    summary: dict[str, Any], arms: dict[str, list[str]], agreements: list[dict[str, Any]], temperature: float
) -> list[CurvePoint]:
    """One point per label of each arm: its rating at ``temperature`` and steps, with agreement rows
    (matched by the weights' sha256) where given."""
    # matched by content: the same weights are often rated from one path and analysed from a copy
    by_hash = {read_info(Path(r["model"])).sha256: r for r in agreements if Path(r["model"]).is_file()}
    points = []
    for arm, labels in arms.items():
        for label in labels:
            if label not in summary["trained_models"]:
                raise ValueError(f"{label!r} is not a trained model of this run: {sorted(summary['trained_models'])}")
            weights = Path(summary["trained_models"][label])
            rows = [r for r in summary["rows"] if r["model"] == label and r["temperature"] == temperature]
            if not rows:
                raise ValueError(f"{label!r} has no rating at temperature {temperature:g}")
            info = read_info(weights)  # hashes the file once: for its steps and its agreement row
            ag = by_hash.get(info.sha256)
            r = rows[0]
            points.append(
                CurvePoint(
                    arm,
                    label,
                    total_steps(info),
                    float(r["elo"]),
                    float(r["low"]),
                    float(r["high"]),
                    float(ag["top1"]) if ag else None,
                    float(ag["p_ref"]) if ag else None,
                )
            )
    return sorted(points, key=lambda p: (p.arm, p.steps))


def plot_curve(points: list[CurvePoint], summary: dict[str, Any], temperature: float, path: Path) -> None:
    """Rating against steps per arm with the cap (and the single arm's own expert, if it is not the
    cap); below it, top-1 agreement with the shared move where known."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with_agreement = any(p.top1 is not None for p in points)
    fig, axes = plt.subplots(2 if with_agreement else 1, 1, figsize=(7, 7 if with_agreement else 4.5), sharex=True)
    ax = axes[0] if with_agreement else axes
    fixed = {"committee": "tab:blue", "single": "tab:red"}  # as bench/transcend.py draws diverse and single
    others = iter(("tab:green", "tab:orange", "tab:purple", "tab:brown"))
    arm_color = {arm: fixed.get(arm) or next(others, "black") for arm in dict.fromkeys(p.arm for p in points)}
    for arm, color in arm_color.items():
        pts = [p for p in points if p.arm == arm]
        xs = [p.steps for p in pts]
        ax.errorbar(
            xs,
            [p.elo for p in pts],
            yerr=[[p.elo - p.low for p in pts], [p.high - p.elo for p in pts]],
            fmt="o-",
            color=color,
            capsize=3,
            label=f"{arm} data",
        )
        if with_agreement:
            known = [p for p in pts if p.top1 is not None]
            axes[1].plot([p.steps for p in known], [100 * (p.top1 or 0) for p in known], "o-", color=color, label=arm)
    best, ratings = summary["best_in_data"], summary["ratings"]
    low, high = summary["intervals"][best]
    ax.axhline(
        ratings[best], color="gray", linestyle="--", label=f"cap: best expert in data ({best}, {ratings[best]:.0f})"
    )
    ax.axhspan(low, high, color="gray", alpha=0.12)
    single = summary.get("single_expert")
    if single and single != best:
        ax.axhline(
            ratings[single],
            color=arm_color.get("single", "tab:red"),
            linestyle=":",
            label=f"single's expert ({single}, {ratings[single]:.0f})",
        )
    ax.set_ylabel(f"Elo at τ {temperature:g} (95% interval)")
    ax.set_title(f"{Path(summary.get('config') or '').stem}: rating against training")
    ax.legend(fontsize=8)
    last = axes[1] if with_agreement else ax
    if with_agreement:
        axes[1].set_ylabel("top move = shared move (%)")
        axes[1].legend(fontsize=8)
    last.set_xlabel("optimizer steps in total (start model included)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def curve_table(points: list[CurvePoint], temperature: float) -> str:
    lines = [
        f"| arm | model | steps | Elo at τ {temperature:g} | 95% interval | top-1 = shared move | p(shared move) |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in points:
        top1 = f"{p.top1:.1%}" if p.top1 is not None else ""
        p_ref = f"{p.p_ref:.3f}" if p.p_ref is not None else ""
        lines.append(
            f"| {p.arm} | {p.label} | {p.steps:,} | {p.elo:.0f} | [{p.low:.0f}, {p.high:.0f}] | {top1} | {p_ref} |"
        )
    return "\n".join(lines)


def run_curve(
    transcend_json: Path,
    arms: dict[str, list[str]],
    agreement_jsons: list[Path],
    temperature: float,
    out_png: Path | None,
) -> list[CurvePoint]:
    summary = json.loads(transcend_json.read_text())
    agreements = [row for p in agreement_jsons for row in json.loads(p.read_text())]
    points = curve_points(summary, arms, agreements, temperature)
    if out_png is not None:
        plot_curve(points, summary, temperature, out_png)
    return points


def parse_arm(spec: str) -> tuple[str, list[str]]:
    """``"committee=diverse,committee-2000"`` -> ("committee", ["diverse", "committee-2000"])."""
    arm, sep, labels = spec.partition("=")
    names = [x.strip() for x in labels.split(",") if x.strip()]
    if not sep or not arm.strip() or not names:
        raise ValueError(f"expected ARM=LABEL,LABEL..., got {spec!r}")
    return arm.strip(), names
