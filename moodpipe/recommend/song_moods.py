"""Song-mood agreement: do a song's nearest neighbours share the mood people hear in it?

Any CSV of songs with lyrics and one mood each (`song_id, lyrics, mood`; NJU-MusicMood's angry / happy /
relaxed / sad, or a user's own labels) is scored by a saved emotion model exactly as the catalogue is
(moodpipe.models.song_vectors), and every representation is measured by top-k mood agreement: the share of
each song's k nearest other songs (cosine) that carry its mood. Beside them: TF-IDF of the lyrics and chance.
The moods choose and evaluate; nothing is trained on them.

    recommend.py --evaluate --song-moods my_songs.csv     ->  the "song moods" part of results/retrieval_eval.*

Untuned encoders can be measured on the same songs without any emotion model (`--song-encoder NAME`, e.g.
registry:embeddinggemma-300m, moodpipe.models.registry_encoders): each gives a row `generic (NAME)`, beside the
bundled encoder of the songs' language, with a 95% bootstrap interval, the paired difference and the licence.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd

from moodpipe import paths
from moodpipe.contract import is_emotion_column
from moodpipe.files import InputError, read_csv_checked
from moodpipe.models.metrics import paired_bootstrap_accuracy
from moodpipe.models.registry_encoders import resolve_song_encoder
from moodpipe.models.song_vectors import ENCODER_MAX_LENGTH, encoder_song_vectors, song_emotion_vectors
from moodpipe.models.weights import OFFLINE_MODELS
from moodpipe.recommend.representations import DEFAULT_HYBRID, candidates, fit_space
from moodpipe.recommend.retrieval_scores import (
    K,
    chance_precision,
    matches,
    neighbours,
    precision_at_k,
    representation_scores,
    tfidf_space,
)
from moodpipe.runtime import CPU, SEED, Runtime

log = logging.getLogger("pipeline")

MOOD_COLUMNS = ["song_id", "lyrics", "mood"]
HELD_OUT_FOLDS = 5  # the default is chosen on 4/5 of the songs and scored on the rest, each fifth in turn
PER_SONG = "_per_song"  # in-memory only: each candidate's agreement per song, for the held-out choice
HANGUL = re.compile("[\uac00-\ud7a3]")


def find_song_moods(data_dir: Path) -> Path | None:
    """The first CSV in <data-dir>/song_moods/, if any."""
    return next(iter(sorted((Path(data_dir) / paths.SONG_MOODS_DIR).glob("*.csv"))), None)


def read_song_moods(path: Path, k: int = K, per_mood: int | None = None) -> pd.DataFrame:
    """The labelled songs with lyrics: song_id, lyrics, mood (other columns kept); with per_mood, only the first
    that many of each mood (quick runs). Songs without lyrics or mood are dropped, said in one line; a missing
    column, a repeated song_id or too few songs is an error."""
    songs = read_csv_checked(path, "pass a CSV with the columns song_id, lyrics, mood to --song-moods")
    missing = [c for c in MOOD_COLUMNS if c not in songs.columns]
    if missing:
        raise InputError(f"{path} has no {', '.join(missing)} column(s): a song-mood CSV needs "
                         f"{', '.join(MOOD_COLUMNS)} (it has: {', '.join(map(str, songs.columns))})")
    repeated = songs.song_id[songs.song_id.astype(str).duplicated()].astype(str).unique()
    if len(repeated):
        raise InputError(f"{path}: song_id repeated: {', '.join(repeated[:5])}; give each song one row")
    usable = songs.lyrics.fillna("").astype(str).str.strip().ne("") & songs.mood.fillna("").astype(str).ne("")
    if (~usable).any():
        log.info("song moods: %d of %d songs in %s have no lyrics or no mood; left out", (~usable).sum(),
                 len(songs), path)
    songs = songs[usable].reset_index(drop=True).assign(mood=lambda d: d.mood.astype(str))
    if per_mood:
        songs = songs.groupby("mood", sort=False).head(per_mood).reset_index(drop=True)
    if len(songs) <= k or songs.mood.nunique() < 2:
        raise InputError(f"{path}: {len(songs)} usable songs in {songs.mood.nunique()} mood(s); top-{k} agreement "
                         f"needs more than {k} songs and at least 2 moods")
    return songs


def mood_agreement(vectors: np.ndarray, moods, k: int = K) -> float:
    """Mean share of each song's k nearest other songs with its mood.

    >>> mood_agreement(np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]]), ["sad", "sad", "happy", "happy"], k=1)
    1.0
    """
    return precision_at_k(vectors, np.asarray(moods), k)


def lyrics_analyzer(lyrics: pd.Series) -> str:
    """TF-IDF of words for lyrics in a spaced script, of characters for Korean (no word segmentation)."""
    text = "".join(lyrics.head(50))
    return "char" if len(HANGUL.findall(text)) > 0.3 * max(1, len(re.findall(r"\w", text))) else "word"


def evaluate_song_moods(path: Path, model_dir: Path, runtime: Runtime = CPU, k: int = K,
                        per_mood: int | None = None) -> dict:
    """Top-k mood agreement of every representation the model's vectors support, beside TF-IDF and chance, and
    of every candidate for the default."""
    songs = read_song_moods(path, k, per_mood)
    rows, _, _, vectors = song_emotion_vectors(songs, str(model_dir), runtime, embeddings=True)
    columns = [c for c in rows.columns if is_emotion_column(c)]
    catalogue = {"probs": rows[columns].to_numpy(float), **{n: v for n, v in vectors.items() if "_" not in n}}
    moods = songs.mood.to_numpy()
    scores = representation_scores(catalogue, columns, {"mood": moods}, DEFAULT_HYBRID, k)
    lyrics = songs.lyrics.astype(str)
    scores["tfidf"] = {"mood": mood_agreement(tfidf_space(lyrics.tolist(), lyrics.tolist(), lyrics_analyzer(lyrics)),
                                              moods, k)}
    scores["chance"] = {"mood": chance_precision(moods)}
    per_song = per_song_agreement(catalogue, columns, moods, k)  # each candidate's score is its songs' mean
    return {"file": str(path), "model": str(model_dir), "n_songs": len(songs), "k": k,
            "moods": songs.mood.value_counts().sort_index().to_dict(), "agreement_at_k": scores,
            "candidates": {key: float(v.mean()) for key, v in per_song.items()},
            PER_SONG: {"moods": moods, "candidates": per_song}}


def per_song_agreement(catalogue: dict, columns: list[str], moods: np.ndarray, k: int = K) -> dict[str, np.ndarray]:
    """Each candidate's top-k mood agreement song by song (their mean is the candidate's score)."""
    return {key: matches(neighbours(fit_space(catalogue, columns, name, hybrid)(catalogue), k), moods).mean(axis=1)
            for key, (name, hybrid) in candidates(catalogue).items()}


def held_out_choice(per_song: dict[str, np.ndarray], moods: np.ndarray, eligible: list[str],
                    folds: int = HELD_OUT_FOLDS, seed: int = SEED) -> dict:
    """An out-of-sample figure for a default chosen on these songs: in stratified folds, the best eligible
    candidate on the other folds scores the songs of this one, so every song is scored by a default chosen
    without it. Its mean, with a 95% bootstrap interval over songs, beside `generic` on the same songs.

    >>> per_song = {"a": np.array([1.0, 1, 0, 0]), "generic": np.array([0.5, 0.5, 0.5, 0.5])}
    >>> r = held_out_choice(per_song, np.array(["x", "y", "x", "y"]), ["a"], folds=2)
    >>> r["agreement"], r["generic"], r["chosen_per_fold"]
    (0.5, 0.5, ['a', 'a'])
    """
    from sklearn.model_selection import StratifiedKFold
    scores, picks = np.zeros(len(moods)), []
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(moods)), moods):
        best = max(eligible, key=lambda key: per_song[key][train].mean())
        picks.append(best)
        scores[test] = per_song[best][test]
    result = {"folds": folds, "seed": seed, "chosen_per_fold": picks, "agreement": round(float(scores.mean()), 4)}
    if "generic" not in per_song:
        return {**result, "ci95": paired_bootstrap_accuracy(scores, scores)["accuracy_ci95"]}
    boot = paired_bootstrap_accuracy(scores, per_song["generic"])
    return {**result, "ci95": boot["accuracy_ci95"], "generic": round(float(per_song["generic"].mean()), 4),
            "minus_generic": boot["minus_reference"], "minus_generic_ci95": boot["minus_reference_ci95"]}


def encoder_row(name: str) -> str:
    """What a table calls an untuned encoder's embedding: `generic (registry:embeddinggemma-300m)`."""
    return f"generic ({name})"


def evaluate_song_encoders(path: Path, encoders: list[str], runtime: Runtime = CPU, k: int = K,
                           per_mood: int | None = None) -> dict:
    """Top-k mood agreement of untuned encoders' `generic` embeddings (moodpipe.models.song_vectors.
    encoder_song_vectors, centred, cosine), each beside the bundled encoder of the songs' language (the default
    `generic`): the agreement with a 95% bootstrap interval over songs, the paired difference with its interval,
    the licence and the wall time. Nothing is chosen on the songs, so every figure is out of sample."""
    songs = read_song_moods(path, k, per_mood)
    lyrics, moods = songs.lyrics.astype(str), songs.mood.to_numpy()
    language = "ko" if lyrics_analyzer(lyrics) == "char" else "en"
    reference = OFFLINE_MODELS[language]
    per_song, about = {}, {}
    for name in dict.fromkeys([reference, *encoders]):
        encoder = resolve_song_encoder(name, language)
        start = time.perf_counter()
        vectors = encoder_song_vectors(lyrics.tolist(), encoder.path, runtime)
        per_song[name] = matches(neighbours(vectors - vectors.mean(axis=0), k), moods).mean(axis=1)
        about[name] = {**encoder.as_dict(), "seconds": round(time.perf_counter() - start, 1)}
        log.info("song moods: %s top-%d mood agreement %.4f (%.0f s)", encoder_row(name), k, per_song[name].mean(),
                 about[name]["seconds"])
    rows = {}
    for name, scores in per_song.items():
        boot = paired_bootstrap_accuracy(scores, per_song[reference])
        rows[encoder_row(name)] = {"mood": round(float(scores.mean()), 4), "ci95": boot["accuracy_ci95"],
                                   "minus_reference": boot["minus_reference"],
                                   "minus_reference_ci95": boot["minus_reference_ci95"], **about[name]}
    return {"file": str(path), "n_songs": len(songs), "k": k, "max_length": ENCODER_MAX_LENGTH,
            "precision": runtime.precision, "reference": encoder_row(reference), "chance": chance_precision(moods),
            "rows": rows}


def encoder_lines(result: dict) -> list[str]:
    """The untuned encoders' table, as markdown lines, with each one's licence."""
    lines = ["## Song moods, untuned encoders", "",
             f"{result['n_songs']} songs of {result['file']}: top-{result['k']} mood agreement of each encoder's "
             f"`generic` embedding ({result['max_length']}-token chunks, token-weighted mean, centred, cosine, "
             f"{result['precision']}); nothing is chosen on these songs. Difference: against "
             f"{result['reference']} on the same songs (paired bootstrap, 2,000 rounds). "
             f"Chance {result['chance']:.4f}.", "",
             "| representation | agreement | 95% interval | difference | 95% interval | licence | source | seconds |",
             "|---|---|---|---|---|---|---|---|"]
    for row, r in result["rows"].items():
        lines.append(f"| {row} | {r['mood']:.4f} | {r['ci95'][0]:.4f} to {r['ci95'][1]:.4f} | "
                     f"{r['minus_reference']:+.4f} | {r['minus_reference_ci95'][0]:+.4f} to "
                     f"{r['minus_reference_ci95'][1]:+.4f} | {r['licence']} ({r['terms']}) | {r['source']} | "
                     f"{r['seconds']:.0f} |")
    return [*lines, ""]
