"""Lyrics -> song vectors with the saved emotion predictor: each song's lines are packed into chunks that
fit the model, never across the middle of the song, every chunk is scored once, and the chunks' outputs
(probabilities and embeddings) are averaged per song and per half song, weighted by their tokens. The scoring
stage writes what this returns; the song-mood evaluation scores labelled songs the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from moodpipe.contract import emotion_column, major_column
from moodpipe.models.emotion_predictor import (
    base_encoder,
    chunk_texts,
    load_emotion_predictor,
    weighted_part_vectors,
)
from moodpipe.models.inference import mean_pooled_embeddings
from moodpipe.models.metrics import major_classes, major_probabilities
from moodpipe.runtime import Runtime

ENCODER_MAX_LENGTH = 128  # tokens per chunk when an untuned encoder reads lyrics on its own (encoder_song_vectors)
METADATA_COLUMNS = ["song_id", "song_name", "artist", "album", "release_date", "genre", "year", "rank"]


def lyric_halves(text: str) -> tuple[list[str], list[str], str]:
    """Split lyrics into their first and second half by lines (by words when there is a single line).

    >>> lyric_halves("a\\nb\\nc")
    (['a', 'b'], ['c'], '\\n')
    """
    units, sep = [x.strip() for x in str(text).splitlines() if x.strip()], "\n"
    if len(units) < 2:
        units, sep = str(text).split(), " "
    mid = (len(units) + 1) // 2
    return units[:mid], units[mid:], sep


def vector_columns(label_names: list[str]) -> tuple[list[str], list[str], np.ndarray]:
    """`emo:<major>/<sub>` columns, `major:<major>` columns and each label's major index (labels without
    a major, e.g. GoEmotions, give no major columns)."""
    emo = [emotion_column(n) for n in label_names]
    if not all("/" in n for n in label_names):
        return emo, [], np.zeros(0, dtype=int)
    majors, major_of = major_classes(label_names)
    return emo, [major_column(m) for m in majors], major_of


def vectors_frame(vectors: np.ndarray, label_names: list[str]) -> pd.DataFrame:
    emo, major, major_of = vector_columns(label_names)
    frame = pd.DataFrame(vectors.round(6), columns=emo)
    if major:
        frame[major] = major_probabilities(vectors, major_of).round(6)
    return frame


def song_emotion_vectors(songs: pd.DataFrame, model_dir: str, runtime: Runtime, max_length: int | None = None,
                         batch_size: int | None = None,
                         embeddings: bool = False) -> tuple[pd.DataFrame, pd.DataFrame, list, dict]:
    """(one row per song, two rows per song for its halves, skipped song ids, embeddings). Chunks never
    cross the middle of a song, so the halves cost nothing extra and song vectors do not depend on --halves.
    embeddings: {`features`, `generic`} for the songs and `halves_features`, `halves_generic` for the
    halves rows, each averaged over chunks exactly like the probabilities (empty without embeddings)."""
    predictor = load_emotion_predictor(model_dir, runtime.torch_device)
    max_length = max_length or predictor.model.config.train_max_length
    lyrics = songs.lyrics.fillna("").astype(str)
    empty = lyrics.str.strip() == ""
    kept = songs[~empty].reset_index(drop=True)
    halves = [lyric_halves(t) for t in lyrics[~empty]]
    parts = [(units, sep) for a, b, sep in halves for units in (a, b)]  # part 2k = song k's first half
    chunks, owner, tokens = chunk_texts(predictor.tokenizer, parts, max_length)
    outputs = predictor.chunk_outputs(chunks, max_length, batch_size, runtime.precision, embeddings)
    probs = outputs.pop("probs")
    owner_song = [k // 2 for k in owner]
    labels = predictor.label_names
    meta = kept[[c for c in METADATA_COLUMNS if c in kept.columns]].reset_index(drop=True)
    song_rows = pd.concat([meta, pd.DataFrame({
        "n_chunks": np.bincount(owner_song, minlength=len(kept)),
        "n_tokens": np.bincount(owner_song, weights=tokens, minlength=len(kept)).astype(int)}),
        vectors_frame(weighted_part_vectors(probs, owner_song, tokens, len(kept)), labels)], axis=1)
    half_vectors = weighted_part_vectors(probs, owner, tokens, len(parts))
    has_both = np.array([bool(a) and bool(b) for a, b, _ in halves], dtype=bool).repeat(2)
    half_rows = pd.concat([pd.DataFrame({"song_id": kept.song_id.repeat(2).to_numpy(),
                                         "half": ["a", "b"] * len(kept)}),
                           vectors_frame(half_vectors, labels)], axis=1)[has_both].reset_index(drop=True)
    vectors = {}
    for name, x in outputs.items():
        vectors[name] = weighted_part_vectors(x, owner_song, tokens, len(kept)).astype(np.float32)
        vectors[f"halves_{name}"] = weighted_part_vectors(x, owner, tokens, len(parts))[has_both].astype(np.float32)
    return song_rows, half_rows, songs.song_id[empty].tolist(), vectors


def encoder_song_vectors(lyrics: list[str], encoder_path: str, runtime: Runtime,
                         max_length: int = ENCODER_MAX_LENGTH, batch_size: int | None = None) -> np.ndarray:
    """An untuned encoder's song vectors without any emotion model: each song's lines packed into chunks of
    max_length of the encoder's own tokens, every chunk mean-pooled (PAD excluded), the chunks averaged per
    song weighted by their tokens: `generic` embeddings of any encoder, the way scoring makes them."""
    encoder, tokenizer = base_encoder(encoder_path, runtime.torch_device)
    parts = [([x.strip() for x in str(t).splitlines() if x.strip()] or [str(t)], "\n") for t in lyrics]
    chunks, owner, tokens = chunk_texts(tokenizer, parts, max_length)
    embeddings = mean_pooled_embeddings(encoder, tokenizer, chunks, batch_size, max_length, runtime.precision,
                                        progress=len(chunks) > 500)
    return weighted_part_vectors(embeddings, owner, tokens, len(lyrics)).astype(np.float32)
