"""The `keras-regkit` command line."""

from __future__ import annotations

import argparse
import sys

from keras_regkit.version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keras-regkit",
        description=(
            "Regularization and fairness (MinDiff) tools for Keras 3. "
            "Run `keras-regkit COMMAND --help` for a command's options."
        ),
    )
    parser.add_argument("--version", action="version", version=f"keras-regkit {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
