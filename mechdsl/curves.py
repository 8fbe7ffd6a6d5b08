"""The training curve of a run (matplotlib), written as curve.png and curve.svg.

Panels share the x axis (environment steps): the greedy map's normalized value (exact,
with the POMDP's sampled reward beside it) and the exact optimum when it is known; the
followers' regret; the critic's value loss when the rows have it.  Each line is the mean
over seeds with a band of one standard deviation, and the band's legend entry says so.
The y axes zoom to the data: a gap of 0.002 to the optimum stays visible, and the final
mean, spread and gap are written on the plot as numbers.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Optional

PANELS = (  # (row key, y label, log scale when every value is positive)
    ("regret", "followers' regret\n(max gain from deviating)", False),
    ("value_loss", "critic value loss", True),
)


def band_label(n_seeds: int) -> str:
    return f"mean ± 1 std over {n_seeds} seeds"


def _held(rows: list[dict[str, Any]], key: str, grid):
    """The value in force at each grid step (held after a seed stops; NaN before its
    first evaluation or where the row lacks the key)."""
    import numpy as np

    xs = np.array([r["steps"] for r in rows], dtype=float)
    ys = np.array([float(r.get(key, np.nan)) for r in rows], dtype=float)
    idx = np.searchsorted(xs, grid, side="right") - 1
    return np.where(idx >= 0, ys[idx.clip(0)], np.nan)


def _stats(curves, key, grid):
    import numpy as np

    ys = np.array([_held(rows, key, grid) for rows in curves.values()])
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # grid points before any evaluation
        return np.nanmean(ys, 0), np.nanstd(ys, 0)


def _zoom(ax, *arrays, floor: float = 1e-3) -> None:
    """Y limits around the data (and the optimum), never narrower than `floor`."""
    import numpy as np

    vals = np.concatenate([np.ravel(np.asarray(a, dtype=float)) for a in arrays])
    vals = vals[np.isfinite(vals)]
    if not len(vals):
        return
    lo, hi = float(vals.min()), float(vals.max())
    pad = max(0.06 * (hi - lo), floor / 2)
    ax.set_ylim(lo - pad, hi + pad)


def _line(ax, grid, mean, std, label, band: Optional[str], style="-", color=None, floor=None):
    import numpy as np

    line = ax.plot(grid, mean, style, label=label, color=color, lw=1.4)[0]
    if band is not None:
        lo = mean - std if floor is None else np.maximum(mean - std, floor)  # regret and loss are >= 0
        ax.fill_between(grid, lo, mean + std, color=line.get_color(), alpha=0.22, lw=0, label=band)
    return line


def plot_curves(curves: dict[int, list[dict[str, float]]], path: Path, title: str,
                optimum_normalized: Optional[float] = None) -> Optional[Path]:
    """curve.png at `path` and curve.svg beside it (text kept as text, so it can be
    searched and edited); None when no seed has an evaluation yet."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"svg.fonttype": "none", "font.size": 9}):
        fig = draw(curves, title, optimum_normalized)
        if fig is None:
            return None
        try:
            for suffix in (".png", ".svg"):
                target = path.with_suffix(suffix)
                tmp = target.with_name(target.stem + ".tmp" + suffix)
                fig.savefig(tmp, dpi=110, format=suffix[1:])
                os.replace(tmp, target)
        finally:
            plt.close(fig)
    return path.with_suffix(".png")


def draw(curves: dict[int, list[dict[str, float]]], title: str, optimum_normalized: Optional[float] = None):
    """The figure (panels as in the module docstring), or None without evaluations."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import EngFormatter

    curves = {s: c for s, c in curves.items() if c}
    if not curves:
        return None
    n = len(curves)
    band = band_label(n) if n > 1 else None
    end = max(c[-1]["steps"] for c in curves.values())
    grid = np.linspace(0, end, 300)
    panels = [p for p in PANELS if any(p[0] in r for c in curves.values() for r in c)]

    fig, axes = plt.subplots(1 + len(panels), 1, sharex=True, figsize=(7, 3.6 + 1.9 * len(panels)),
                             height_ratios=[2] + [1] * len(panels), squeeze=False)
    axes = axes[:, 0]
    ax = axes[0]
    mean, std = _stats(curves, "normalized", grid)
    _line(ax, grid, mean, std, "exact value of the greedy policy", band)
    shown = [mean - std, mean + std]
    if any("greedy_reward" in r for c in curves.values() for r in c):
        rmean, _ = _stats(curves, "greedy_reward", grid)
        _line(ax, grid, rmean, None, "its sampled POMDP reward (mean)", None, style="--", color="tab:green")
        shown.append(rmean)
    final, spread = float(mean[-1]), float(std[-1])
    note = f"final {final:.4g}" + (f" ± {0.0 if spread < 1e-9 else spread:.2g}" if n > 1 else "")
    if optimum_normalized is not None:
        ax.axhline(optimum_normalized, color="black", lw=1.0, ls=":", label=f"exact optimum ({optimum_normalized:.4g})")
        shown.append([optimum_normalized])
        gap = optimum_normalized - final
        note += f"; optimum {optimum_normalized:.4g}; gap {0.0 if abs(gap) < 1e-9 else gap:.3g}"
    _zoom(ax, *shown, floor=0.01)
    ax.text(0.01, 0.03, note, transform=ax.transAxes, fontsize=8, va="bottom",
            bbox=dict(facecolor="white", alpha=0.8, lw=0))
    ax.set_ylabel("normalized leader value\n(0 = worst, 1 = best payoff)")
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.01, 1, 0.2), mode="expand", ncol=2, fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    safe = title.replace("$", r"\$")  # a `$` in a file name is not mathtext
    fig.suptitle(f"{safe} ({n} seed{'s' if n != 1 else ''})")

    for ax, (key, ylabel, log) in zip(axes[1:], panels):
        m, s = _stats(curves, key, grid)
        _line(ax, grid, m, s, None, band, color="tab:red" if key == "regret" else "tab:purple", floor=0.0)
        finite = m[np.isfinite(m)]
        if len(finite) and not finite.any() and not np.nan_to_num(s).any():
            ax.set_ylim(-0.05, 1)  # no zoom onto float noise around a constant 0
            ax.text(0.01, 0.9, f"{key.replace('_', ' ')} 0 at every evaluation", transform=ax.transAxes,
                    fontsize=8, va="top")
        elif log and len(finite) and (finite > 0).all() and ((m - s)[np.isfinite(m)] > 0).all():
            ax.set_yscale("log")
        else:
            _zoom(ax, np.maximum(m - s, 0.0), m + s, floor=1e-6)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("environment steps")
    axes[-1].xaxis.set_major_formatter(EngFormatter(sep=""))
    fig.tight_layout()
    return fig
