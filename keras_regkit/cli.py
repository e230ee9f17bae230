"""The `keras-regkit` command line."""

from __future__ import annotations

import argparse
import sys

from keras_regkit.compare import command as compare_command
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
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    compare_parser = commands.add_parser(
        "compare",
        help="compare regularization techniques and MinDiff on one model (default: UCI Adult)",
        description=compare_command.DESCRIPTION,
        epilog=compare_command.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compare_command.add_arguments(compare_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "compare":
        return compare_command.run(args, argv[argv.index("compare") + 1 :])
    return 0


if __name__ == "__main__":
    sys.exit(main())
