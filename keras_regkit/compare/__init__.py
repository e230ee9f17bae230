"""keras_regkit.compare: the engine behind `keras-regkit compare`.

Trains the same MLP once per regularization technique (and MinDiff at several
loss weights, and the recommended recipe) on a binary classification task and
measures overfitting, accuracy, fairness gaps, sparsity and time:

    from keras_regkit.compare import compare, load_adult_task, write_report

    result = compare(load_adult_task(seed=0), ["none", "dropout", "min_diff"], epochs=10)
    write_report(result, "regkit-compare")
"""

from keras_regkit.compare.data import (
    DataError,
    TabularTask,
    group_rule,
    load_adult_task,
    load_csv_task,
)
from keras_regkit.compare.engine import (
    Comparison,
    ConsoleProgress,
    RunResult,
    compare,
    log_loss,
    roc_auc,
)
from keras_regkit.compare.report import (
    format_differences,
    format_table,
    highlights,
    summarize,
    write_csv,
    write_report,
)
from keras_regkit.compare.stats import Interval, paired_difference, t_interval
from keras_regkit.compare.techniques import (
    DEFAULT_COMBINATIONS,
    DEFAULT_MIN_DIFF_WEIGHTS,
    DEFAULT_TECHNIQUES,
    TECHNIQUES,
    Technique,
    check_combination,
)

__all__ = [
    "Comparison",
    "ConsoleProgress",
    "DEFAULT_COMBINATIONS",
    "DEFAULT_MIN_DIFF_WEIGHTS",
    "DEFAULT_TECHNIQUES",
    "DataError",
    "Interval",
    "RunResult",
    "TECHNIQUES",
    "TabularTask",
    "Technique",
    "check_combination",
    "compare",
    "format_differences",
    "format_table",
    "group_rule",
    "highlights",
    "load_adult_task",
    "load_csv_task",
    "log_loss",
    "paired_difference",
    "roc_auc",
    "summarize",
    "t_interval",
    "write_csv",
    "write_report",
]
