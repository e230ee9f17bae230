"""Copies the default compare run's tables and highlights from docs/compare/report.md to README.

    KERAS_BACKEND=jax keras-regkit compare --out /tmp/default_run
    cp /tmp/default_run/{report.md,*.csv,*.png} docs/compare/
    python3 docs/compare/update_readme.py

The README's numbers are never typed in: this replaces what lies between the two
`<!-- compare-report -->` markers with the report's model line, its table of means and 95%
intervals, the paired differences from None and the generated highlights.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START, END = "<!-- compare-report:start -->", "<!-- compare-report:end -->"


def excerpt(report: str) -> str:
    lines = report.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("Model:"))
    last = next(i for i, line in enumerate(lines) if line.startswith("How to read it:"))
    return "\n".join(lines[first:last]).strip()


def main() -> None:
    report = (ROOT / "docs" / "compare" / "report.md").read_text()
    readme_path = ROOT / "README.md"
    readme = readme_path.read_text()
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    readme_path.write_text(f"{head}{START}\n{excerpt(report)}\n{END}{tail}")


if __name__ == "__main__":
    main()
