"""What every command shares: logging, one-line errors with exit code 2, the --data-dir option, and
turning parsed options into a (frozen) config dataclass.

    def main(argv=None): ...
    if __name__ == "__main__":
        run_cli(main)
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from collections.abc import Callable

from moodpipe.files import InputError

log = logging.getLogger("pipeline")


def setup_logging(level: int = logging.INFO) -> None:
    """Our log lines with their time; the libraries' own reports only when they are errors. Loading a
    pretrained encoder under a new classification head makes transformers print a table of the head's
    weights as MISSING, which is exactly what fine-tuning expects; our own lines say which model was loaded."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # read when transformers is first imported
    if "transformers" in sys.modules:  # the command imported it already (its models load at import)
        sys.modules["transformers"].utils.logging.set_verbosity_error()
    if not logging.getLogger().handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")


def run_cli(main: Callable[[list[str] | None], object], argv: list[str] | None = None) -> None:
    """Run a command's main(); turn an InputError into `error: ...` on stderr and exit code 2."""
    setup_logging()
    try:
        main(argv)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def new_parser(doc: str | None) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="input folder (default: $DATA_DIR, else data/)")


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                        help="where to train and predict (auto: CUDA when available, else MPS, else CPU)")


def config_from_args(cls: type, args: argparse.Namespace, **overrides: object):
    """The config dataclass `cls` from the options of the same names (those left unset keep the defaults)."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
             if getattr(args, f.name, None) is not None}
    return cls(**{**given, **overrides})
