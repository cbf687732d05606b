"""The measures every retrieval evaluation shares: each item's k nearest others by cosine, precision@k of a
shared label (one label, or any of several), its chance level, every representation scored on one labelled
set, every candidate for the default scored, the `hybrid` weight search, and TF-IDF rows to compare with.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from moodpipe.contract import TOP_K
from moodpipe.files import InputError
from moodpipe.models.tfidf import tfidf_vectorizer
from moodpipe.recommend.catalogue import major_of
from moodpipe.recommend.representations import (
    EMBEDDINGS,
    HYBRID_WEIGHTS,
    MAJOR_SUMS,
    Hybrid,
    available,
    candidates,
    fit_space,
)
from moodpipe.recommend.topk import normalize_rows, topk_cosine

K = TOP_K  # neighbours per query in every retrieval score


def neighbours(vectors: np.ndarray, k: int = K) -> np.ndarray:
    """Each row's k nearest other rows by cosine (itself excluded), as indices (n, k). A row without a
    direction (a TF-IDF row of unseen words only) gets a random one: its neighbours are then random, which is
    all such a vector can give."""
    x = np.asarray(vectors, np.float32).copy()
    zero = ~np.any(x != 0, axis=1)
    x[zero] = np.random.default_rng(0).normal(size=(int(zero.sum()), x.shape[1]))
    own = np.arange(len(x))
    units = normalize_rows(x)
    return topk_cosine(units, units, min(k, len(x) - 1), exclude_same=[(own, own)])[0]


def precision_at_k(vectors: np.ndarray, labels, k: int = K) -> float:
    """Mean share of each item's k nearest others that share its label: `labels` is one label per item, or a
    0/1 matrix (multi-label: sharing at least one counts).

    >>> x = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]])
    >>> precision_at_k(x, np.array([0, 0, 1, 1]), k=1), precision_at_k(x, np.array([0, 1, 0, 1]), k=1)
    (1.0, 0.0)
    """
    return float(matches(neighbours(vectors, k), labels).mean())


def matches(idx: np.ndarray, labels) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim == 2:  # multi-label: any shared label
        return (labels[idx].astype(bool) & labels[:, None, :].astype(bool)).any(axis=2)
    return labels[idx] == labels[:, None]


def chance_precision(labels) -> float:
    """Expected precision@k when the k neighbours are drawn at random from the other items."""
    labels = np.asarray(labels)
    n = len(labels)
    if labels.ndim == 2:
        y = labels.astype(bool)
        share = (y.astype(int) @ y.T.astype(int)) > 0
        return float((share.sum(axis=1) - 1).mean() / (n - 1))
    counts = pd.Series(labels).value_counts().to_numpy()
    return float((counts * (counts - 1)).sum() / (n * (n - 1)))


def representation_scores(catalogue: dict, columns: list[str], labels: dict[str, np.ndarray], hybrid: Hybrid,
                          k: int = K) -> dict[str, dict[str, float]]:
    """{representation: {label set: precision@k}} for every representation the catalogue supports."""
    out = {}
    has_majors = all(major_of(c) for c in columns)
    for name in (r for r in available(catalogue, hybrid) if r != MAJOR_SUMS or has_majors):
        space = fit_space(catalogue, columns, name, hybrid)(catalogue)
        out[name] = {which: precision_at_k(space, y, k) for which, y in labels.items()}
    return out


def candidate_scores(catalogue: dict, columns: list[str], labels: np.ndarray, k: int = K) -> dict[str, float]:
    """precision@k on one labelled set of every candidate for the default (representations.candidates)."""
    return {key: precision_at_k(fit_space(catalogue, columns, name, hybrid)(catalogue), labels, k)
            for key, (name, hybrid) in candidates(catalogue).items()}


def choose_hybrid(catalogue: dict, columns: list[str], y: np.ndarray, k: int = K) -> tuple[Hybrid, dict]:
    """The embedding part and weight of `hybrid` with the best precision@k on this (validation) set."""
    scores = {}
    for part in (p for p in EMBEDDINGS if p in catalogue):
        for w in HYBRID_WEIGHTS:
            space = fit_space(catalogue, columns, "hybrid", Hybrid(part, w, "log"))(catalogue)
            scores[f"{part} {w}"] = precision_at_k(space, y, k)
    if not scores:
        raise InputError("hybrid needs `features` or `generic` vectors")
    part, w = max(scores, key=scores.get).split()
    return Hybrid(part, float(w), "log"), scores


def tfidf_space(train_texts: list[str], texts: list[str], analyzer: str = "char") -> np.ndarray:
    """Rows whose dot products are those of the centred TF-IDF vectors (char 1-4 grams for Korean, word 1-2
    for English, fitted on the training rows). Centring a sparse matrix of ~10^5-10^6 n-grams would make it
    dense (gigabytes), so the centred Gram matrix is built from sparse products and factored instead: n rows of
    n numbers with exactly the same cosines."""
    x = tfidf_vectorizer(analyzer).fit(train_texts).transform(texts).astype(np.float64)
    mean = np.asarray(x.mean(axis=0)).ravel()
    xm = x @ mean
    gram = (x @ x.T).toarray() - xm[:, None] - xm[None, :] + mean @ mean  # (X - 1m')(X - 1m')'
    values, vectors = np.linalg.eigh(gram)
    return (vectors * np.sqrt(np.clip(values, 0, None))).astype(np.float32)
