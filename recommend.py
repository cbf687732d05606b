"""Recommend songs whose lyrics carry similar emotions, and say which emotions they share.

    python recommend.py --song "봄날" --artist "방탄소년단"      # top 10 like a song (title match ignores case/spaces)
    python recommend.py --text "비 오는 날 헤어진 연인이 그리워"  # a text scored by saved_model/emotion
    python recommend.py --emotion 슬픔 --emotion 외로운 --top 20   # songs closest to an emotion profile
    python recommend.py --all --format csv                         # top-k for every song (the seed's tables)
    python recommend.py --evaluate-halves results/song_halves.csv  # measure which --representation separates best

Input: <out>/results/song_emotions.csv (one row per song: metadata, 60 `emo:<major>/<sub>` probabilities,
6 `major:<major>` sums) or any CSV given by --vectors. Outputs in <out>/results/: recommendations.{csv,json,md},
heatmap_songs.csv (cosine between 10 random songs, for generate_graphs.py), representation_eval.json.

Why not only the seed's raw cosine: every lyric's emotion distribution is dominated by the same frequent
classes, so raw probability vectors all point one way and every similarity is ~0.99. Subtracting the
catalogue mean ("centered") keeps what sets a song apart; --evaluate-halves measures which representation
lets one half of a song's lyrics find its other half.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import logging
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from common import (
    InputError,
    read_csv_checked,
    require_columns,
    run_cli,
    write_csv_atomic,
    write_json_atomic,
    write_text_atomic,
)

log = logging.getLogger("pipeline")

REPRESENTATIONS = {
    "raw": "cosine of the raw probabilities (the seed; similarities all near 0.99)",
    "centered": "probabilities minus the catalogue mean: what sets a song apart",
    "zscore": "centred, then divided by each emotion's spread across the catalogue",
    "log": "log-probabilities minus the catalogue mean log-probability (rare emotions count more)",
    "major6": "the 6 major-class sums, centred (coarse but robust)",
}
# Measured (README): half-split recall@10 over 1,914 Melon songs: log 0.101, zscore 0.100, raw 0.095,
# centered 0.094, major6 0.042 (chance 0.005). main.py re-measures on every run and uses the winner.
DEFAULT_REPRESENTATION = "log"
ID_COLUMNS, TITLE_COLUMNS = ("song_id", "id"), ("song_name", "title", "song", "name")
NOT_EMOTIONS = {"song_id", "id", "year", "rank", "n_chunks", "n_tokens", "best_rank", "n_chart_months", "n_lines"}
LOG_FLOOR = 1e-6  # a probability of 0 would be log(0) = -inf


@dataclass
class RecommendConfig:
    out: str = "."
    vectors: str | None = None  # default <out>/results/song_emotions.csv
    song: str | None = None
    artist: str | None = None
    song_id: str | None = None
    text: str | None = None
    emotions: list[str] = field(default_factory=list)
    all_songs: bool = False
    top: int = 10
    representation: str = DEFAULT_REPRESENTATION
    exclude_same_artist: bool = False
    include_self: bool = False
    year_from: int | None = None
    year_to: int | None = None
    format: str | None = None
    seed: int = 42
    index: str = "blocked"
    memory_mb: int = 256
    model_dir: str | None = None  # default <out>/saved_model/emotion


# ----------------------------------------------------------------------------- top-k cosine

def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Unit-length rows (float32 stays float32); a zero or non-finite row has no direction."""
    x = np.asarray(x)
    x = x.astype(np.result_type(x.dtype, np.float32), copy=False)
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))  # no n x d temporary, unlike np.linalg.norm
    bad = ~np.isfinite(norms) | (norms == 0)
    if bad.any():
        raise ValueError(f"row {np.flatnonzero(bad)[0]} is zero or not finite: cosine is undefined")
    return x / norms[:, None]


def one_blas_thread() -> contextlib.AbstractContextManager:
    """Products with 60 columns are memory-bound: more BLAS threads only spin, and on a busy machine they made
    the blocked loop 3-30x slower (measured on 2 shared cores). A no-op without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits  # installed with scikit-learn
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def top_k_rows(s: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of the k largest entries of each row, best first; ties go to the lower index.

    >>> top_k_rows(np.array([[0.5, 0.9, 0.5, 0.1]]), 2)
    (array([[1, 0]]), array([[0.9, 0.5]]))
    """
    n = s.shape[1]
    part = np.argpartition(s, n - k, axis=1)[:, n - k:] if k < n else np.tile(np.arange(n), (len(s), 1))
    vals = np.take_along_axis(s, part, axis=1)
    # argpartition keeps an arbitrary subset of the values equal to the k-th largest: redo those rows exactly
    kth = vals.min(axis=1)
    for r in np.flatnonzero(np.add.reduce(s >= kth[:, None], axis=1, dtype=np.int32) > k):
        cand = np.flatnonzero(s[r] >= kth[r])
        part[r] = cand[np.lexsort((cand, -s[r, cand]))][:k]
        vals[r] = s[r, part[r]]
    order = np.lexsort((part, -vals), axis=1)
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(vals, order, axis=1)


def topk_cosine(queries: np.ndarray, items: np.ndarray, k: int, block_rows: int | None = None,
                block_items: int | None = None, memory_mb: int = 256, item_mask: np.ndarray | None = None,
                exclude_same: Sequence[tuple[np.ndarray, np.ndarray]] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k items by cosine for every query: (indices, sims), each (n_queries, min(k, n_items)).

    Blocks of queries x chunks of items: each chunk keeps its own top k (argpartition), the chunks' winners are
    merged, so memory stays under memory_mb whatever the catalogue size, and a block stays near the CPU cache.
    item_mask: items allowed at all. exclude_same: (query_keys, item_keys) pairs; item j is skipped for
    query i when query_keys[i] == item_keys[j] (the song itself, its artist). Unfilled slots: -1 / -inf.

    >>> idx, sim = topk_cosine(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0], [2.0, 0.0], [1.0, 1.0]]), 2)
    >>> idx.tolist(), sim.round(3).tolist()
    ([[1, 2]], [[1.0, 0.707]])
    """
    q, x = normalize_rows(queries), normalize_rows(items)
    dtype = np.result_type(q, x)
    q, x = q.astype(dtype, copy=False), x.astype(dtype, copy=False)
    k = min(k, len(x))
    # per similarity: itself, argpartition's int64 index, two boolean masks. 2M cells (8 MB in float32) measured
    # faster than bigger blocks: the products stay in cache for argpartition.
    cells = max(1, min(2**21, memory_mb * 2**20 // (dtype.itemsize + 10)))
    block_rows = block_rows or max(1, min(len(q), 256, cells // k))
    block_items = block_items or max(k, cells // block_rows)
    blocked = None if item_mask is None else ~np.asarray(item_mask, bool)
    idx, sims = np.full((len(q), k), -1, np.int64), np.full((len(q), k), -np.inf, dtype)
    with one_blas_thread():
        for start in range(0, len(q), block_rows):
            stop = min(start + block_rows, len(q))
            found_idx, found_sims = [], []
            for lo in range(0, len(x), block_items):
                hi = min(lo + block_items, len(x))
                s = q[start:stop] @ x[lo:hi].T
                if blocked is not None:
                    s[:, blocked[lo:hi]] = -np.inf
                for q_keys, i_keys in exclude_same:
                    s[q_keys[start:stop, None] == i_keys[None, lo:hi]] = -np.inf
                i, v = top_k_rows(s, min(k, hi - lo))
                found_idx.append(i + lo)
                found_sims.append(v)
            # chunks are in item order and each is sorted with ties by index, so a tie between chunks resolves by
            # column position = by item index, as in one pass over all items
            pos, sims[start:stop] = top_k_rows(np.hstack(found_sims), k)
            idx[start:stop] = np.take_along_axis(np.hstack(found_idx), pos, axis=1)
    idx[np.isneginf(sims)] = -1
    return idx, sims


def topk_cosine_faiss(queries: np.ndarray, items: np.ndarray, k: int, item_mask: np.ndarray | None = None,
                      exclude_same: Sequence[tuple[np.ndarray, np.ndarray]] = ()) -> tuple[np.ndarray, np.ndarray]:
    """topk_cosine through a FAISS IndexFlatIP on unit vectors (exact, float32); for very large catalogues."""
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # it logs every CPU feature it probes
    try:
        import faiss  # optional: only --index faiss needs it
    except ImportError:
        raise InputError("--index faiss needs FAISS: pip install faiss-cpu (or use --index blocked)") from None
    q, x = normalize_rows(queries).astype(np.float32), normalize_rows(items).astype(np.float32)
    allowed = np.arange(len(x)) if item_mask is None else np.flatnonzero(item_mask)
    k = min(k, len(x))
    idx, sims = np.full((len(q), k), -1, np.int64), np.full((len(q), k), -np.inf, np.float32)
    if len(allowed) == 0:
        return idx, sims
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(np.ascontiguousarray(x[allowed]))
    # ask for enough extra neighbours that excluded ones (the song itself, its artist) cannot crowd out k
    extra = sum(int(np.unique(i_keys[allowed], return_counts=True)[1].max()) for _, i_keys in exclude_same)
    found_sims, found = index.search(q, min(k + extra, len(allowed)))
    found = np.where(found >= 0, allowed[np.maximum(found, 0)], -1)
    found_sims[found < 0] = -np.inf
    for q_keys, i_keys in exclude_same:
        found_sims[(found >= 0) & (q_keys[:, None] == i_keys[found])] = -np.inf
    order = np.lexsort((found, -found_sims), axis=1)[:, :k]  # ties -> lower index, as in topk_cosine
    m = order.shape[1]  # < k when fewer items are allowed
    idx[:, :m], sims[:, :m] = np.take_along_axis(found, order, 1), np.take_along_axis(found_sims, order, 1)
    idx[np.isneginf(sims)] = -1
    return idx, sims


# ----------------------------------------------------------------------------- emotion space

def major_of(column: str) -> str | None:
    """'emo:슬픔/눈물이나는' -> '슬픔'; 'major:기쁨' -> '기쁨'; 'emo:joy' (GoEmotions), any other column -> None."""
    column = str(column)
    if column.startswith("emo:") and "/" in column:
        return column[4:].split("/", 1)[0]
    return column[6:] if column.startswith("major:") else None


def sub_of(column: str) -> str:
    """'emo:분노/가난한/불우한' -> '가난한/불우한' (split at the first '/'); 'emo:슬픔/슬픔' -> '슬픔'; 'x' -> 'x'."""
    major, _, sub = re.sub(r"^(emo|major):", "", str(column)).partition("/")
    return sub or major


def readable(column: str) -> str:
    """'emo:슬픔/눈물이나는' -> '슬픔/눈물이나는'; 'emo:슬픔/슬픔' -> '슬픔'; 'major:기쁨' -> '기쁨'."""
    major, sub = major_of(column), sub_of(column)
    return sub if major in (None, sub) else f"{major}/{sub}"


def fit_representation(catalogue: np.ndarray, columns: Sequence[str],
                       name: str) -> tuple[Callable[[np.ndarray], np.ndarray], list[str]]:
    """(transform, feature names): the map from probability rows to the space where cosine is taken.

    Statistics come from the catalogue, so a text or an emotion profile lands in the same space.
    >>> f, names = fit_representation(np.array([[0.8, 0.2], [0.6, 0.4]]), ["emo:a/x", "emo:b/y"], "centered")
    >>> f(np.array([[0.8, 0.2]])).round(2).tolist(), names
    ([[0.1, -0.1]], ['a/x', 'b/y'])
    """
    if name not in REPRESENTATIONS:
        raise InputError(f"unknown --representation {name!r}; choose from {', '.join(REPRESENTATIONS)}")
    names = [readable(c) for c in columns]
    base: Callable[[np.ndarray], np.ndarray] = lambda p: p  # noqa: E731
    if name == "major6":
        majors = [major_of(c) for c in columns]
        if None in majors:
            raise InputError("--representation major6 needs `emo:<major>/<sub>` columns")
        names = sorted(set(majors), key=majors.index)
        groups = np.array([[m == g for g in names] for m in majors], dtype=float)
        base = lambda p: p @ groups  # noqa: E731
    elif name == "log":
        base = lambda p: np.log(np.clip(p, LOG_FLOOR, None))  # noqa: E731
    ref = base(catalogue)
    mean = np.zeros(ref.shape[1]) if name == "raw" else ref.mean(axis=0)
    spread = ref.std(axis=0) if name == "zscore" else np.ones(ref.shape[1])
    spread[spread == 0] = 1.0  # an emotion that never varies carries no information; leave it at 0
    return (lambda p: (base(np.asarray(p, float)) - mean) / spread), names


def emotion_profile(names: Sequence[str], columns: Sequence[str]) -> np.ndarray:
    """A target probability row: equal mass per requested emotion, spread over the columns it names.

    A name matches a major class (all its sub-emotions), else a sub-emotion, else any label containing it.
    >>> emotion_profile(["기쁨"], ["emo:기쁨/기쁨", "emo:기쁨/감사하는", "emo:슬픔/슬픔"]).tolist()
    [[0.5, 0.5, 0.0]]
    """
    profile, unknown = np.zeros(len(columns)), []
    for name in names:
        hits = ([j for j, c in enumerate(columns) if major_of(c) == name]
                or [j for j, c in enumerate(columns) if sub_of(c) == name]
                or [j for j, c in enumerate(columns) if name in readable(c)])
        if hits:
            profile[hits] += 1 / (len(names) * len(hits))
        else:
            unknown.append(name)
    if unknown:
        majors = sorted({m for m in map(major_of, columns) if m})
        subs = [sub_of(c) for c in columns]
        raise InputError(f"unknown emotion {', '.join(map(repr, unknown))}; valid names: "
                         f"{', '.join(majors + [s for s in subs if s not in majors])}")
    return profile[None, :]


def score_text(text: str, model_dir: Path, columns: Sequence[str]) -> np.ndarray:
    """Score a free text with the saved emotion model into the catalogue's probability columns."""
    if not model_dir.is_dir():
        raise InputError(f"--text needs the saved emotion model in {model_dir}: train it with "
                         "`python lyrics_emotion.py train`, or pass --model-dir")
    try:
        from lyrics_emotion import score_texts  # lazy: torch and transformers load only for --text
    except ImportError as e:
        raise InputError(f"--text needs lyrics_emotion.score_texts (the emotion stage): {e}") from None
    probs = np.asarray(score_texts(str(model_dir), [text]), dtype=float)
    if probs.shape != (1, len(columns)):
        raise InputError(f"the model in {model_dir} gives {probs.shape[-1]} scores but the song vectors have "
                         f"{len(columns)} emotion columns: re-run lyrics_emotion.py so both come from one model")
    config = model_dir / "config.json"  # reorder by the model's own label names when they name our columns
    if config.is_file():
        id2label = json.loads(config.read_text(encoding="utf-8")).get("id2label", {})
        labels = [str(id2label[k]) for k in sorted(id2label, key=int)]
        labels = [lab if lab.startswith("emo:") else f"emo:{lab}" for lab in labels]
        if sorted(labels) == sorted(columns):
            probs = probs[:, [labels.index(c) for c in columns]]
    return probs


# ----------------------------------------------------------------------------- songs

def emotion_columns(df: pd.DataFrame) -> list[str]:
    """The `emo:` columns, else every numeric column that is not metadata."""
    emo = [c for c in df.columns if str(c).startswith("emo:")]
    return emo or [c for c in df.select_dtypes("number").columns if c not in NOT_EMOTIONS]


def load_song_vectors(path: Path) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """(metadata with song_id/song/artist/year, probability matrix, emotion column names) of a vector CSV."""
    df = read_csv_checked(path, "run `python lyrics_emotion.py` first, or pass --vectors FILE")
    id_col = next((c for c in ID_COLUMNS if c in df.columns), None)
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
    return meta, probs, columns


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


def find_song(meta: pd.DataFrame, title: str, artist: str | None = None) -> int:
    """Row of the song titled `title` (case, spaces and punctuation ignored); on a miss, suggest titles."""
    keys = meta.song.map(normalize_title)
    hits = np.flatnonzero(keys == normalize_title(title))
    if len(hits) and artist:
        by_artist = [i for i in hits if normalize_title(artist) in normalize_title(meta.artist[i])]
        if not by_artist:
            raise InputError(f"no song {title!r} by {artist!r}; {title!r} is by: "
                             f"{', '.join(sorted(set(meta.artist[hits])))}")
        hits = by_artist
    if len(hits) == 0:
        contains = [i for i in np.flatnonzero(keys.str.contains(normalize_title(title), regex=False))][:5]
        close = difflib.get_close_matches(title, meta.song.unique().tolist(), n=5, cutoff=0.4)
        rows = list(dict.fromkeys(contains + [int(np.flatnonzero(meta.song == t)[0]) for t in close]))[:5]
        hint = "; closest titles: " + ", ".join(f"'{meta.song[i]}' - {meta.artist[i]}" for i in rows) if rows else ""
        raise InputError(f"no song titled {title!r}{hint}")
    if len(hits) > 1:
        log.info("%d songs titled %r; using %s (add --artist to choose: %s)", len(hits), title,
                 song_labels(meta)[hits[0]], ", ".join(meta.artist[hits]))
    return int(hits[0])


def build_queries(cfg: RecommendConfig, meta: pd.DataFrame, probs: np.ndarray,
                  columns: list[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(labels, probability rows, catalogue rows or -1) of what to recommend for."""
    if cfg.all_songs:
        rows = np.arange(len(meta))
    elif cfg.song_id is not None:
        rows = np.flatnonzero(meta.song_id == str(cfg.song_id))[:1]
        if not len(rows):
            raise InputError(f"no song with song_id {cfg.song_id!r}")
    elif cfg.song is not None:
        rows = np.array([find_song(meta, cfg.song, cfg.artist)])
    elif cfg.text is not None:
        model_dir = Path(cfg.model_dir) if cfg.model_dir else Path(cfg.out) / "saved_model" / "emotion"
        return [f"text: {cfg.text}"], score_text(cfg.text, model_dir, columns), np.array([-1])
    elif cfg.emotions:
        return [f"emotions: {', '.join(cfg.emotions)}"], emotion_profile(cfg.emotions, columns), np.array([-1])
    else:
        raise InputError("nothing to recommend for: give --song, --song-id, --text, --emotion or --all")
    return list(song_labels(meta)[rows]), probs[rows], rows


def shared_emotions(q_units: np.ndarray, units: np.ndarray, idx: np.ndarray, names: Sequence[str],
                    top: int = 3, chunk: int = 4096) -> np.ndarray:
    """Why each match: the (up to) `top` components adding most to the cosine (q_j * c_j), as shares of all
    positive ones; beyond the first, shares under 5% are left out.

    'low X' means both sit below the catalogue average in X (possible once the mean is subtracted).
    >>> shared_emotions(np.array([[0.8, 0.6]]), np.array([[0.6, 0.8]]), np.array([[0]]), ["a", "b"]).tolist()
    [['a 50%, b 50%']]
    """
    out, top = np.empty(idx.shape, dtype=object), min(top, len(names))
    for s in range(0, len(idx), chunk):  # chunks of queries keep the (queries, k, features) products small
        q, found = q_units[s:s + chunk], idx[s:s + chunk]
        products = q[:, None, :] * units[np.maximum(found, 0)]
        order = np.argpartition(-products, top - 1, axis=2)[:, :, :top]
        order = np.take_along_axis(order, np.argsort(-np.take_along_axis(products, order, 2), axis=2), axis=2)
        best = np.take_along_axis(products, order, axis=2)
        share = np.rint(100 * best / np.clip(products, 0, None).sum(axis=2, keepdims=True).clip(1e-12)).astype(int)
        low = np.take_along_axis(np.broadcast_to(q[:, None, :], products.shape), order, axis=2) < 0
        text = np.where(low, "low ", "") + np.asarray(names, dtype=object)[order] + " " + share.astype(str) + "%"
        text[(best <= 0) | ((share < 5) & (np.arange(top) > 0))] = ""  # past the first, skip the negligible
        joined = [", ".join(p for p in row if p) for row in text.reshape(-1, order.shape[2])]
        out[s:s + chunk] = np.array(joined, dtype=object).reshape(found.shape)
    return out


def half_split_recall_at_k(vectors_a: np.ndarray, vectors_b: np.ndarray, k: int = 10,
                           representation: str = DEFAULT_REPRESENTATION, columns: Sequence[str] | None = None) -> float:
    """How often one half of a song's lyrics finds its own other half in its top k (a->b and b->a averaged).

    A labels-free test of a representation; chance is k / n.
    >>> a, b = np.eye(3), np.eye(3)[[0, 2, 1]]  # songs 1 and 2 swapped their second halves
    >>> half_split_recall_at_k(a, b, k=1, representation="raw")
    0.3333333333333333
    """
    a, b = np.asarray(vectors_a, float), np.asarray(vectors_b, float)
    columns = list(columns) if columns is not None else [f"c{j}" for j in range(a.shape[1])]
    transform, _ = fit_representation(np.vstack([a, b]), columns, representation)
    ra, rb = transform(a), transform(b)
    own = np.arange(len(a))[:, None]
    hits = sum(int((topk_cosine(q, x, k)[0] == own).any(axis=1).sum()) for q, x in ((ra, rb), (rb, ra)))
    return hits / (2 * len(a))


def evaluate_halves(path: Path, out: Path, k: int = 10) -> dict:
    """recall@k of every representation on a CSV of half-song vectors (song_id, half a/b, emotions)."""
    df = read_csv_checked(path, "write it with `python lyrics_emotion.py score --halves`")
    require_columns(df, ["song_id", "half"], path)
    columns = emotion_columns(df.drop(columns=["song_id"]))
    halves = {h: df[df.half.astype(str).str.lower() == h].drop_duplicates("song_id").set_index("song_id")
              for h in ("a", "b")}
    ids = halves["a"].index.intersection(halves["b"].index)
    if len(ids) <= k:
        raise InputError(f"{path}: only {len(ids)} songs have both halves a and b; need more than k={k}")
    a, b = (halves[h].loc[ids, columns].to_numpy(float) for h in ("a", "b"))
    for x in (a, b):
        check_rows(x, [f"song_id {i}" for i in ids], path)
    usable = [r for r in REPRESENTATIONS if r != "major6" or all(major_of(c) for c in columns)]
    recall = {r: half_split_recall_at_k(a, b, k, r, columns) for r in usable}
    result = {"k": k, "n_songs": len(ids), "chance": k / len(ids), f"recall_at_{k}": recall,
              "best": max(recall, key=recall.get), "source": str(path)}
    print(f"half-split recall@{k} over {len(ids)} songs (chance {k / len(ids):.4f}):")
    for r, v in sorted(recall.items(), key=lambda kv: -kv[1]):
        print(f"  {r:9s} {v:.4f}  {REPRESENTATIONS[r]}")
    write_json_atomic(out / "results" / "representation_eval.json", result)
    return result


# ----------------------------------------------------------------------------- the stage

def recommend(cfg: RecommendConfig) -> dict:
    """Load song vectors, answer the query, write results/; returns rows, outputs and the effective config."""
    if cfg.top < 1:
        raise InputError("--top must be at least 1")
    out = Path(cfg.out)
    vectors = Path(cfg.vectors) if cfg.vectors else out / "results" / "song_emotions.csv"
    meta, probs, columns = load_song_vectors(vectors)
    names = song_labels(meta)
    check_rows(probs, names, vectors)
    transform, features = fit_representation(probs, columns, cfg.representation)
    items = transform(probs)
    check_rows(items, names, vectors, f"no direction under --representation {cfg.representation} "
               "(the vector equals the catalogue mean)")
    units = normalize_rows(items).astype(np.float32)  # ranking needs no more; halves the time of --all
    labels, query_probs, rows = build_queries(cfg, meta, probs, columns)
    query_items = transform(query_probs)
    check_rows(query_items, labels, "the query", f"no direction under {cfg.representation}")
    q_units = normalize_rows(query_items).astype(np.float32)
    log.info("%d songs x %d emotions from %s; %d queries; representation %s", len(meta), len(columns), vectors,
             len(rows), cfg.representation)

    mask = None
    if cfg.year_from is not None or cfg.year_to is not None:
        year = meta.year.to_numpy(float)
        mask = (year >= (cfg.year_from or -np.inf)) & (year <= (cfg.year_to or np.inf))  # NaN year: excluded
    exclude = [] if cfg.include_self else [(rows, np.arange(len(meta)))]
    if cfg.exclude_same_artist:
        codes = pd.factorize(meta.artist)[0]
        unknown = (meta.artist == "").to_numpy()
        codes[unknown] = -2 - np.flatnonzero(unknown)  # an unknown artist is nobody else's artist
        exclude.append((np.where(rows >= 0, codes[rows], -1), codes))
    if cfg.index == "faiss":
        idx, sims = topk_cosine_faiss(q_units, units, cfg.top, item_mask=mask, exclude_same=exclude)
    else:
        idx, sims = topk_cosine(q_units, units, cfg.top, memory_mb=cfg.memory_mb, item_mask=mask,
                                exclude_same=exclude)
    why = shared_emotions(q_units, units, idx, features)

    qi, rank = np.nonzero(idx >= 0)  # one row per recommendation, built column-wise (fast for --all)
    found = meta.iloc[idx[qi, rank]].reset_index(drop=True)
    table = pd.DataFrame({"query": np.asarray(labels, dtype=object)[qi],
                          "query_song_id": np.where(rows >= 0, meta.song_id.to_numpy()[rows], "")[qi],
                          "rank": rank + 1, "song_id": found.song_id, "song": found.song, "artist": found.artist,
                          "year": found.year.astype("Int64"), "similarity": sims[qi, rank].round(4),
                          "shared_emotions": why[qi, rank]})
    result = {"representation": cfg.representation, "n_songs": len(meta), "vectors": str(vectors),
              "queries": labels, "table": table, "config": asdict(cfg)}
    result["outputs"] = write_outputs(cfg, result, heatmap_matrix(meta, units, cfg.seed), out / "results")
    return result


def heatmap_matrix(meta: pd.DataFrame, units: np.ndarray, seed: int, n: int = 10) -> pd.DataFrame:
    """Cosine between n random songs (seeded), rows and columns labelled 'title - artist'."""
    rows = np.sort(np.random.default_rng(seed).choice(len(units), size=min(n, len(units)), replace=False))
    names = [f"{meta.song[i]} - {meta.artist[i]}" for i in rows]
    df = pd.DataFrame((units[rows] @ units[rows].T).round(4), columns=names)
    df.insert(0, "song", names)
    df.insert(0, "song_id", meta.song_id[rows].to_numpy())
    return df


def write_outputs(cfg: RecommendConfig, result: dict, heatmap: pd.DataFrame, results: Path) -> dict[str, str]:
    paths = {"heatmap": str(write_csv_atomic(results / "heatmap_songs.csv", heatmap))}
    fmt = cfg.format or ("csv" if cfg.all_songs else None)  # --all is too long for the terminal alone
    if fmt:
        path = results / f"recommendations.{fmt}"
        if fmt == "csv":
            write_csv_atomic(path, result["table"])
        elif fmt == "json":
            meta = {k: v for k, v in result.items() if k not in ("queries", "table")}
            write_json_atomic(path, {**meta, "rows": json.loads(result["table"].to_json(orient="records"))})
        else:
            write_text_atomic(path, "\n".join(markdown_tables(result)) + "\n")
        paths["recommendations"] = str(path)
        paths["config"] = str(write_json_atomic(results / "recommend_config.json", result["config"]))
    return paths


def grouped(result: dict, max_queries: int | None = None) -> list[tuple[str, list[dict]]]:
    """[(query, its recommendation rows)] in query order; a query whose filters left nothing gets []."""
    queries, table = result["queries"][:max_queries], result["table"]
    table = table if max_queries is None else table[table["query"].isin(queries)]
    by_query = {q: rows.to_dict("records") for q, rows in table.groupby("query", sort=False)}
    return [(q, by_query.get(q, [])) for q in queries]


def markdown_tables(result: dict) -> list[str]:
    lines = []
    for query, rows in grouped(result):
        lines += [f"### {query}", "", "| Rank | Song | Artist | Similarity | Shared emotions |", "|---" * 5 + "|"]
        lines += ["| " + " | ".join(str(r[c]).replace("|", "\\|") for c in ("rank", "song", "artist", "similarity",
                                                                          "shared_emotions")) + " |" for r in rows]
        lines.append("")
    return lines


def display_width(s: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in s)  # Hangul takes two columns


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    cells = [headers, *[[str(c) for c in r] for r in rows]]
    widths = [max(display_width(r[j]) for r in cells) for j in range(len(headers))]
    lines = ["  ".join(c + " " * (w - display_width(c)) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in cells]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def print_recommendations(result: dict, max_queries: int = 3) -> None:
    for query, rows in grouped(result, max_queries):
        print(f"\nSongs like {query}  [{result['representation']}]")
        print(format_table(["Rank", "Song", "Artist", "Similarity", "Shared emotions"],
                           [[r["rank"], r["song"][:30], r["artist"][:20], f"{r['similarity']:.3f}",
                             r["shared_emotions"]] for r in rows]) if rows else "(no song passes the filters)")
    if len(result["queries"]) > max_queries:
        print(f"\n... and {len(result['queries']) - max_queries} more queries in "
              f"{result['outputs'].get('recommendations')}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    query = p.add_mutually_exclusive_group(required=True)
    query.add_argument("--song", help="title of the query song (case, spaces and punctuation ignored)")
    query.add_argument("--song-id", help="song_id of the query song")
    query.add_argument("--text", help="free text, scored by the saved emotion model (lyrics_emotion.py)")
    query.add_argument("--emotion", dest="emotions", action="append", default=[], metavar="NAME",
                       help="target emotion (a major class such as 슬픔, or a sub-emotion); repeatable")
    query.add_argument("--all", dest="all_songs", action="store_true", help="top-k for every song (writes CSV)")
    query.add_argument("--evaluate-halves", metavar="HALVES_CSV",
                       help="CSV of song_id, half (a/b) + emotion columns (results/song_halves.csv from "
                       "`lyrics_emotion.py score --halves`): print recall@TOP per representation")
    p.add_argument("--artist", help="with --song: the artist (substring), when several songs share the title")
    p.add_argument("--out", default=".", help="output root; results/ lives under it (default: .)")
    p.add_argument("--vectors", help="song-vector CSV (default: OUT/results/song_emotions.csv)")
    p.add_argument("--top", type=int, default=10, help="recommendations per query (default: 10)")
    p.add_argument("--representation", default=DEFAULT_REPRESENTATION, choices=list(REPRESENTATIONS),
                   help="space where cosine is taken: " + "; ".join(f"{k}: {v}" for k, v in REPRESENTATIONS.items())
                   + f". Default {DEFAULT_REPRESENTATION}: best half-split recall@10 on 1,914 real songs "
                     "(--evaluate-halves measures it on yours)")
    p.add_argument("--exclude-same-artist", action="store_true", help="never recommend the query's own artist")
    p.add_argument("--include-self", action="store_true", help="let a query song appear in its own list")
    p.add_argument("--year-from", type=int, help="only songs released in or after this year")
    p.add_argument("--year-to", type=int, help="only songs released in or before this year")
    p.add_argument("--format", choices=["csv", "json", "md"], help="also write results/recommendations.<ext>")
    p.add_argument("--seed", type=int, default=42, help="picks the 10 songs of results/heatmap_songs.csv")
    p.add_argument("--index", choices=["blocked", "faiss"], default="blocked",
                   help="blocked exact numpy top-k (default) or FAISS IndexFlatIP (pip install faiss-cpu)")
    p.add_argument("--memory-mb", type=int, default=256, help="memory budget of one block of similarities")
    p.add_argument("--model-dir", help="emotion model for --text (default: OUT/saved_model/emotion)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.evaluate_halves:
        return evaluate_halves(Path(args.evaluate_halves), Path(args.out), k=args.top)
    if args.artist and not args.song:
        raise InputError("--artist goes with --song")
    cfg = RecommendConfig(**{k: v for k, v in vars(args).items() if k in RecommendConfig.__dataclass_fields__})
    result = recommend(cfg)
    print_recommendations(result)
    return result


if __name__ == "__main__":
    run_cli(main)
