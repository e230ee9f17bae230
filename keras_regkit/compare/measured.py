"""The measured recipe: the technique `compare` found best on the user's data, as a `Recipe`.

`compare` writes it to `recipe.json`; `keras_regkit.recipes.Recipe.load` reads it back, and
the recipe's `build_model`, `wrap_model`, `optimizer`, `training_data` and `callbacks` apply
the measured choice to a new model.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from keras_regkit import recipes
from keras_regkit.compare import stats, summary
from keras_regkit.compare import techniques as techniques_module
from keras_regkit.compare.engine import Comparison

RECIPE_FILE = "recipe.json"
CRITERION = "val_loss"  # the clean validation cross-entropy, by its mean over the repeats

# The `Recipe` field each technique sets from its strength `s`.
_FIELDS = {
    "none": lambda s: {},
    "l2": lambda s: {"weight_decay": s, "l1_ratio": 0.0},
    "elastic_net": lambda s: {"weight_decay": s, "l1_ratio": 0.5},
    "group_lasso": lambda s: {"group_lasso": s},
    "dropout": lambda s: {"dropout_rate": s},
    "drop_connect": lambda s: {"drop_connect_rate": s},
    "batch_norm": lambda s: {"batch_norm": True},
    "gaussian_noise": lambda s: {"input_noise_stddev": s},
    "mixup": lambda s: {"mixup_alpha": s},
    "max_norm": lambda s: {"max_norm": s},
    "early_stopping": lambda s: {"early_stopping_patience": int(s)},
    "weight_noise": lambda s: {"weight_noise_stddev": s},
    "min_diff": lambda s: {"min_diff_weight": s},
    "reweighing": lambda s: {"reweighing": True},
    "sam": lambda s: {"sam_rho": s},
    "lookahead": lambda s: {"lookahead_sync_period": int(s)},
}
# The recommended recipe's fields that the measured recipe takes over.
_RULE_FIELDS = (
    "weight_decay",
    "l1_ratio",
    "dropout_rate",
    "batch_norm",
    "mixup_alpha",
    "input_noise_stddev",
    "early_stopping_patience",
)


def recipe_of(
    name: str,
    strength: float | None,
    min_diff_weight: float | None,
    recommended: recipes.Recipe | None,
    seed: int | None = None,
) -> recipes.Recipe:
    """The `Recipe` that trains as technique (or combination) `name` did in `compare`.

    Args:
        name: a technique of `techniques.TECHNIQUES` or a combination `"a+b"`.
        strength: the strength that ran (`RunResult.strength`); None: the default.
        min_diff_weight: MinDiff's loss weight, for names with `min_diff`.
        recommended: the "recipe" technique's `Recipe` (`Comparison.recipe`).
        seed: the recipe's seed.
    """
    parts = techniques_module.check_combination(name) if "+" in name else [name]
    # No technique: no penalty and no early stopping, as the base MLP trains.
    fields: dict[str, Any] = {"weight_decay": 0.0, "early_stopping_patience": None}
    for part in parts:
        if part == "recipe":
            if recommended is None:
                raise ValueError(f"The measured technique {name!r} needs the recommended recipe.")
            fields.update({key: getattr(recommended, key) for key in _RULE_FIELDS})
            continue
        if part == "min_diff":
            value = min_diff_weight
        elif len(parts) == 1 and strength is not None:
            value = strength
        else:
            value = techniques_module.TECHNIQUES[part].strength
        fields.update(_FIELDS[part](None if value is None else float(value)))
    if "min_diff" in parts:
        fields["mixup_alpha"] = None  # MinDiff's batches replace the recipe's MixUp
    return recipes.Recipe("binary", seed=seed, **fields)


def _complexity(row: summary.Summary, recommended: recipes.Recipe | None) -> int:
    """How many techniques a row trains with (the recipe counts its own)."""
    if row.technique == summary.BASELINE:
        return 0
    count = 0
    for part in row.technique.split("+"):
        if part == "recipe" and recommended is not None:
            count += len(recommended.techniques)
        else:
            count += 1
    return count


def _interval_dict(interval: stats.Interval) -> dict[str, Any]:
    def number(value):
        return None if not math.isfinite(value) else round(float(value), 6)

    return {
        "mean": number(interval.mean),
        "low": number(interval.low),
        "high": number(interval.high),
        "n": interval.n,
    }


def choose(comparison: Comparison) -> tuple[recipes.Recipe, dict[str, Any]] | None:
    """The measured recipe of `comparison` and the figures behind it (None without runs).

    The row (technique, or MinDiff at one weight) with the lowest mean validation
    loss wins; a row whose paired interval of `val_loss - best` contains 0 (no
    significant difference, over the seeds both ran) ties with it, and of tied rows
    the simplest (fewest techniques; "None" has none) is chosen, then the lower mean.
    With one repeat there is no interval, and the lowest loss wins. Rows a `Recipe`
    cannot express (CLP) are left out, and listed in the evidence as `not_recipes`.
    """
    rows, not_recipes = [], []
    for row in summary.summarize(comparison):
        if not math.isfinite(row.interval(CRITERION).mean):
            continue
        if any(part not in _FIELDS and part != "recipe" for part in row.technique.split("+")):
            not_recipes.append(row.label)  # e.g. CLP: its pairs are not a Recipe field
            continue
        rows.append(row)
    if not rows:
        return None
    best = min(rows, key=lambda row: row.interval(CRITERION).mean)
    candidates = []
    for row in rows:
        difference = row.difference(best, CRITERION)
        tied = row is best or (difference.n >= 2 and not difference.significant)
        candidates.append((row, difference, tied))
    tied_rows = [row for row, _, tied in candidates if tied]
    chosen = min(
        tied_rows,
        key=lambda row: (_complexity(row, comparison.recipe), row.interval(CRITERION).mean),
    )
    strength = chosen.runs[0].strength
    recipe = recipe_of(
        chosen.technique,
        strength,
        chosen.min_diff_weight,
        comparison.recipe,
        seed=comparison.seed,
    )
    reason = (
        f"measured by keras-regkit compare: {chosen.label} "
        f"(val loss {chosen.interval(CRITERION).mean:.4f} over {len(chosen.runs)} run(s))"
    )
    recipe = dataclasses.replace(recipe, reasons=(reason,))
    evidence = {
        "criterion": (
            f"lowest mean {CRITERION} (clean validation cross-entropy) over the repeats; rows "
            "whose paired 95% interval of the difference to the best contains 0 tie, and the "
            "simplest tied row wins"
        ),
        "chosen": {
            "label": chosen.label,
            "technique": chosen.technique,
            "strength": strength,
            "min_diff_weight": chosen.min_diff_weight,
            **{
                attribute: _interval_dict(chosen.interval(attribute))
                for attribute in ("val_loss", "test_auc", "test_accuracy", "fpr_gap")
            },
        },
        "best_by_mean": best.label,
        "not_recipes": not_recipes,
        "rows": [
            {
                "label": row.label,
                "technique": row.technique,
                "complexity": _complexity(row, comparison.recipe),
                "val_loss": _interval_dict(row.interval(CRITERION)),
                "difference_to_best": _interval_dict(difference),
                "tied_with_best": tied,
            }
            for row, difference, tied in candidates
        ],
        "repeats": comparison.repeats,
        "seed": comparison.seed,
        "dataset": comparison.task.name,
        "network": {"hidden_units": list(comparison.hidden_units)},
        "training": {
            "epochs": comparison.epochs,
            "batch_size": comparison.batch_size,
            "learning_rate": comparison.learning_rate,
            "optimizer": "adam",
        },
    }
    return recipe, evidence


def write_recipe(chosen: tuple[recipes.Recipe, dict[str, Any]], path) -> Any:
    """Writes `recipe.json` (`Recipe.save` with the evidence); returns the path."""
    recipe, evidence = chosen
    recipe.save(path, evidence=evidence)
    return path


def describe(recipe: recipes.Recipe, evidence: dict[str, Any]) -> str:
    """The report's paragraph on the measured recipe and how to apply it."""
    chosen = evidence["chosen"]
    loss = chosen["val_loss"]
    text = (
        f"`{RECIPE_FILE}` holds **{chosen['label']}** as a `Recipe` "
        f"({' + '.join(recipe.techniques) or 'no regularization'}): "
    )
    if evidence["best_by_mean"] == chosen["label"]:
        text += f"the lowest mean validation loss ({loss['mean']:.4f})"
    else:
        text += (
            f"the simplest row within the interval of the lowest mean validation loss "
            f"({evidence['best_by_mean']}); its own mean is {loss['mean']:.4f}"
        )
    if evidence["repeats"] < 2:
        text += " (one repeat: no interval, so no tie can be judged)"
    tied = [
        row["label"]
        for row in evidence["rows"]
        if row["tied_with_best"] and row["label"] != evidence["best_by_mean"]
    ]
    if tied:
        text += f". Not significantly different from it: {', '.join(tied)}"
    return (
        text + ". Apply it to a new model with `recipe = keras_regkit.recipes.Recipe.load"
        f'("{RECIPE_FILE}")`, then `recipe.build_model(...)`, `recipe.wrap_model(model)`, '
        "`recipe.optimizer(...)`, `recipe.training_data(x, y, groups=...)` and "
        "`recipe.callbacks(...)`."
    )
