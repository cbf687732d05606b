"""Recommendations: answer a query (a song, a text, an emotion profile, or every song) with the songs
nearest in emotion, and say which emotions each pair shares; measure representations by half-split
recall. recommend.py and main.py call `recommend` and `evaluate_halves`.
"""

from __future__ import annotations

import json
import logging
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from moodpipe.files import (
    InputError,
    write_csv_atomic,
    write_json_atomic,
    write_text_atomic,
)
from moodpipe.paths import REPRESENTATION_FILE, SCORING_SUMMARY, Layout
from moodpipe.retrieval import normalize_rows, topk_cosine, topk_cosine_faiss
from moodpipe.songs import (
    DEFAULT_REPRESENTATION,
    FALLBACK_REPRESENTATION,
    PROBABILITY_REPRESENTATIONS,
    REPRESENTATIONS,
    SongNotFound,
    check_rows,
    emotion_groups,
    find_song,
    fit_representation,
    load_song_embeddings,
    load_song_vectors,
    normalize_title,
    song_labels,
)
from moodpipe.spaces import DEFAULT_HYBRID, available, check_available, fit_space, needs

log = logging.getLogger("pipeline")

EXPLANATIONS = {
    "similarity": "Similarity: cosine in the chosen representation. Shared emotions: the emotions adding most "
                  "to it, with their share; both songs sit above the catalogue average in each ('low X': both "
                  "sit below it).",
    "strength": "Strength: each asked emotion's share of the song over its catalogue average, summed (1 per "
                "emotion = average). Asked emotions: the song's share of each, and the catalogue average.",
}


@dataclass(frozen=True)
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
    representation: str | None = None  # None: the one saved beside the vectors, else DEFAULT_REPRESENTATION
    exclude_same_artist: bool = False
    include_self: bool = False
    year_from: int | None = None
    year_to: int | None = None
    format: str | None = None
    seed: int = 42
    index: str = "blocked"
    memory_mb: int = 256
    model_dir: str | None = None  # default <out>/saved_model/emotion
    device: str = "auto"  # --text only


def score_text(text: str, model_dir: Path, columns: Sequence[str], device: str = "auto",
               embeddings: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Score a free text with the saved emotion model: `probs` in the catalogue's column order, and the
    embeddings named (`features`, `generic`) too."""
    if not model_dir.is_dir():
        raise InputError(f"--text needs the saved emotion model in {model_dir}: train it with "
                         "`python lyrics_emotion.py train`, or pass --model-dir")
    from moodpipe.scoring import score_texts  # lazy: torch and transformers load only for --text
    scored = score_texts(str(model_dir), [text], device=device, embeddings=embeddings)
    scored = scored if embeddings else {"probs": scored}
    probs = np.asarray(scored["probs"], dtype=float)
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
    return {**scored, "probs": probs}


def build_queries(cfg: RecommendConfig, meta: pd.DataFrame, catalogue: dict, columns: list[str],
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
        model_dir = Path(cfg.model_dir) if cfg.model_dir else Layout(Path(cfg.out)).emotion_model
        embeddings = tuple(k for k in needs(cfg.representation, DEFAULT_HYBRID) if k != "probs")  # only these run
        query = score_text(cfg.text, model_dir, columns, cfg.device, embeddings)
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
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
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


def saved_representation(vectors: Path) -> str | None:
    """The representation chosen for these vectors (results/representation.json beside them), if any."""
    path = Path(vectors).parent / REPRESENTATION_FILE
    if not path.is_file():
        return None
    name = json.loads(path.read_text(encoding="utf-8")).get("representation")
    return name if name in REPRESENTATIONS else None


def save_representation(vectors: Path, evaluation: dict) -> str:
    """Record the representation every ranking of these vectors uses, beside them, with why: the default (the
    winner of the labelled retrieval evaluation) when the vectors support it, else the best half-split recall."""
    k = evaluation["k"]
    recall = evaluation[f"recall_at_{k}"]
    chosen = DEFAULT_REPRESENTATION if DEFAULT_REPRESENTATION in recall else evaluation["best"]
    why = ("the default: best in labelled retrieval (recommend.py --evaluate)" if chosen == DEFAULT_REPRESENTATION
           else f"best half-split recall@{k} ({DEFAULT_REPRESENTATION} needs vectors these files lack)")
    write_json_atomic(Path(vectors).parent / REPRESENTATION_FILE, {
        "representation": chosen, "chosen_by": why, f"recall_at_{k}": recall, "n_songs": evaluation["n_songs"]})
    return chosen


def default_representation(catalogue: dict) -> str:
    """DEFAULT_REPRESENTATION when the vectors carry what it needs, else the best probability representation
    by half-split recall (vectors scored without embeddings, or a CSV from elsewhere)."""
    if DEFAULT_REPRESENTATION in available(catalogue, DEFAULT_HYBRID):
        return DEFAULT_REPRESENTATION
    log.info("representation: %s needs embeddings these vectors lack; using %s", DEFAULT_REPRESENTATION,
             FALLBACK_REPRESENTATION)
    return FALLBACK_REPRESENTATION


def recommend(cfg: RecommendConfig) -> dict:
    """Load song vectors, answer the query, write results/; returns rows, outputs and the effective config."""
    if cfg.top < 1:
        raise InputError("--top must be at least 1")
    out = Path(cfg.out)
    vectors = Path(cfg.vectors) if cfg.vectors else Layout(out).song_vectors
    meta, probs, columns = load_song_vectors(vectors)
    names = song_labels(meta)
    check_rows(probs, names, vectors)
    catalogue = {"probs": probs, **load_song_embeddings(vectors, meta.song_id)}
    cfg = replace(cfg, representation=cfg.representation or saved_representation(vectors)
                  or default_representation(catalogue))
    if cfg.emotions:  # ranked by emotion strength: no similarity space involved
        labels, table, note = emotion_query(cfg, meta, probs, columns)
        units = normalize_rows(fit_space(catalogue, columns, "log")(catalogue)).astype(np.float32)
    else:
        check_available(cfg.representation, catalogue, vectors, DEFAULT_HYBRID)
        to_space = fit_space(catalogue, columns, cfg.representation, DEFAULT_HYBRID)
        items = to_space(catalogue)
        check_rows(items, names, vectors, f"no direction under --representation {cfg.representation} "
                   "(the vector equals the catalogue mean)")
        units = normalize_rows(items).astype(np.float32)  # ranking needs no more; halves the time of --all
        labels, table, note = similarity_query(cfg, meta, catalogue, columns, vectors, to_space, units)
    result = {"representation": cfg.representation, "n_songs": len(meta), "vectors": str(vectors),
              "queries": labels, "table": table, "note": note, "config": asdict(cfg),
              "score": "strength" if cfg.emotions else "similarity"}
    result["outputs"] = write_outputs(cfg, result, heatmap_matrix(meta, units, cfg.seed), Layout(out))
    return result


def similarity_query(cfg: RecommendConfig, meta: pd.DataFrame, catalogue: dict, columns: list[str],
                     vectors: Path, to_space, units: np.ndarray):
    """The top songs by cosine to each query in the representation, and the emotions each pair shares."""
    labels, query, rows, note = build_queries(cfg, meta, catalogue, columns, vectors)
    query_items = to_space(query)
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
    why = explain_matches(cfg.representation, catalogue, query, columns, idx, q_units, units)
    qi, rank = np.nonzero(idx >= 0)  # one row per recommendation, built column-wise (fast for --all)
    found = meta.iloc[idx[qi, rank]].reset_index(drop=True)
    table = pd.DataFrame({"query": np.asarray(labels, dtype=object)[qi],
                          "query_song_id": np.where(rows >= 0, meta.song_id.to_numpy()[rows], "")[qi],
                          "rank": rank + 1, "song_id": found.song_id, "song": found.song, "artist": found.artist,
                          "year": found.year.astype("Int64"), "similarity": sims[qi, rank].astype(float).round(4),
                          "shared_emotions": why[qi, rank]})
    return labels, table, note


def explain_matches(representation: str, catalogue: dict, query: dict, columns: list[str], idx: np.ndarray,
                    q_units: np.ndarray, units: np.ndarray) -> np.ndarray:
    """Shared emotions of each pair. They always come from the probabilities: in a probability space from
    the space itself, in an embedding space (features, generic, hybrid) from `log`, whose dimensions are
    emotions while an embedding's are not."""
    if representation in PROBABILITY_REPRESENTATIONS:
        return shared_emotions(q_units, units, idx, fit_representation(catalogue["probs"], columns,
                                                                       representation)[1])
    transform, names = fit_representation(catalogue["probs"], columns, "log")
    return shared_emotions(normalize_rows(transform(query["probs"])), normalize_rows(transform(catalogue["probs"])),
                           idx, names)


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


def emotion_query(cfg: RecommendConfig, meta: pd.DataFrame, probs: np.ndarray, columns: list[str]):
    """Songs ranked by how strongly they carry the asked emotions: each emotion's probability mass in the
    song over its catalogue average, summed over the emotions asked for (ties: catalogue order)."""
    groups = emotion_groups(cfg.emotions, columns)
    mass = np.stack([probs[:, cols].sum(axis=1) for cols in groups.values()], axis=1)  # (songs, emotions)
    average = mass.mean(axis=0)
    strength = (mass / np.maximum(average, 1e-12)).sum(axis=1)
    mask = year_mask(cfg, meta)
    allowed = np.ones(len(meta), bool) if mask is None else mask
    order = [i for i in np.argsort(-strength, kind="stable") if allowed[i]][:cfg.top]
    label = f"emotions: {', '.join(cfg.emotions)}"
    why = [", ".join(f"{name} {100 * mass[i, j]:.0f}% (average {100 * average[j]:.0f}%)"
                     for j, name in enumerate(groups)) for i in order]
    found = meta.iloc[order].reset_index(drop=True)
    table = pd.DataFrame({"query": label, "query_song_id": "", "rank": np.arange(1, len(order) + 1),
                          "song_id": found.song_id, "song": found.song, "artist": found.artist,
                          "year": found.year.astype("Int64"), "strength": strength[order].round(4),
                          "shared_emotions": why})
    return [label], table, ""


def heatmap_matrix(meta: pd.DataFrame, units: np.ndarray, seed: int, n: int = 10) -> pd.DataFrame:
    """Cosine between n random songs (seeded), rows and columns labelled 'title - artist'."""
    rows = np.sort(np.random.default_rng(seed).choice(len(units), size=min(n, len(units)), replace=False))
    names = [f"{meta.song[i]} - {meta.artist[i]}" for i in rows]
    df = pd.DataFrame((units[rows] @ units[rows].T).round(4), columns=names)
    df.insert(0, "song", names)
    df.insert(0, "song_id", meta.song_id[rows].to_numpy())
    return df


def write_outputs(cfg: RecommendConfig, result: dict, heatmap: pd.DataFrame, layout: Layout) -> dict[str, str]:
    paths = {}
    if cfg.all_songs:  # catalogue outputs: only a run over every song writes them, never a single query
        paths["heatmap"] = str(write_csv_atomic(layout.heatmap, heatmap))
    fmt = cfg.format or ("csv" if cfg.all_songs else None)  # --all is too long for the terminal alone
    if fmt:
        path = layout.recommendations(fmt) if cfg.all_songs else layout.query_recommendations(fmt)
        if fmt == "csv":
            write_csv_atomic(path, result["table"])
        elif fmt == "json":
            meta = {k: v for k, v in result.items() if k not in ("queries", "table")}
            write_json_atomic(path, {**meta, "rows": json.loads(result["table"].to_json(orient="records"))})
        else:
            write_text_atomic(path, "\n".join(markdown_tables(result)) + "\n")
        paths["recommendations"] = str(path)
        paths["config"] = str(write_json_atomic(layout.recommend_config, result["config"]))
    return paths


def grouped(result: dict, max_queries: int | None = None) -> list[tuple[str, list[dict]]]:
    """[(query, its recommendation rows)] in query order; a query whose filters left nothing gets []."""
    queries, table = result["queries"][:max_queries], result["table"]
    table = table if max_queries is None else table[table["query"].isin(queries)]
    by_query = {q: rows.to_dict("records") for q, rows in table.groupby("query", sort=False)}
    return [(q, by_query.get(q, [])) for q in queries]


def column_titles(result: dict) -> tuple[str, str]:
    return ("Strength", "Asked emotions") if result["score"] == "strength" else ("Similarity", "Shared emotions")


def markdown_tables(result: dict) -> list[str]:
    score, why = column_titles(result)
    lines = [f"_{EXPLANATIONS[result['score']]}_", ""]
    for query, rows in grouped(result):
        lines += [f"### {query}", "", f"| Rank | Song | Artist | {score} | {why} |", "|---" * 5 + "|"]
        lines += ["| " + " | ".join(str(r[c]).replace("|", "\\|") for c in ("rank", "song", "artist", result["score"],
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
    if result.get("note"):
        print(f"note: {result['note']}")
    score, why = column_titles(result)
    print(EXPLANATIONS[result["score"]])
    for query, rows in grouped(result, max_queries):
        space = "" if result["score"] == "strength" else f"  [{result['representation']}]"
        print(f"\nSongs {'carrying' if result['score'] == 'strength' else 'like'} {query}{space}")
        print(format_table(["Rank", "Song", "Artist", score, why],
                           [[r["rank"], r["song"][:30], r["artist"][:20], f"{r[result['score']]:.3f}",
                             r["shared_emotions"]] for r in rows]) if rows else "(no song passes the filters)")
    if len(result["queries"]) > max_queries:
        print(f"\n... and {len(result['queries']) - max_queries} more queries in "
              f"{result['outputs'].get('recommendations')}")
