"""Reading and writing files safely: clear errors for bad inputs, atomic writes for outputs.

    from moodpipe.files import InputError, read_csv_checked, write_json_atomic
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
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


def read_csv_checked(path: Path, how_to_get: str = "check the path") -> pd.DataFrame:
    """Read a CSV with clear errors for a missing, empty or non-UTF-8 file."""
    import pandas as pd
    require_file(path, how_to_get)
    try:
        df = pd.read_csv(path, encoding="utf-8-sig", low_memory=False)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path} is empty: it needs a header row and data rows") from None
    except UnicodeDecodeError as e:
        raise InputError(f"{path} is not UTF-8 ({e.reason} at byte {e.start}): re-save it as UTF-8") from None
    except pd.errors.ParserError as e:
        raise InputError(f"{path} is not a readable CSV: {e}") from None
    if df.empty:
        raise InputError(f"{path} has a header but no data rows")
    return df


def require_columns(df: pd.DataFrame, columns: Sequence[str], path: Path, hint: str = "") -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"{path} has no column {', '.join(map(repr, missing))} "
                         f"(columns: {', '.join(map(str, df.columns))}){'; ' + hint if hint else ''}")


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """Write through a temp file in the same folder, then rename: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes owner-only files; outputs are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


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
