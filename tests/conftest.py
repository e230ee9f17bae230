import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# Property tests draw the same examples every run, so CI is reproducible; set
# REGKIT_HYPOTHESIS=explore to search new examples (and raise max_examples there).
settings.register_profile("ci", derandomize=True, database=None, max_examples=25)
settings.register_profile("explore", max_examples=1000)
settings.load_profile("explore" if os.environ.get("REGKIT_HYPOTHESIS") == "explore" else "ci")


# Tests that do not depend on the Keras backend (CLI, data loading, reports, statistics, docs)
# carry `@pytest.mark.one_backend` (or `pytestmark = pytest.mark.one_backend` for a module) and run
# in the ONE_BACKEND run only; the other backends' runs deselect them.
ONE_BACKEND = "jax"


def pytest_collection_modifyitems(config, items):
    if keras.backend.backend() == ONE_BACKEND:
        return
    kept, deselected = [], []
    for item in items:
        (deselected if item.get_closest_marker("one_backend") else kept).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


def pytest_report_header(config):
    return f"keras backend: {keras.backend.backend()} (keras {keras.__version__})"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    terminalreporter.write_sep(
        "=", f"results above are for KERAS_BACKEND={keras.backend.backend()}"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # Every failure report names the backend it ran on.
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        report.sections.append(("keras backend", keras.backend.backend()))


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    keras.backend.clear_session()
    yield
    keras.config.set_dtype_policy("float32")
