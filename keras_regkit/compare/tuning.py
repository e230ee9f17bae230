"""`compare --tune`: each technique's strength picked from a small grid by validation loss."""

from __future__ import annotations

from collections.abc import Sequence

from keras_regkit.compare import stats
from keras_regkit.compare.techniques import TECHNIQUES

# Each technique's grid, around its default strength (`Technique.strength`, always in it).
# MinDiff is not tuned: its weights are the frontier's sweep, and the validation loss
# (the task loss) alone would always prefer the smallest weight.
GRIDS: dict[str, tuple[float, ...]] = {
    "l2": (1e-4, 3e-4, 1e-3, 3e-3),
    "elastic_net": (3e-5, 1e-4, 3e-4, 1e-3),
    "group_lasso": (5e-4, 2e-3, 8e-3),
    "dropout": (0.1, 0.3, 0.5),
    "drop_connect": (0.1, 0.3, 0.5),
    "gaussian_noise": (0.1, 0.2, 0.4),
    "mixup": (0.1, 0.2, 0.4),
    "max_norm": (0.5, 1.0, 2.0),
    "early_stopping": (2, 3, 5),
    "weight_noise": (0.01, 0.02, 0.05),
}


def tune(compare, task, techniques: Sequence[str], **kwargs) -> tuple[dict[str, float], list[str]]:
    """The strength of each technique in `techniques` with the lowest mean validation loss.

    Every strength of a technique's grid (`GRIDS`) trains with the comparison's
    repeats and seeds; the test split is never looked at. Techniques without a grid
    (and combinations) keep their strengths.

    Args:
        compare: the `compare` function (which trains the candidates).
        task: as for `compare`.
        techniques: the techniques of the comparison.
        **kwargs: the comparison's other `compare` arguments.

    Returns:
        `(strengths, notes)`: the chosen strength per tuned technique, for
        `compare(strengths=...)`, and one note per technique with every candidate's
        mean validation loss and its 95% interval.
    """
    tuned = [name for name in dict.fromkeys(techniques) if name in GRIDS]
    if not tuned:
        return {}, []
    losses: dict[str, dict[float, stats.Interval]] = {name: {} for name in tuned}
    # The i-th strength of every grid trains in one comparison (grids differ in length).
    for index in range(max(len(GRIDS[name]) for name in tuned)):
        names = [name for name in tuned if index < len(GRIDS[name])]
        strengths = {name: float(GRIDS[name][index]) for name in names}
        result = compare(task, names, strengths=strengths, **kwargs)
        for name in names:
            values = [run.val_loss for run in result.runs if run.technique == name]
            losses[name][strengths[name]] = stats.t_interval(values)
    chosen, notes = {}, []
    for name in tuned:
        best = min(losses[name], key=lambda s: losses[name][s].mean)
        chosen[name] = best
        candidates = ", ".join(
            f"{s:g}: {stats.format_interval(i, '{:.4f}')}" for s, i in losses[name].items()
        )
        notes.append(
            f"--tune: {TECHNIQUES[name].label} strength {best:g}, the lowest mean validation "
            f"loss of {candidates}"
        )
    return chosen, notes
