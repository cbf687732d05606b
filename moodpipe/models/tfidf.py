"""TF-IDF, in one place: the vectorizer every baseline and evaluation uses (word 1-2 grams for English, char
1-4 grams for Korean), the baseline's fitted pipeline (TF-IDF -> logistic regression), and the emotion
predictor's second voice: that pipeline's probabilities mixed with the fine-tuned model's,
`weight * model + (1 - weight) * tfidf`, the weight chosen on validation.

The two make different mistakes (the encoder reads meaning, the n-grams read the corpus's recurring words),
so their mix beats either on the AI-Hub dialogues. The TF-IDF model is saved in the same folder as the
encoder (`tfidf.joblib`, `blend.json`), and emotion_predictor.load_emotion_predictor loads both, so song scoring,
recommend.py --text and the test metrics all see the same predictor. A weight of 1 means the model alone:
then no TF-IDF file is written.

    >>> blend(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]), 0.25).tolist()
    [[0.25, 0.75]]
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from moodpipe import paths
from moodpipe.files import InputError, read_json, write_json_atomic
from moodpipe.models.saved_folder import WEIGHTS_HASH, check_derived, weights_digest

WEIGHT_GRID = tuple(round(w, 2) for w in np.linspace(0, 1, 21))  # the model's share, 0.05 apart


def tfidf_vectorizer(analyzer: str = "word"):
    """Sublinear TF-IDF of word 1-2 grams (English) or char 1-4 grams (Korean, no word segmentation needed)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    ngrams = (1, 2) if analyzer == "word" else (1, 4)
    return TfidfVectorizer(analyzer=analyzer, ngram_range=ngrams, min_df=2, sublinear_tf=True)


def fit_tfidf(train_texts: Sequence[str], train_y: Sequence[int], analyzer: str = "word"):
    """The baseline's fitted sklearn Pipeline (TF-IDF -> logistic regression), for predict/predict_proba."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    model = make_pipeline(tfidf_vectorizer(analyzer),
                          LogisticRegression(max_iter=2000, C=10.0 if analyzer == "word" else 5.0))
    return model.fit(list(train_texts), list(train_y))


def fit_tfidf_multilabel(train_texts: Sequence[str], train_y: np.ndarray, analyzer: str = "char"):
    """The multi-label baseline: the same TF-IDF, then one logistic regression per label (one-vs-rest)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    model = make_pipeline(tfidf_vectorizer(analyzer), OneVsRestClassifier(
        LogisticRegression(max_iter=2000, C=10.0 if analyzer == "word" else 5.0)))
    with warnings.catch_warnings():  # a label no training row has is predicted never: no need to say so per label
        warnings.filterwarnings("ignore", message="Label not .* is present in all training examples")
        return model.fit(list(train_texts), np.asarray(train_y))


def blend(model_probs: np.ndarray, tfidf_probs: np.ndarray | None, weight: float) -> np.ndarray:
    """The mixed probabilities; the model's own when there is no TF-IDF part."""
    if tfidf_probs is None or weight >= 1:
        return model_probs
    return weight * model_probs + (1 - weight) * tfidf_probs


def tfidf_probabilities(pipeline, texts: list[str], num_labels: int) -> np.ndarray:
    """(n, num_labels) probabilities; labels the classifier never saw in training get 0."""
    out = np.zeros((len(texts), num_labels))
    if texts:
        out[:, pipeline.classes_] = pipeline.predict_proba(list(texts))
    return out


def choose_weight(model_probs: np.ndarray, tfidf_probs: np.ndarray, y: np.ndarray) -> tuple[float, dict]:
    """The model's share with the best validation macro-F1 (ties: the larger share, the simpler product),
    and the validation macro-F1 of every share tried."""
    from sklearn.metrics import f1_score
    scores = {w: float(f1_score(y, blend(model_probs, tfidf_probs, w).argmax(1), average="macro"))
              for w in WEIGHT_GRID}
    best = max(scores.values())
    return max(w for w, s in scores.items() if s == best), scores


def save_blend(folder: Path, pipeline, weight: float, val_scores: dict) -> None:
    """blend.json always (the chosen weight and the validation curve); tfidf.joblib when it is used."""
    import joblib
    folder = Path(folder)
    used = weight < 1
    if used:
        tmp = folder / f".{paths.TFIDF_MODEL}.tmp"
        joblib.dump(pipeline, tmp, compress=3)
        tmp.replace(folder / paths.TFIDF_MODEL)
    else:
        (folder / paths.TFIDF_MODEL).unlink(missing_ok=True)
    write_json_atomic(folder / paths.BLEND, {
        WEIGHTS_HASH: weights_digest(folder),
        "model_weight": weight, "tfidf_weight": round(1 - weight, 2), "used": used,
        "tfidf": "char 1-4-gram TF-IDF + logistic regression, fitted on the training rows",
        "chosen_by": "validation macro-F1", "val_macro_f1_by_model_weight": {str(w): s for w, s in val_scores.items()}})


def load_blend(folder: Path) -> tuple[object | None, float]:
    """(TF-IDF pipeline or None, the model's weight) of a saved predictor; a folder without blend.json
    (older runs, GoEmotions) is the model alone."""
    folder = Path(folder)
    blend_file, rebuild = folder / paths.BLEND, paths.REBUILD_EMOTION
    if not blend_file.is_file():
        return None, 1.0
    saved = read_json(blend_file, rebuild)
    weight = saved.get("model_weight") if isinstance(saved, dict) else None
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight <= 1:
        raise InputError(f"{blend_file}: model_weight must be a number from 0 to 1, got {weight!r}; rebuild it with "
                         f"`{rebuild}`")
    check_derived(blend_file, saved.get(WEIGHTS_HASH), folder, rebuild)
    if weight >= 1:
        return None, 1.0
    import joblib
    return joblib.load(folder / paths.TFIDF_MODEL), float(weight)
