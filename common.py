"""Shared plumbing for every stage: data directory, user-facing errors, atomic writes, seeding,
classification metrics and the TF-IDF baseline.

Nothing here is a stage; each stage script imports what it needs:

    from common import resolve_data_dir, write_json_atomic, classification_metrics
"""

from __future__ import annotations

import json
import logging
import os
import random
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger("pipeline")


class InputError(Exception):
    """A problem with the user's input or setup; printed as one line, never a traceback."""


def run_cli(main: Callable[[list[str] | None], object], argv: list[str] | None = None) -> None:
    """Run a stage's main(); turn an InputError into `error: ...` on stderr and exit code 2."""
    setup_logging()
    try:
        main(argv)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def setup_logging(level: int = logging.INFO) -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")


# ----------------------------------------------------------------------------- paths and files

def resolve_data_dir(cli_value: str | None) -> Path:
    """--data-dir, else $DATA_DIR, else data/ (relative to the working directory)."""
    return Path(cli_value or os.environ.get("DATA_DIR") or "data")


def require_file(path: Path, how_to_get: str) -> Path:
    """Return path if it is a file, else raise an InputError that says how to get it."""
    if not path.is_file():
        raise InputError(f"missing input {path}: {how_to_get}")
    return path


def read_csv_checked(path: Path, how_to_get: str = "check the path") -> pd.DataFrame:
    """Read a CSV with clear errors for a missing, empty or non-UTF-8 file."""
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


def _json_default(o: object) -> object:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


# ----------------------------------------------------------------------------- training helpers

def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    import torch
    torch.manual_seed(seed)


def bf16_supported() -> bool:
    """True when this CPU runs bf16 matmuls natively (AVX-512 BF16 / AMX); else bf16 is slower."""
    import torch
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def library_versions() -> dict[str, str]:
    import sklearn
    import torch
    import transformers
    return {"python": sys.version.split()[0], "torch": torch.__version__,
            "transformers": transformers.__version__, "scikit-learn": sklearn.__version__,
            "pandas": pd.__version__, "numpy": np.__version__}


# ----------------------------------------------------------------------------- metrics

def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], label_names: Sequence[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix.

    >>> m = classification_metrics([0, 1, 1], [0, 1, 0], ["neg", "pos"])
    >>> round(m["accuracy"], 3), m["confusion_matrix"]
    (0.667, [[1, 0], [1, 1]])
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support
    labels = list(range(len(label_names)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "per_class": {name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
                      for i, name in enumerate(label_names)},
        "labels": list(label_names),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def majority_baseline(train_y: Sequence[int], test_y: Sequence[int], label_names: Sequence[str]) -> dict:
    majority = int(pd.Series(train_y).mode()[0])
    return classification_metrics(test_y, [majority] * len(test_y), label_names)


def tfidf_baseline(train_texts: Sequence[str], train_y: Sequence[int], test_texts: Sequence[str],
                   test_y: Sequence[int], label_names: Sequence[str], analyzer: str = "word") -> dict:
    """TF-IDF + logistic regression on the same split: word 1-2 grams, or char 1-4 grams for Korean."""
    pred = fit_tfidf(train_texts, train_y, analyzer).predict(list(test_texts))
    return classification_metrics(test_y, pred.tolist(), label_names)


def fit_tfidf(train_texts: Sequence[str], train_y: Sequence[int], analyzer: str = "word"):
    """The baseline's fitted sklearn Pipeline (TF-IDF -> logistic regression), for predict/predict_proba."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    ngrams = (1, 2) if analyzer == "word" else (1, 4)
    model = make_pipeline(TfidfVectorizer(analyzer=analyzer, ngram_range=ngrams, min_df=2, sublinear_tf=True),
                          LogisticRegression(max_iter=2000, C=10.0 if analyzer == "word" else 5.0))
    return model.fit(list(train_texts), list(train_y))
