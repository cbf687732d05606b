"""Reading and writing files safely: clear errors for bad inputs, atomic writes for outputs.

    from moodpipe.files import InputError, read_csv_checked, write_json_atomic
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd  # imported where a table is read or written: predict_sample.py starts without it


class InputError(Exception):
    """A problem with the user's input or setup; printed as one line, never a traceback."""


def require_file(path: Path, how_to_get: str) -> Path:
    """Return path if it is a file, else raise an InputError that says how to get it."""
    if not Path(path).is_file():
        raise InputError(f"missing input {path}: {how_to_get}")
    return Path(path)


def read_csv_checked(path: Path, how_to_get: str = "check the path", rebuild: str | None = None,
                     **options) -> pd.DataFrame:
    """Read a CSV with clear errors for a missing, empty or non-UTF-8 file. rebuild: the command that makes
    it, when it is one of our outputs (the error then says to run it, instead of how to fix a user's file)."""
    import pandas as pd
    require_file(path, how_to_get)
    fix = {"empty": f"rebuild it with `{rebuild}`", "encoding": f"rebuild it with `{rebuild}`"} if rebuild else {
        "empty": "it needs a header row and data rows", "encoding": "re-save it as UTF-8"}
    try:
        df = pd.read_csv(path, encoding="utf-8-sig", low_memory=False, **options)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path} is empty: {fix['empty']}") from None
    except UnicodeDecodeError as e:
        raise InputError(f"{path} is not UTF-8 ({e.reason} at byte {e.start}): {fix['encoding']}") from None
    except pd.errors.ParserError as e:
        raise InputError(f"{path} is not a readable CSV ({' '.join(str(e).split())})"
                         + (f"; rebuild it with `{rebuild}`" if rebuild else "")) from None
    if df.empty:
        raise InputError(f"{path} has a header but no data rows" + (f"; rebuild it with `{rebuild}`" if rebuild
                                                                     else ""))
    return df


def require_columns(df: pd.DataFrame, columns: Sequence[str], path: Path, hint: str = "") -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"{path} has no column {', '.join(map(repr, missing))} "
                         f"(columns: {', '.join(map(str, df.columns))}){'; ' + hint if hint else ''}")


# What reading a truncated, empty or malformed file raises (JSON, CSV, npz, joblib, transformers' loaders);
# libraries with their own error classes (safetensors, ONNX Runtime, tokenizers) add theirs where they load.
DAMAGED_FILE_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile)


def damaged(path: Path, rebuild: str, error: BaseException) -> InputError:
    """The one-line error for a saved file that cannot be read: which file, why, and what rebuilds it."""
    why = " ".join(str(error).split())[:160]
    return InputError(f"{path} is damaged or incomplete ({type(error).__name__}{': ' + why if why else ''}); "
                      f"rebuild it with `{rebuild}`")


@contextmanager
def loading(path: Path, rebuild: str, errors: tuple[type[BaseException], ...] = DAMAGED_FILE_ERRORS,
            locate: Callable[[Path], Path | None] | None = None) -> Iterator[None]:
    """Around the code that loads a saved file or folder: the errors a damaged one raises become damaged(...).
    A missing path is a missing input, not a damaged one. locate(path) may name the bad file in a folder."""
    try:
        yield
    except InputError:
        raise
    except errors as e:
        if not Path(path).exists():
            raise InputError(f"missing {path}: build it with `{rebuild}`") from None
        raise damaged((locate and locate(Path(path))) or path, rebuild, e) from None


def read_json(path: Path, rebuild: str = "the command that wrote it") -> dict:
    """A JSON file; a missing one raises FileNotFoundError (callers may skip it), a damaged one an InputError."""
    text = Path(path).read_text(encoding="utf-8")
    with loading(path, rebuild):
        return json.loads(text)


def require_unique(df: pd.DataFrame, column: str, path: Path) -> None:
    """One row per key: a repeated id is an error naming the ids (which row should win is the user's call)."""
    repeated = df[column][df[column].duplicated()].astype(str).unique().tolist()
    if repeated:
        raise InputError(f"{path}: {len(repeated)} {column} value(s) appear more than once "
                         f"({', '.join(repeated[:5])}{' ...' if len(repeated) > 5 else ''}); keep one row per {column}")


def require_ids(df: pd.DataFrame, column: str, path: Path) -> None:
    """Every row has an id of its own: a blank one could not be asked for, yet would be scored and ranked."""
    blank = (df[column].isna() | (df[column].astype(str).str.strip() == "")).to_numpy().nonzero()[0]
    if len(blank):
        raise InputError(f"{path}: {len(blank)} row(s) have an empty {column} (line(s) "
                         f"{', '.join(str(i + 2) for i in blank[:5])}); give each its id or drop those rows")
    require_unique(df, column, path)


TMP_SUFFIX = ".tmp"  # what an interrupted atomic write leaves behind: .<name>.<random>.tmp


def _atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """Write through a temp file in the same folder, then rename: a crash never leaves half a file."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    except OSError as e:  # a read-only place, /proc, a file where a folder should be: check --out
        raise cannot_write(path, e) from None
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, SHARED_FILE)  # mkstemp makes owner-only files; outputs are meant to be shared
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if is_disk_full(e):
            raise cannot_write(path, e) from None
        raise
    return path


SHARED_FILE, SHARED_FOLDER = 0o644, 0o755  # outputs are meant to be read by others (mkstemp/mkdtemp make 0600/0700)
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def is_disk_full(error: BaseException) -> bool:
    """An OSError for a full disk or quota (some writers, e.g. safetensors, only say so in their message)."""
    return (isinstance(error, OSError) and error.errno in DISK_FULL) or "No space left on device" in str(error)


def cannot_write(path: Path, error: BaseException) -> InputError:
    """The one-line error for an output that cannot be written: a full disk says so by name."""
    if is_disk_full(error):
        return InputError(f"no space left on device writing {path}; earlier outputs are kept, free some space "
                          "and re-run the same command")
    return InputError(f"cannot write {path}: {getattr(error, 'strerror', None) or error} (check --out)")


@contextmanager
def atomic_folder(path: Path) -> Iterator[Path]:
    """Fill a temporary folder beside `path`, then swap it in whole: a crash never leaves half a folder or a mix
    of old and new files (what an interrupted run leaves is a `.<name>.<random>.tmp` folder, removed by the next
    run). A full disk while filling it is one error naming the folder; the old folder stays as it was."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX))
        os.chmod(tmp, SHARED_FOLDER)
    except OSError as e:
        raise cannot_write(path, e) from None
    try:
        yield tmp
        share(tmp)
        swap_folder(tmp, path)
    except BaseException as e:
        if is_disk_full(e):
            raise cannot_write(path, e) from None
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def share(folder: Path) -> None:
    """Make a finished folder readable by others, as outputs are meant to be (some savers, e.g. safetensors,
    write owner-only files)."""
    for item in [folder, *folder.rglob("*")]:
        os.chmod(item, SHARED_FOLDER if item.is_dir() else SHARED_FILE)


def swap_folder(new: Path, path: Path) -> None:
    """Put folder `new` at `path`: the old one is renamed aside first and removed after, so at every moment
    `path` is the old folder, the new one, or (for an instant) absent; never a mix."""
    old = None
    if path.exists():
        old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old.", suffix=TMP_SUFFIX))
        os.replace(path, old)
    os.replace(new, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_text_atomic(path: Path, text: str) -> Path:
    return _atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_json_atomic(path: Path, obj: object) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default) + "\n")


def write_csv_atomic(path: Path, df: pd.DataFrame) -> Path:
    return _atomic(path, lambda p: df.to_csv(p, index=False, encoding="utf-8"))


def write_figure_atomic(path: Path, fig, dpi: int = 120) -> Path:
    return _atomic(path, lambda p: fig.savefig(p, dpi=dpi, format="png"))


def _json_default(o: object) -> object:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")
