"""What every command shares: one-line errors with exit code 2 (logging set up first), checked option types, and
turning parsed options into a (frozen) config dataclass. The shared run options (--out, --data-dir, --device,
--precision, --seed) are declared and resolved in moodpipe.context.

    def main(argv=None): ...
    if __name__ == "__main__":
        run_cli(main)
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from moodpipe.files import InputError, cannot_write, is_disk_full
from moodpipe.logs import setup_logging

log = logging.getLogger("pipeline")


INTERRUPTED = 130  # the shell's code for a command stopped by Ctrl-C (128 + SIGINT)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with where the work done so far is kept (raised by the code that knows, e.g. the crawler)."""


def run_cli(main: Callable[[list[str] | None], object], argv: list[str] | None = None) -> None:
    """Run a command's main(); turn an InputError (or a full disk) into `error: ...` on stderr and exit code 2,
    and Ctrl-C into one `interrupted: ...` line and exit code 130. Every write is atomic, so what existed
    before is intact either way."""
    setup_logging()
    try:
        main(argv)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt as e:
        where = str(e) or "outputs written before are kept unchanged; re-run the same command to go on"
        print(f"\ninterrupted: {where}", file=sys.stderr)
        raise SystemExit(INTERRUPTED) from None
    except OSError as e:
        if not is_disk_full(e):
            raise
        print(f"error: {cannot_write(Path(e.filename or 'an output'), e)}", file=sys.stderr)
        raise SystemExit(2) from None


def new_parser(doc: str | None) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


# ----------------------------------------------------------------------------- option types
# Numbers are checked where they are parsed, so a bad value is argparse's one-line usage error (exit 2)
# before anything is read or written.

FIRST_YEAR = 1900  # no recorded song, chart or release date this catalogue handles is older


def positive_int(text: str) -> int:
    """A size or a count that must be at least 1 (--batch-size, --top, --max-rows, ...).

    >>> positive_int("3")
    3
    >>> positive_int("0")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: expected a whole number >= 1, got '0'
    """
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """A count that may be 0 (--retries, --patience, --seed)."""
    return _int_at_least(text, 0)


def positive_float(text: str) -> float:
    """A rate, a duration or a number of epochs that must be above 0.

    >>> positive_float("-1")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: expected a number > 0, got '-1'
    """
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """A wait in seconds that may be 0 (--delay, --backoff)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def fraction(text: str) -> float:
    """A share from 0 to 1 (--dropout, --warmup-ratio)."""
    value = non_negative_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}")
    return value


HIGHEST_PORT = 65535


def port(text: str) -> int:
    """A TCP port from 0 (any free one) to 65535.

    >>> port("8000")
    8000
    >>> port("70000")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: expected a port from 0 to 65535, got '70000'
    """
    if not text.strip().isdigit() or int(text) > HIGHEST_PORT:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to {HIGHEST_PORT}, got {text!r}")
    return int(text)


def year(text: str) -> int:
    """A calendar year from FIRST_YEAR to next year.

    >>> year("2005")
    2005
    >>> year("1800")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    argparse.ArgumentTypeError: expected a year from 1900 to ..., got '1800'
    """
    last = datetime.date.today().year + 1
    if not text.strip().isdigit() or not FIRST_YEAR <= int(text) <= last:
        raise argparse.ArgumentTypeError(f"expected a year from {FIRST_YEAR} to {last}, got {text!r}")
    return int(text)


def text_query(text: str) -> str:
    """A query that must say something: empty or whitespace-only text is refused (it would rank songs for
    nothing). Surrounding spaces are dropped.

    >>> text_query("  비 오는 날 ")
    '비 오는 날'
    >>> text_query("   ")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: expected some text, got '   '
    """
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected some text, got {text!r}")
    return text.strip()


def check_year_order(parser: argparse.ArgumentParser, first: int | None, last: int | None,
                     names: str = "--year-from/--year-to") -> None:
    """An inverted year range selects nothing: say so at once instead of answering with no songs."""
    if year_order_problem(first, last, names):
        parser.error(year_order_problem(first, last, names))


def year_order_problem(first: int | None, last: int | None, names: str = "--year-from/--year-to") -> str | None:
    """What check_year_order says of an inverted range (the app says the same), else None.

    >>> year_order_problem(2020, 2000)
    '--year-from/--year-to: 2020 is after 2000; give the earlier year first'
    """
    if first is not None and last is not None and first > last:
        return f"{names}: {first} is after {last}; give the earlier year first"
    return None


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if value < low:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {low}, got {text!r}")
    return value


def config_from_args(cls: type, args: argparse.Namespace, **overrides: object):
    """The config dataclass `cls` from the options of the same names (those left unset keep the defaults)."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
             if getattr(args, f.name, None) is not None}
    return cls(**{**given, **overrides})
