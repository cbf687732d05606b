"""The review data: a CSV of texts and 1-5 star ratings (or 0/1 labels) -> de-duplicated (text, label) rows
-> a stratified 80/10/10 split. Stars 1-2 are negative, 4-5 positive, 3 is dropped; exact duplicate texts
are removed before the split, so no text can sit on two sides.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from moodpipe.files import InputError, read_csv_checked
from moodpipe.paths import HOW_TO_GET_REVIEWS

LABELS = ["negative", "positive"]
TEXT_COLUMNS = ["content", "Review", "review", "text", "Text"]  # Google Play scrape, Kaggle export, generic
RATING_COLUMNS = ["score", "Rating", "rating", "stars", "Score"]
MIN_PER_CLASS = 10  # so that validation and test (10% each) hold at least one review of each class


def pick_column(df: pd.DataFrame, wanted: str | None, candidates: list[str], what: str, path: Path) -> str:
    if wanted:
        if wanted not in df.columns:
            raise InputError(f"{path} has no {what} column {wanted!r} (columns: {', '.join(map(str, df.columns))})")
        return wanted
    for name in candidates:
        if name in df.columns:
            return name
    raise InputError(f"{path} has no {what} column (looked for {', '.join(candidates)}; columns: "
                     f"{', '.join(map(str, df.columns))}); name it with --{what}-col")


def stars_to_labels(stars: pd.Series, path: Path, column: str) -> pd.Series:
    """1-2 -> 0 (negative), 4-5 -> 1 (positive), 3 -> NA (dropped).

    >>> stars_to_labels(pd.Series([1, 3, 5]), Path("x.csv"), "score").tolist()
    [0, <NA>, 1]
    """
    numeric = pd.to_numeric(stars, errors="coerce")
    bad = stars.notna() & numeric.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"{path}: column {column!r} must hold star ratings 1-5, but row {row + 2} holds "
                         f"{stars.iloc[row]!r}; fix the file or pick another column with --rating-col")
    out_of_range = numeric.notna() & ~numeric.isin([1, 2, 3, 4, 5])
    if out_of_range.any():
        raise InputError(f"{path}: column {column!r} has ratings outside 1-5 (e.g. {numeric[out_of_range].iloc[0]})")
    return numeric.map({1: 0, 2: 0, 4: 1, 5: 1}).astype("Int64")


def load_reviews(path: Path, text_col: str | None, rating_col: str | None, label_col: str | None,
                 how_to_get: str = HOW_TO_GET_REVIEWS) -> tuple[pd.DataFrame, dict]:
    """Read the reviews CSV into (text, label) rows; return them with counts of what was dropped."""
    raw = read_csv_checked(path, how_to_get)
    text = pick_column(raw, text_col, TEXT_COLUMNS, "text", path)
    if label_col:
        labels = pd.to_numeric(raw[pick_column(raw, label_col, [], "label", path)], errors="coerce")
        if not labels.dropna().isin([0, 1]).all():
            raise InputError(f"{path}: --label-col {label_col!r} must hold 0 (negative) or 1 (positive)")
        labels = labels.astype("Int64")
    else:
        rating = pick_column(raw, rating_col, RATING_COLUMNS, "rating", path)
        labels = stars_to_labels(raw[rating], path, rating)
    df = pd.DataFrame({"text": raw[text].astype("string").str.strip(), "label": labels})
    counts = {"rows_read": len(df), "empty_text": int((df.text.isna() | (df.text == "")).sum())}
    df = df[df.text.notna() & (df.text != "")]
    counts["neutral_or_missing_rating"] = int(df.label.isna().sum())
    df = df[df.label.notna()]
    before = len(df)
    df = df.drop_duplicates("text")  # keep the first: exact repeats would leak across splits
    counts["duplicate_texts"] = before - len(df)
    counts["rows_used"] = len(df)
    check_enough_reviews(df, path)
    return df.assign(label=df.label.astype(int)).reset_index(drop=True), counts


def check_enough_reviews(df: pd.DataFrame, path: Path) -> None:
    """A stratified 80/10/10 split needs a few reviews of each class on every side."""
    counts = df.label.value_counts().reindex([0, 1], fill_value=0)
    if counts.min() < MIN_PER_CLASS:
        raise InputError(f"{path}: after cleaning {len(df)} usable reviews ({counts[0]} negative, {counts[1]} "
                         f"positive); a train/validation/test split needs at least {MIN_PER_CLASS} of each class")


def split_reviews(df: pd.DataFrame, seed: int) -> dict[str, pd.DataFrame]:
    """Stratified 80/10/10 split. Texts are unique, so no text can land on two sides."""
    from sklearn.model_selection import train_test_split
    train, rest = train_test_split(df, test_size=0.2, stratify=df.label, random_state=seed)
    val, test = train_test_split(rest, test_size=0.5, stratify=rest.label, random_state=seed)
    return {"train": train.reset_index(drop=True), "val": val.reset_index(drop=True),
            "test": test.reset_index(drop=True)}


def sample_rows(df: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    if not n or n >= len(df):
        return df
    from sklearn.model_selection import train_test_split
    keep, _ = train_test_split(df, train_size=n, stratify=df.label, random_state=seed)
    return keep.reset_index(drop=True)
