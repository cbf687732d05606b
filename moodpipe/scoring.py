"""Song emotion vectors: each song's lyrics are cut by line into chunks that fit the model, every chunk is
scored, and the chunks' probabilities are averaged per song, weighted by their tokens. Free texts
(recommend.py --text) go through the same chunking. No training code is imported here.

    results/song_emotions.csv   one row per song: metadata, n_chunks, n_tokens, `emo:<major>/<sub>` and
                                `major:<major>` probability columns
    results/song_halves.csv     the same for the first and second half of each song (--halves)
    results/song_emotions.embeddings.npz   `features` (the vector the classifier sees) and `generic` (the base
                                encoder's mean-pooled embedding) of every song and half, in the CSVs' row order
"""

from __future__ import annotations

import functools
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from moodpipe import paths
from moodpipe.blend import blend, load_blend, tfidf_probabilities
from moodpipe.device import (
    gather_from_processes,
    is_main_process,
    model_device,
    precision_for,
    process_device,
    process_rank,
    resolve_device,
    world_size,
)
from moodpipe.files import InputError, read_csv_checked, require_columns, write_csv_atomic, write_json_atomic
from moodpipe.metrics import major_classes, major_probabilities
from moodpipe.predict import (
    mean_pooled_embeddings,
    predict_logits,
    predict_logits_and_features,
    probabilities,
)
from moodpipe.spaces import EMBEDDINGS

log = logging.getLogger("pipeline")

METADATA_COLUMNS = ["song_id", "song_name", "artist", "album", "release_date", "genre", "year", "rank"]


@dataclass(frozen=True)
class ScoreConfig:
    data_dir: str | None = None
    out: str = "."
    lyrics: str | None = None  # default: the first lyrics CSV in the data directory
    model_dir: str = "saved_model/emotion"
    halves: bool = False
    max_songs: int | None = None
    batch_size: int | None = None  # None: sized for the device
    max_length: int | None = None  # None: the model's training max length
    bf16: str = "auto"
    device: str = "auto"
    embeddings: bool = True  # also `features` and `generic` vectors (results/song_emotions.embeddings.npz)


@dataclass(frozen=True)
class EmotionPredictor:
    """A saved emotion folder as one predictor: the fine-tuned model, and the TF-IDF part it is blended with
    when validation chose a blend (moodpipe.blend). Songs, --text queries and test metrics all use it."""
    model: object
    tokenizer: object
    tfidf: object | None = None
    model_weight: float = 1.0
    base_model: str = ""  # the encoder it was fine-tuned from (base_model.json), for `generic` embeddings

    @property
    def label_names(self) -> list[str]:
        return [self.model.config.id2label[i] for i in range(self.model.config.num_labels)]

    def chunk_outputs(self, chunks: list[str], max_length: int, batch_size: int | None = None,
                      precision: str = "fp32", embeddings=False) -> dict[str, np.ndarray]:
        """Per chunk: `probs` (blended when the folder holds a blend), and the embeddings asked for (True: both):
        `features` (the vector the classifier sees, from the same encoder pass) and `generic` (the untuned base
        encoder's mean-pooled embedding, the baseline anyone could get without fine-tuning; a second pass)."""
        wanted = EMBEDDINGS if embeddings is True else tuple(embeddings or ())
        run = dict(batch_size=batch_size, max_length=max_length, precision=precision, progress=len(chunks) > 500)
        if "features" in wanted:
            logits, features = predict_logits_and_features(self.model, self.tokenizer, chunks, **run)
            out = {"logits": logits, "features": features}
        else:
            out = {"logits": predict_logits(self.model, self.tokenizer, chunks, **run)}
        if "generic" in wanted:
            if self.base_model:
                encoder, tokenizer = base_encoder(self.base_model, str(model_device(self.model)))
                out["generic"] = mean_pooled_embeddings(encoder, tokenizer, chunks, **run)
            else:
                log.warning("scoring: the model folder records no base encoder (base_model.json), so there are "
                            "no `generic` embeddings")
        tfidf = None if self.tfidf is None else tfidf_probabilities(self.tfidf, chunks, len(self.label_names))
        out["probs"] = blend(probabilities(self.model, out.pop("logits")), tfidf, self.model_weight)
        return out


def load_emotion_predictor(model_dir: str, device: str = "cpu") -> EmotionPredictor:
    """The predictor saved in a folder, on `device`, loaded once per process (again when it is retrained)."""
    folder = Path(model_dir)
    if not (folder / "config.json").is_file():
        raise InputError(f"no trained emotion model in {folder}: run `python lyrics_emotion.py train` first "
                         "or pass --model PATH")
    return _load_predictor(str(folder), device, (folder / "config.json").stat().st_mtime_ns)


@functools.lru_cache(maxsize=2)
def _load_predictor(folder: str, device: str, saved_at: int) -> EmotionPredictor:
    from transformers import AutoTokenizer

    from moodpipe.heads import EmotionClassifier
    model = EmotionClassifier.from_pretrained(folder).to(device).eval()
    tfidf, weight = load_blend(Path(folder))
    base = Path(folder) / paths.BASE_MODEL
    base_path = json.loads(base.read_text(encoding="utf-8")).get("path", "") if base.is_file() else ""
    return EmotionPredictor(model, AutoTokenizer.from_pretrained(folder), tfidf, weight, base_path)


@functools.lru_cache(maxsize=1)
def base_encoder(path: str, device: str) -> tuple:
    """The untuned encoder a model was fine-tuned from, and its tokenizer (for `generic` embeddings)."""
    from transformers import AutoModel, AutoTokenizer
    try:
        encoder = AutoModel.from_pretrained(path).to(device).eval()
    except OSError as e:
        raise InputError(f"the base encoder {path} (for `generic` embeddings) cannot be loaded: {e}; "
                         "score with --no-embeddings to skip them") from None
    return encoder, AutoTokenizer.from_pretrained(path)


def pack_lengths(lengths: list[int], budget: int) -> list[list[int]]:
    """Greedy packing of consecutive items (lines) into chunks of at most `budget` tokens; an item longer
    than the budget gets a chunk of its own (and is truncated when encoded).

    >>> pack_lengths([3, 4, 2, 9], budget=8)
    [[0, 1], [2], [3]]
    """
    chunks, current, used = [], [], 0
    for i, n in enumerate(lengths):
        if current and used + n > budget:
            chunks.append(current)
            current, used = [], 0
        current.append(i)
        used += n
    return chunks + ([current] if current else [])


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


def chunk_texts(tokenizer, parts: list[tuple[list[str], str]], max_length: int) -> tuple[list[str], list[int],
                                                                                         list[int]]:
    """Pack each part's lines into chunks that fit max_length: (chunk texts, owning part, tokens per chunk)."""
    budget = max_length - tokenizer.num_special_tokens_to_add()
    flat = [u for units, _ in parts for u in units]
    lengths = [len(ids) for ids in tokenizer(flat, add_special_tokens=False)["input_ids"]] if flat else []
    texts, owner, tokens, pos = [], [], [], 0
    for k, (units, sep) in enumerate(parts):
        part_lengths = lengths[pos:pos + len(units)]
        for chunk in pack_lengths(part_lengths, budget):
            texts.append(sep.join(units[i] for i in chunk))
            owner.append(k)
            tokens.append(max(1, min(budget, sum(part_lengths[i] for i in chunk))))
        pos += len(units)
    return texts, owner, tokens


def weighted_part_vectors(probs: np.ndarray, owner: list[int], tokens: list[int], n_parts: int) -> np.ndarray:
    """Average chunk vectors (probabilities or embeddings) per part, weighted by each chunk's tokens."""
    out = np.zeros((n_parts, probs.shape[1]))
    weight = np.zeros(n_parts)
    np.add.at(out, owner, probs * np.asarray(tokens)[:, None])
    np.add.at(weight, owner, tokens)
    return out / np.maximum(weight, 1)[:, None]


def score_texts(model_dir, texts: list[str], max_length: int | None = None, batch_size: int | None = None,
                device: str = "auto", bf16: str = "auto", embeddings=False):
    """Emotion probabilities (n, num_labels) for free texts, chunked by line exactly like the lyrics; with
    embeddings (True, or the names wanted), a dict of `probs` and those (n, width) arrays.

    The model is loaded once and cached (recommend.py calls this for --text queries)."""
    device = resolve_device(device)
    predictor = load_emotion_predictor(str(model_dir), process_device(device))
    max_length = max_length or predictor.model.config.train_max_length
    parts = [([x.strip() for x in str(t).splitlines() if x.strip()] or [str(t)], "\n") for t in texts]
    chunks, owner, tokens = chunk_texts(predictor.tokenizer, parts, max_length)
    outputs = predictor.chunk_outputs(chunks, max_length, batch_size, precision_for(device, bf16), embeddings)
    vectors = {name: weighted_part_vectors(x, owner, tokens, len(texts)) for name, x in outputs.items()}
    return vectors if embeddings else vectors["probs"]


def vector_columns(label_names: list[str]) -> tuple[list[str], list[str], np.ndarray]:
    """`emo:<major>/<sub>` columns, `major:<major>` columns and each label's major index (labels without
    a major, e.g. GoEmotions, give no major columns)."""
    emo = [f"emo:{n}" for n in label_names]
    if not all("/" in n for n in label_names):
        return emo, [], np.zeros(0, dtype=int)
    majors, major_of = major_classes(label_names)
    return emo, [f"major:{m}" for m in majors], major_of


def vectors_frame(vectors: np.ndarray, label_names: list[str]) -> pd.DataFrame:
    emo, major, major_of = vector_columns(label_names)
    frame = pd.DataFrame(vectors.round(6), columns=emo)
    if major:
        frame[major] = major_probabilities(vectors, major_of).round(6)
    return frame


def read_lyrics(cfg: ScoreConfig) -> tuple[pd.DataFrame, Path]:
    path = Path(cfg.lyrics) if cfg.lyrics else paths.find_lyrics(paths.resolve_data_dir(cfg.data_dir))
    songs = read_csv_checked(path, paths.HOW_TO_GET_LYRICS)
    require_columns(songs, ["song_id", "lyrics"], path)
    return (songs.head(cfg.max_songs) if cfg.max_songs else songs), path


def song_emotion_vectors(songs: pd.DataFrame, model_dir: str, max_length: int | None = None,
                         batch_size: int | None = None, device: str = "cpu", precision: str = "fp32",
                         embeddings: bool = False) -> tuple[pd.DataFrame, pd.DataFrame, list, dict]:
    """(one row per song, two rows per song for its halves, skipped song ids, embeddings). Chunks never
    cross the middle of a song, so the halves cost nothing extra and song vectors do not depend on --halves.
    embeddings: {`features`, `generic`} for the songs and `halves_features`, `halves_generic` for the
    halves rows, each averaged over chunks exactly like the probabilities (empty without embeddings)."""
    predictor = load_emotion_predictor(model_dir, process_device(device))
    max_length = max_length or predictor.model.config.train_max_length
    lyrics = songs.lyrics.fillna("").astype(str)
    empty = lyrics.str.strip() == ""
    kept = songs[~empty].reset_index(drop=True)
    halves = [lyric_halves(t) for t in lyrics[~empty]]
    parts = [(units, sep) for a, b, sep in halves for units in (a, b)]  # part 2k = song k's first half
    chunks, owner, tokens = chunk_texts(predictor.tokenizer, parts, max_length)
    outputs = predictor.chunk_outputs(chunks, max_length, batch_size, precision, embeddings)
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


def score_songs(cfg: ScoreConfig) -> Path:
    """The scoring stage main.py calls: writes results/song_emotions.csv (and song_halves.csv)."""
    device = resolve_device(cfg.device)
    layout = paths.Layout(Path(cfg.out))
    songs, path = read_lyrics(cfg)
    start = time.time()
    rows, halves, skipped, vectors = song_emotion_vectors(this_process_share(songs), cfg.model_dir, cfg.max_length,
                                                          cfg.batch_size, device, precision_for(device, cfg.bf16),
                                                          cfg.embeddings)
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
        "lyrics": str(path), "model": cfg.model_dir, "songs_read": len(songs), "songs_scored": len(rows),
        "skipped_empty_lyrics": len(skipped), "skipped_song_ids": skipped, "chunks": int(rows.n_chunks.sum()),
        "halves_written": bool(cfg.halves), "embeddings": sorted(k for k in vectors if "_" not in k),
        "processes": world_size(), "device": device,
        "seconds": round(time.time() - start, 1)})
    print(f"song emotions: {len(rows)} songs scored ({len(skipped)} with empty lyrics skipped) -> {out}")
    return out
