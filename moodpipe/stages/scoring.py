"""The scoring stage: one emotion vector per song (and per half song), from the saved emotion predictor
(moodpipe.models.emotion_predictor), shared between processes under torchrun. No training code is imported here.

    results/song_emotions.csv   one row per song: metadata, n_chunks, n_tokens, `emo:<major>/<sub>` and
                                `major:<major>` probability columns (the model's own labels: AI-Hub's, or
                                KOTE's `<group>/<label>`, moodpipe.data.kote)
    results/song_halves.csv     the same for the first and second half of each song (--halves)
    results/song_emotions.embeddings.npz   `features` (the vector the classifier sees) and `generic` (the base
                                encoder's mean-pooled embedding) of every song and half, in the CSVs' row order
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from moodpipe import paths
from moodpipe.context import RunContext
from moodpipe.files import (
    InputError,
    read_csv_checked,
    require_columns,
    require_ids,
    write_csv_atomic,
    write_json_atomic,
)
from moodpipe.models.emotion_predictor import EMBEDDINGS
from moodpipe.models.song_vectors import song_emotion_vectors
from moodpipe.runtime import gather_from_processes, is_main_process, process_rank, world_size

log = logging.getLogger("pipeline")


@dataclass(frozen=True)
class ScoreConfig:
    lyrics: str | None = None  # default: the first lyrics CSV in the data directory
    model_dir: str | None = None  # None: <out>/saved_model/emotion
    halves: bool = False
    max_songs: int | None = None
    batch_size: int | None = None  # None: sized for the device
    max_length: int | None = None  # None: the model's training max length
    embeddings: bool = True  # also save embeddings (results/song_emotions.embeddings.npz)
    # The untuned encoder's pass (`generic` vectors): a baseline, never a candidate for the default (it misses the
    # AI-Hub floor), so main.py skips it: a third less scoring time.
    generic: bool = True


QUICK = ScoreConfig(max_songs=60)  # main.py --quick: the first 60 songs


def read_lyrics(cfg: ScoreConfig, data_dir: Path) -> tuple[pd.DataFrame, Path]:
    path = Path(cfg.lyrics) if cfg.lyrics else paths.find_lyrics(data_dir)
    songs = read_csv_checked(path, "check the path given to --lyrics" if cfg.lyrics else paths.HOW_TO_GET_LYRICS)
    require_columns(songs, ["song_id", "lyrics"], path)
    require_ids(songs, "song_id", path)  # a song scored twice would be recommended as its own neighbour
    songs = songs.head(cfg.max_songs) if cfg.max_songs else songs
    if (songs.lyrics.fillna("").astype(str).str.strip() == "").all():
        raise InputError(f"{path}: none of its {len(songs)} songs{' read' if cfg.max_songs else ''} has lyrics, "
                         "so there is nothing to score")
    return songs, path


def this_process_share(songs: pd.DataFrame) -> pd.DataFrame:
    """Under torchrun each process scores one contiguous share of the catalogue (all of it when alone)."""
    if world_size() == 1:
        return songs
    return songs.iloc[np.array_split(np.arange(len(songs)), world_size())[process_rank()]]


def merge_shares(rows: pd.DataFrame, halves: pd.DataFrame, skipped: list, vectors: dict) -> tuple:
    """The processes' shares, concatenated in rank order = catalogue order."""
    shares = gather_from_processes((rows, halves, skipped, vectors))
    return (pd.concat([s[0] for s in shares], ignore_index=True),
            pd.concat([s[1] for s in shares], ignore_index=True), [i for s in shares for i in s[2]],
            {k: np.concatenate([s[3][k] for s in shares]) for k in shares[0][3]})


def write_embeddings(path: Path, song_ids: pd.Series, halves: pd.DataFrame, vectors: dict) -> None:
    """The songs' embeddings beside their CSV (rows in the CSV's order, halves in song_halves.csv's), as one
    .npz: 8,250 x 384 float32 loads in milliseconds. Without embeddings, a stale file is removed."""
    if not vectors:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_name(f".{path.name}.tmp.npz")
    text = lambda column: np.asarray(column.astype(str).tolist(), dtype=str)  # noqa: E731 (no pickled objects)
    np.savez(tmp, song_id=text(song_ids), halves_song_id=text(halves.song_id), halves_half=text(halves.half),
             **vectors)
    tmp.replace(path)


def wanted_embeddings(cfg: ScoreConfig) -> tuple[str, ...]:
    return tuple(e for e in EMBEDDINGS if cfg.generic or e != "generic") if cfg.embeddings else ()


def score_songs(ctx: RunContext, cfg: ScoreConfig) -> Path:
    """The scoring stage main.py calls: writes results/song_emotions.csv (and song_halves.csv)."""
    runtime, layout = ctx.runtime, ctx.layout
    model_dir = str(cfg.model_dir or layout.emotion_model)
    songs, path = read_lyrics(cfg, ctx.data_dir)
    start = time.time()
    rows, halves, skipped, vectors = song_emotion_vectors(this_process_share(songs), model_dir, runtime,
                                                          cfg.max_length, cfg.batch_size, wanted_embeddings(cfg))
    rows, halves, skipped, vectors = merge_shares(rows, halves, skipped, vectors)
    if not is_main_process():
        return layout.song_vectors
    if skipped:
        log.warning("song emotions: %d songs have empty lyrics and were skipped (e.g. song_id %s)", len(skipped),
                    ", ".join(map(str, skipped[:5])))
    out = write_csv_atomic(layout.song_vectors, rows)
    write_embeddings(paths.embeddings_path(out), rows.song_id, halves, vectors)
    if cfg.halves:
        write_csv_atomic(layout.song_halves, halves)
    write_json_atomic(layout.scoring_summary, {
        "lyrics": str(path), "model": model_dir, "songs_read": len(songs), "songs_scored": len(rows),
        "skipped_empty_lyrics": len(skipped), "skipped_song_ids": skipped, "chunks": int(rows.n_chunks.sum()),
        "halves_written": bool(cfg.halves), "embeddings": sorted(k for k in vectors if "_" not in k),
        "processes": world_size(), "device": runtime.device,
        "seconds": round(time.time() - start, 1)})
    print(f"song emotions: {len(rows)} songs scored ({len(skipped)} with empty lyrics skipped) -> {out}")
    return out
