"""Recommendations: answer a query (a song, a text, an emotion profile, or every song) with the songs
nearest in emotion, and say which emotions each pair shares. recommend.py, main.py and the explorer page call
`recommend`; moodpipe.report.recommendations writes and prints what it returns.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from moodpipe.context import RunContext
from moodpipe.contract import TOP_K, emotion_column, is_emotion_column
from moodpipe.files import InputError, read_json
from moodpipe.models.saved_folder import label_names
from moodpipe.paths import REBUILD_SONG_VECTORS, SCORING_SUMMARY
from moodpipe.recommend.catalogue import (
    SongNotFound,
    check_rows,
    emotion_groups,
    find_song,
    load_catalogue,
    normalize_title,
    song_labels,
)
from moodpipe.recommend.representations import (
    Space,
    fitted_space,
    hybrid_for,
    needs,
    representation_for,
)
from moodpipe.recommend.topk import normalize_rows, topk_cosine, topk_cosine_faiss
from moodpipe.runtime import Runtime

log = logging.getLogger("pipeline")


@dataclass(frozen=True)
class RecommendConfig:
    """A query's settings; the output root, the device (--text) and the heatmap's seed come from the RunContext."""
    vectors: str | None = None  # default <out>/results/song_emotions.csv
    song: str | None = None
    artist: str | None = None
    song_id: str | None = None
    text: str | None = None
    emotions: list[str] = field(default_factory=list)
    all_songs: bool = False
    top: int = TOP_K
    representation: str | None = None  # None: the one saved beside the vectors, else DEFAULT_REPRESENTATION
    exclude_same_artist: bool = False
    include_self: bool = False
    year_from: int | None = None
    year_to: int | None = None
    format: str | None = None
    index: str = "blocked"
    memory_mb: int = 256
    model_dir: str | None = None  # default <out>/saved_model/emotion
    toward: list[str] = field(default_factory=list)  # a mood path from the song or text to these emotions
    steps: int = 5  # songs on a mood path


def score_text(text: str, model_dir: Path, columns: Sequence[str], runtime: Runtime,
               embeddings: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Score a free text with the saved emotion model: `probs` in the catalogue's column order, and the
    embeddings named (`features`, `generic`) too."""
    if not model_dir.is_dir():
        raise InputError(f"--text needs the saved emotion model in {model_dir}: train it with "
                         "`python lyrics_emotion.py train`, or pass --model-dir")
    from moodpipe.models.emotion_predictor import score_texts  # lazy: torch loads only for --text
    scored = score_texts(str(model_dir), [text], runtime, embeddings=embeddings)
    scored = scored if embeddings else {"probs": scored}
    probs = np.asarray(scored["probs"], dtype=float)
    if probs.shape != (1, len(columns)):
        raise InputError(f"the model in {model_dir} gives {probs.shape[-1]} scores but the song vectors have "
                         f"{len(columns)} emotion columns: re-run lyrics_emotion.py so both come from one model")
    labels = [lab if is_emotion_column(lab) else emotion_column(lab) for lab in label_names(model_dir)]
    if sorted(labels) == sorted(columns):  # reorder by the model's own label names when they name our columns
        probs = probs[:, [labels.index(c) for c in columns]]
    return {**scored, "probs": probs}


def build_queries(ctx: RunContext, cfg: RecommendConfig, meta: pd.DataFrame, catalogue: dict, columns: list[str],
                  vectors: Path) -> tuple[list[str], dict, np.ndarray, str]:
    """(labels, query rows of every catalogue array, catalogue rows or -1, a note) of what to recommend for."""
    note = ""
    if cfg.all_songs:
        rows = np.arange(len(meta))
    elif cfg.song_id is not None:
        rows = np.flatnonzero(meta.song_id == str(cfg.song_id))[:1]
        if not len(rows):
            raise InputError(f"no song with song_id {cfg.song_id!r}")
    elif cfg.song is not None:
        row, note = find_scored_song(meta, cfg.song, cfg.artist, vectors)
        rows = np.array([row])
    elif cfg.text is not None:
        model_dir = Path(cfg.model_dir) if cfg.model_dir else ctx.layout.korean_model
        embeddings = tuple(k for k in needs(cfg.representation, hybrid_for(vectors)) if k != "probs")  # only these run
        query = score_text(cfg.text, model_dir, columns, ctx.runtime, embeddings)
        return [f"text: {cfg.text}"], query, np.array([-1]), note
    else:
        raise InputError("nothing to recommend for: give --song, --song-id, --text, --emotion or --all")
    return list(song_labels(meta)[rows]), {k: v[rows] for k, v in catalogue.items()}, rows, note


def find_scored_song(meta: pd.DataFrame, title: str, artist: str | None, vectors: Path) -> tuple[int, str]:
    """find_song, and when the title is missing, whether it is a song of the lyrics file that was not scored."""
    try:
        return find_song(meta, title, artist)
    except SongNotFound as missing:
        unscored = unscored_song(title, Path(vectors).parent / SCORING_SUMMARY)
        raise InputError(unscored or str(missing)) from None


def unscored_song(title: str, summary_path: Path) -> str | None:
    """A message for a title that is in the scored lyrics file but not among the song vectors, else None."""
    if not summary_path.is_file():
        return None
    summary = read_json(summary_path, REBUILD_SONG_VECTORS)
    lyrics = Path(summary.get("lyrics", ""))
    if not lyrics.is_file():
        return None
    songs = pd.read_csv(lyrics, usecols=lambda c: c in ("song_id", "song_name"), dtype=str, encoding="utf-8-sig")
    hits = songs[songs.song_name.map(normalize_title) == normalize_title(title)]
    if hits.empty:
        return None
    empty = set(map(str, summary.get("skipped_song_ids", [])))
    why = ("its lyrics are empty, so it has no emotion vector" if set(hits.song_id) <= empty else
           f"it was not scored: the score stage read {summary.get('songs_read')} of the file's {len(songs)} songs")
    return (f"{title!r} is in {lyrics} (song_id {', '.join(hits.song_id)}), but {why}; to score every song run "
            f"`python lyrics_emotion.py score --lyrics {lyrics} --halves`, then query again")


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


def recommend(ctx: RunContext, cfg: RecommendConfig) -> dict:
    """Load song vectors and answer the query; returns the rows, the heatmap of 10 seeded songs and the effective
    config (moodpipe.report.recommendations writes and prints them)."""
    if cfg.top < 1:
        raise InputError("--top must be at least 1")
    vectors = Path(cfg.vectors) if cfg.vectors else ctx.layout.song_vectors
    meta, probs, columns, catalogue = load_catalogue(vectors)  # read once per process while unchanged
    names = song_labels(meta)
    check_rows(probs, names, vectors)
    cfg = replace(cfg, representation=representation_for(cfg.representation, vectors, catalogue))
    if cfg.toward and cfg.emotions:
        raise InputError("--toward starts from a song or a text (--song, --song-id, --text), not from --emotion")
    if cfg.emotions:  # ranked by emotion strength: no similarity space involved
        (labels, table, note), profile = emotion_query(cfg, meta, probs, columns), None
        units = normalize_rows(fitted_space(catalogue, columns, "log").rank(catalogue)).astype(np.float32)
    else:
        space = fitted_space(catalogue, columns, cfg.representation, vectors, hybrid_for(vectors))
        items = space.rank(catalogue)
        check_rows(items, names, vectors, f"no direction under --representation {cfg.representation} "
                   "(the vector equals the catalogue mean)")
        units = normalize_rows(items).astype(np.float32)  # ranking needs no more; halves the time of --all
        query = mood_path if cfg.toward else similarity_query
        labels, table, note, profile = query(ctx, cfg, meta, catalogue, columns, vectors, space, units)
    if table.empty:  # an answer with no song is no answer: say why instead of printing an empty table
        filters = [f"--{k.replace('_', '-')} {v}" for k, v in (("year_from", cfg.year_from), ("year_to", cfg.year_to))
                   if v is not None] + (["--exclude-same-artist"] if cfg.exclude_same_artist else [])
        raise InputError(f"no song of {vectors} passes {' '.join(filters) or 'the query'}: nothing to recommend")
    config = {**asdict(cfg), "out": str(ctx.out), "seed": ctx.seed}
    result = {"representation": cfg.representation, "n_songs": len(meta), "vectors": str(vectors),
              "queries": labels, "table": table, "note": note, "config": config,
              "score": "strength" if cfg.emotions else "path" if cfg.toward else "similarity",
              "query_probs": profile}  # a text's own emotion probabilities (in `columns` order), else None
    result["heatmap"] = heatmap_matrix(meta, units, ctx.seed)
    return result


def similarity_query(ctx: RunContext, cfg: RecommendConfig, meta: pd.DataFrame, catalogue: dict, columns: list[str],
                     vectors: Path, space: Space, units: np.ndarray):
    """The top songs by cosine to each query in the representation, and the emotions each pair shares."""
    labels, query, rows, note = build_queries(ctx, cfg, meta, catalogue, columns, vectors)
    query_items = space.rank(query)
    check_rows(query_items, labels, "the query", f"no direction under {cfg.representation}")
    q_units = normalize_rows(query_items).astype(np.float32)
    log.info("%d songs x %d emotions from %s; %d queries; representation %s", len(meta), len(columns), vectors,
             len(rows), cfg.representation)
    exclude = [] if cfg.include_self else [(rows, np.arange(len(meta)))]
    if cfg.exclude_same_artist:
        codes = artist_codes(meta)
        exclude.append((np.where(rows >= 0, codes[rows], -1), codes))
    search = topk_cosine_faiss if cfg.index == "faiss" else partial(topk_cosine, memory_mb=cfg.memory_mb)
    idx, sims = search(q_units, units, cfg.top, item_mask=year_mask(cfg, meta), exclude_same=exclude)
    why = explain_matches(space, catalogue, query, idx)
    qi, rank = np.nonzero(idx >= 0)  # one row per recommendation, built column-wise (fast for --all)
    found = meta.iloc[idx[qi, rank]].reset_index(drop=True)
    table = pd.DataFrame({"query": np.asarray(labels, dtype=object)[qi],
                          "query_song_id": np.where(rows >= 0, meta.song_id.to_numpy()[rows], "")[qi],
                          "rank": rank + 1, "song_id": found.song_id, "song": found.song, "artist": found.artist,
                          "year": found.year.astype("Int64"), "similarity": sims[qi, rank].astype(float).round(4),
                          "shared_emotions": why[qi, rank]})
    return labels, table, note, text_profile(query, rows)


def text_profile(query: dict, rows: np.ndarray) -> list[float] | None:
    """A text query's emotion probabilities (what the app shows against the catalogue average); None for songs."""
    return np.asarray(query["probs"][0], float).round(6).tolist() if len(rows) == 1 and rows[0] < 0 else None


def explain_matches(space: Space, catalogue: dict, query: dict, idx: np.ndarray) -> np.ndarray:
    """Shared emotions of each pair, read in the representation's explanation space (its emotions)."""
    return shared_emotions(normalize_rows(space.explain(query)), normalize_rows(space.explain(catalogue)), idx,
                           space.emotions)


def year_mask(cfg: RecommendConfig, meta: pd.DataFrame) -> np.ndarray | None:
    if cfg.year_from is None and cfg.year_to is None:
        return None
    year = meta.year.to_numpy(float)
    return (year >= (cfg.year_from or -np.inf)) & (year <= (cfg.year_to or np.inf))  # NaN year: excluded


def artist_codes(meta: pd.DataFrame) -> np.ndarray:
    codes = pd.factorize(meta.artist)[0]
    unknown = (meta.artist == "").to_numpy()
    codes[unknown] = -2 - np.flatnonzero(unknown)  # an unknown artist is nobody else's artist
    return codes


def emotion_strength(names: list[str], probs: np.ndarray, columns: list[str]) -> tuple[np.ndarray, dict]:
    """(per song: each asked emotion's probability mass over its catalogue average, summed; a function giving
    the 'name 34.2% (average 20.1%)' text of a song: one decimal, so that songs near a flat profile still read
    apart), for --emotion rankings and mood-path targets."""
    groups = emotion_groups(names, columns)
    mass = np.stack([probs[:, cols].sum(axis=1) for cols in groups.values()], axis=1)  # (songs, emotions)
    average = mass.mean(axis=0)
    strength = (mass / np.maximum(average, 1e-12)).sum(axis=1)
    return strength, lambda i: ", ".join(f"{name} {100 * mass[i, j]:.1f}% (average {100 * average[j]:.1f}%)"
                                         for j, name in enumerate(groups))


def emotion_query(cfg: RecommendConfig, meta: pd.DataFrame, probs: np.ndarray, columns: list[str]):
    """Songs ranked by how strongly they carry the asked emotions: each emotion's probability mass in the
    song over its catalogue average, summed over the emotions asked for (ties: catalogue order)."""
    strength, asked = emotion_strength(cfg.emotions, probs, columns)
    mask = year_mask(cfg, meta)
    allowed = np.ones(len(meta), bool) if mask is None else mask
    order = [i for i in np.argsort(-strength, kind="stable") if allowed[i]][:cfg.top]
    label = f"emotions: {', '.join(cfg.emotions)}"
    found = meta.iloc[order].reset_index(drop=True)
    table = pd.DataFrame({"query": label, "query_song_id": "", "rank": np.arange(1, len(order) + 1),
                          "song_id": found.song_id, "song": found.song, "artist": found.artist,
                          "year": found.year.astype("Int64"), "strength": strength[order].round(4),
                          "shared_emotions": [asked(i) for i in order]})
    return [label], table, ""


# A mood path aims at the centroid of the songs that carry the target emotions most: an emotion has no vector
# of its own in an embedding space (features), but its strongest songs do, in every representation.
TARGET_SONGS = 20


def mood_path(ctx: RunContext, cfg: RecommendConfig, meta: pd.DataFrame, catalogue: dict, columns: list[str],
              vectors: Path, space: Space, units: np.ndarray):
    """`steps` songs from where the song or text sits toward the target emotions: step i takes the nearest
    unused song (cosine, the filters applied) to the point i/steps of the way from the start's unit vector to
    the target's, normalised. Similarity: cosine to that point; the last column: the target emotions' share."""
    if cfg.steps < 1:
        raise InputError("--steps must be at least 1")
    labels, query, rows, note = build_queries(ctx, cfg, meta, catalogue, columns, vectors)
    start = normalize_rows(space.rank(query))[0]
    strength, asked = emotion_strength(cfg.toward, catalogue["probs"], columns)
    target = normalize_rows(units[np.argsort(-strength, kind="stable")[:TARGET_SONGS]].mean(axis=0)[None])[0]
    share = (np.arange(1, cfg.steps + 1) / cfg.steps)[:, None]
    points = normalize_rows((1 - share) * start + share * target).astype(np.float32)
    exclude = [(np.repeat(rows, cfg.steps), np.arange(len(meta)))] if rows[0] >= 0 else []
    if cfg.exclude_same_artist and rows[0] >= 0:
        codes = artist_codes(meta)
        exclude.append((np.repeat(codes[rows], cfg.steps), codes))
    idx, sims = topk_cosine(points, units, cfg.steps, item_mask=year_mask(cfg, meta), exclude_same=exclude,
                            memory_mb=cfg.memory_mb)  # `steps` candidates: enough for `steps` unused picks
    chosen, used = [], set()
    for step in range(cfg.steps):
        pick = next((n for n in range(idx.shape[1]) if idx[step, n] >= 0 and idx[step, n] not in used), None)
        if pick is not None:
            used.add(int(idx[step, pick]))
            chosen.append((step + 1, int(idx[step, pick]), float(sims[step, pick])))
    label = f"{labels[0]} -> {', '.join(cfg.toward)}"
    found = meta.iloc[[c[1] for c in chosen]].reset_index(drop=True)
    table = pd.DataFrame({"query": label, "query_song_id": meta.song_id[rows[0]] if rows[0] >= 0 else "",
                          "rank": [c[0] for c in chosen], "song_id": found.song_id, "song": found.song,
                          "artist": found.artist, "year": found.year.astype("Int64"),
                          "similarity": np.round([c[2] for c in chosen], 4), "shared_emotions":
                          [asked(c[1]) for c in chosen]})
    return [label], table, note, text_profile(query, rows)


def heatmap_matrix(meta: pd.DataFrame, units: np.ndarray, seed: int, n: int = 10) -> pd.DataFrame:
    """Cosine between n random songs (seeded), rows and columns labelled 'title - artist'."""
    rows = np.sort(np.random.default_rng(seed).choice(len(units), size=min(n, len(units)), replace=False))
    names = [f"{meta.song[i]} - {meta.artist[i]}" for i in rows]
    df = pd.DataFrame((units[rows] @ units[rows].T).round(4), columns=names)
    df.insert(0, "song", names)
    df.insert(0, "song_id", meta.song_id[rows].to_numpy())
    return df
