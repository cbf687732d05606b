"""The song catalogue: reading a song-vector CSV and the embeddings saved beside it, naming its emotion
columns, emotion profiles for `--emotion` queries, and finding a song by title.
"""

from __future__ import annotations

import difflib
import functools
import logging
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from moodpipe.contract import emotion_label, is_emotion_column, major_label
from moodpipe.files import InputError, loading, read_csv_checked, require_columns, require_ids
from moodpipe.models.emotion_predictor import EMBEDDINGS
from moodpipe.paths import REBUILD_SONG_VECTORS

log = logging.getLogger("pipeline")

ID_COLUMNS, TITLE_COLUMNS = ("song_id", "id"), ("song_name", "title", "song", "name")
NOT_EMOTIONS = {"song_id", "id", "year", "rank", "n_chunks", "n_tokens", "best_rank", "n_chart_months", "n_lines"}


def major_of(column: str) -> str | None:
    """'emo:슬픔/눈물이나는' -> '슬픔'; 'major:기쁨' -> '기쁨'; 'emo:joy' (GoEmotions), any other column -> None."""
    column = str(column)
    if is_emotion_column(column) and "/" in column:
        return emotion_label(column).split("/", 1)[0]
    return major_label(column)


def sub_of(column: str) -> str:
    """'emo:분노/가난한/불우한' -> '가난한/불우한' (split at the first '/'); 'emo:슬픔/슬픔' -> '슬픔'; 'x' -> 'x'."""
    major, _, sub = (major_label(str(column)) or emotion_label(str(column))).partition("/")
    return sub or major


def readable(column: str) -> str:
    """'emo:슬픔/눈물이나는' -> '슬픔/눈물이나는'; 'emo:슬픔/슬픔' -> '슬픔'; 'major:기쁨' -> '기쁨'."""
    major, sub = major_of(column), sub_of(column)
    return sub if major in (None, sub) else f"{major}/{sub}"


def emotion_groups(names: Sequence[str], columns: Sequence[str]) -> dict[str, list[int]]:
    """The columns each requested emotion names: a major class (all its sub-emotions), else a sub-emotion,
    else any label containing the name. An unknown name is an error listing the valid ones.

    >>> emotion_groups(["기쁨", "슬픔"], ["emo:기쁨/기쁨", "emo:기쁨/감사하는", "emo:슬픔/슬픔"])
    {'기쁨': [0, 1], '슬픔': [2]}
    """
    groups = {name: ([j for j, c in enumerate(columns) if major_of(c) == name]
                     or [j for j, c in enumerate(columns) if sub_of(c) == name]
                     or [j for j, c in enumerate(columns) if name in readable(c)]) for name in names}
    unknown = [name for name, hits in groups.items() if not hits]
    if unknown:
        majors = sorted({m for m in map(major_of, columns) if m})
        subs = [sub_of(c) for c in columns]
        raise InputError(f"unknown emotion {', '.join(map(repr, unknown))}; valid names: "
                         f"{', '.join(majors + [s for s in subs if s not in majors])}")
    return groups


def emotion_columns(df: pd.DataFrame) -> list[str]:
    """The `emo:` columns, else every numeric column that is not metadata."""
    emo = [c for c in df.columns if is_emotion_column(c)]
    return emo or [c for c in df.select_dtypes("number").columns if c not in NOT_EMOTIONS]


def load_song_vectors(path: Path) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """(metadata with song_id/song/artist/year, probability matrix, emotion column names) of a vector CSV."""
    df = read_csv_checked(path, f"run `{REBUILD_SONG_VECTORS}` first, or pass --vectors FILE", REBUILD_SONG_VECTORS)
    id_col = next((c for c in ID_COLUMNS if c in df.columns), None)
    if id_col:
        require_ids(df, id_col, path)
    title_col = next((c for c in TITLE_COLUMNS if c in df.columns), None)
    if title_col is None:
        require_columns(df, ["song_name"], path, "a title column is needed to name songs")
    columns = emotion_columns(df)
    if not columns:
        raise InputError(f"{path} has no emotion columns (`emo:<major>/<sub>`, or numeric columns)")
    year = pd.to_numeric(df["year"], errors="coerce") if "year" in df.columns else (
        pd.to_numeric(df["release_date"].astype(str).str[:4], errors="coerce") if "release_date" in df.columns
        else pd.Series(np.nan, index=df.index))
    meta = pd.DataFrame({"song_id": df[id_col].astype(str) if id_col else df.index.astype(str),
                         "song": df[title_col].astype(str),
                         "artist": df["artist"].fillna("").astype(str) if "artist" in df.columns else "",
                         "year": year})
    probs = df[columns].apply(pd.to_numeric, errors="coerce").to_numpy(float)  # text -> NaN -> named below
    check_probabilities(probs, columns, song_labels(meta), path)
    return meta, probs, columns


PROBABILITY_SLACK = 1e-4  # rounding in a saved CSV; beyond it a value is not a probability


def check_probabilities(probs: np.ndarray, columns: Sequence[str], labels: Sequence[str], path: Path) -> None:
    """`emo:`/`major:` columns hold probabilities: a value outside 0..1 (or NaN, inf) is an error naming the
    songs and the column, never a silently different ranking."""
    scored = [j for j, c in enumerate(columns) if is_emotion_column(c) or major_label(str(c))]
    if not scored:
        return
    x = probs[:, scored]
    bad = ~np.isfinite(x) | (x < -PROBABILITY_SLACK) | (x > 1 + PROBABILITY_SLACK)
    if bad.any():
        rows, cols = np.nonzero(bad)
        raise InputError(f"{path}: {len(set(rows))} song(s) have emotion values that are not probabilities "
                         f"from 0 to 1 (e.g. {columns[scored[cols[0]]]} = {x[rows[0], cols[0]]!r} for "
                         f"{labels[rows[0]]}); rebuild it with `{REBUILD_SONG_VECTORS}`")


def load_song_embeddings(path: Path, song_ids: pd.Series) -> dict[str, np.ndarray]:
    """The `features`/`generic`/`mood` rows saved beside a vector CSV (results/song_emotions.embeddings.npz), in the
    CSV's row order; {} when there is no such file or it belongs to other songs (then it is ignored, said)."""
    from moodpipe.paths import embeddings_path
    npz = embeddings_path(path)
    if not npz.is_file():
        return {}
    with loading(npz, REBUILD_SONG_VECTORS), np.load(npz, allow_pickle=False) as saved:
        ids = saved["song_id"].astype(str)
        if len(ids) != len(song_ids) or not (ids == song_ids.astype(str).to_numpy()).all():
            log.warning("%s does not hold the songs of %s (re-scored since?); ignoring it", npz, path)
            return {}
        found = {k: saved[k] for k in saved.files if k in EMBEDDINGS}
    for name, x in found.items():
        check_embeddings(x, name, ids, npz)
    return found


def check_embeddings(x: np.ndarray, name: str, ids: np.ndarray, npz: Path) -> None:
    """One finite row per song: a wrong shape or a NaN/inf names the file, the array and the songs."""
    if x.ndim != 2 or len(x) != len(ids) or not np.issubdtype(x.dtype, np.number):
        raise InputError(f"{npz}: `{name}` is a {x.dtype} array of shape {x.shape}, not one row per song "
                         f"({len(ids)}); rebuild it with `{REBUILD_SONG_VECTORS}`")
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if len(bad):
        raise InputError(f"{npz}: `{name}` holds NaN or infinite values for {len(bad)} song(s) (song_id "
                         f"{', '.join(ids[bad[:5]])}); rebuild it with `{REBUILD_SONG_VECTORS}`")


def load_catalogue(path: Path) -> tuple[pd.DataFrame, np.ndarray, list[str], dict[str, np.ndarray]]:
    """(metadata, probabilities, emotion columns, {probs, embeddings}) of a vector CSV and the embeddings beside
    it, read once per process while both files are unchanged: the app answers many queries from one read.
    Callers must not modify what it returns (it is shared)."""
    from moodpipe.paths import embeddings_path
    stamps = tuple((p.stat().st_mtime_ns, p.stat().st_size) if p.is_file() else None
                   for p in (Path(path), embeddings_path(path)))
    return _read_catalogue(str(path), stamps)


@functools.lru_cache(maxsize=2)
def _read_catalogue(path: str, stamps: tuple) -> tuple[pd.DataFrame, np.ndarray, list[str], dict[str, np.ndarray]]:
    meta, probs, columns = load_song_vectors(Path(path))
    return meta, probs, columns, {"probs": probs, **load_song_embeddings(Path(path), meta.song_id)}


def song_labels(meta: pd.DataFrame) -> np.ndarray:
    return ("'" + meta.song + "' - " + meta.artist + " (id " + meta.song_id + ")").to_numpy(dtype=object)


def check_rows(x: np.ndarray, labels: Sequence[str], source: object, problem: str = "") -> None:
    """Reject NaN/inf and zero-length rows, naming the songs, instead of silently ranking garbage."""
    finite = np.isfinite(x).all(axis=1)
    zero = finite & ~np.any(x != 0, axis=1)
    for bad, what in ((~finite, "NaN or infinite emotion values"), (zero, problem or "an all-zero emotion vector")):
        if bad.any():
            rows = np.flatnonzero(bad)
            raise InputError(f"{len(rows)} song(s) in {source} have {what}: "
                             f"{'; '.join(labels[i] for i in rows[:3])}{' ...' if len(rows) > 3 else ''}; "
                             "re-score or drop these rows")


def normalize_title(s: str) -> str:
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", str(s)).lower())


class SongNotFound(InputError):
    """No song in the catalogue has this title (the caller may know more: e.g. an unscored song)."""


def find_song(meta: pd.DataFrame, title: str, artist: str | None = None) -> tuple[int, str]:
    """(row, note) of the song titled `title`. An exact title (case aside) wins; else titles are compared
    without case, spaces and punctuation. The note says which song was used when the match was not exact
    or not the only one, and lists the other candidates; it is empty for a unique exact match."""
    exact = np.flatnonzero(meta.song.str.strip().str.casefold() == title.strip().casefold())
    loose = np.flatnonzero(meta.song.map(normalize_title) == normalize_title(title))
    candidates = list(dict.fromkeys([*exact.tolist(), *loose.tolist()]))
    if candidates and artist:
        candidates = by_artist(meta, candidates, title, artist)
    if not candidates:
        raise SongNotFound(f"no song titled {title!r}{closest_titles(meta, title)}")
    row = candidates[0]
    others = [song_labels(meta)[i] for i in candidates[1:]]
    note = "" if row in exact and not others else f"using {song_labels(meta)[row]}" + (
        "" if row in exact else f" for {title!r} (titles compared without case, spaces and punctuation)")
    if others:
        note += f"; other candidates: {'; '.join(others[:5])}{' ...' if len(others) > 5 else ''} (add --artist " \
                "or --song-id to choose)"
    return int(row), note


def by_artist(meta: pd.DataFrame, rows: list[int], title: str, artist: str) -> list[int]:
    kept = [i for i in rows if normalize_title(artist) in normalize_title(meta.artist[i])]
    if not kept:
        raise InputError(f"no song {title!r} by {artist!r}; {title!r} is by: "
                         f"{', '.join(sorted(set(meta.artist[rows])))}")
    return kept


def closest_titles(meta: pd.DataFrame, title: str) -> str:
    key = normalize_title(title)
    if not key:  # punctuation alone would "contain" in every title: no suggestion beats five arbitrary ones
        return ""
    contains = [i for i in np.flatnonzero(meta.song.map(normalize_title).str.contains(key, regex=False))][:5]
    close = difflib.get_close_matches(title, meta.song.unique().tolist(), n=5, cutoff=0.4)
    rows = list(dict.fromkeys(contains + [int(np.flatnonzero(meta.song == t)[0]) for t in close]))[:5]
    return "; closest titles: " + ", ".join(f"'{meta.song[i]}' - {meta.artist[i]}" for i in rows) if rows else ""
