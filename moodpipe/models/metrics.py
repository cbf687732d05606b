"""Every score the project reports: classification metrics and their baselines, the emotion metrics
(60 labels, 6 major classes, similarity-weighted F1), multi-label metrics and threshold tuning.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from moodpipe.contract import (
    ACCURACY,
    BEST_VAL_MACRO_F1,
    CONFUSION,
    LABELS60,
    MACRO_F1,
    MAJOR6,
    MAJORITY,
    PER_CLASS,
    TFIDF_CHARS,
    WEIGHTED_F1,
)
from moodpipe.models.tfidf import fit_tfidf, fit_tfidf_multilabel


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], label_names: Sequence[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix.

    >>> m = classification_metrics([0, 1, 1], [0, 1, 0], ["neg", "pos"])
    >>> round(m["accuracy"], 3), m["confusion_matrix"]
    (0.667, [[1, 0], [1, 1]])
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support
    labels = list(range(len(label_names)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {
        ACCURACY: float(accuracy_score(y_true, y_pred)),
        MACRO_F1: float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        PER_CLASS: {name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
                      for i, name in enumerate(label_names)},
        "labels": list(label_names),
        CONFUSION: confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def majority_baseline(train_y: Sequence[int], test_y: Sequence[int], label_names: Sequence[str]) -> dict:
    majority = int(pd.Series(train_y).mode()[0])
    return classification_metrics(test_y, [majority] * len(test_y), label_names)


def tfidf_baseline(train_texts: Sequence[str], train_y: Sequence[int], test_texts: Sequence[str],
                   test_y: Sequence[int], label_names: Sequence[str], analyzer: str = "word") -> dict:
    """TF-IDF + logistic regression on the same split: word 1-2 grams, or char 1-4 grams for Korean."""
    pred = fit_tfidf(train_texts, train_y, analyzer).predict(list(test_texts))
    return classification_metrics(test_y, pred.tolist(), label_names)


def accuracy_macro_f1(eval_pred) -> dict:
    from sklearn.metrics import accuracy_score, f1_score
    logits, labels = eval_pred
    pred = np.asarray(logits).argmax(-1)
    return {ACCURACY: accuracy_score(labels, pred), MACRO_F1: f1_score(labels, pred, average="macro")}


def major_classes(label_names: list[str]) -> tuple[list[str], np.ndarray]:
    """Major class names in label order, and each label's major index.

    >>> major_classes(["분노/분노", "분노/툴툴대는", "슬픔/슬픔"])
    (['분노', '슬픔'], array([0, 0, 1]))
    """
    majors = [n.split("/", 1)[0] for n in label_names]
    names = list(dict.fromkeys(majors))
    return names, np.array([names.index(m) for m in majors])


def major_probabilities(probs: np.ndarray, major_of: np.ndarray) -> np.ndarray:
    """(n, 60) label probabilities -> (n, 6): each major class gets the sum of its labels' probabilities."""
    return np.stack([probs[:, major_of == k].sum(1) for k in range(major_of.max() + 1)], axis=1)


def hierarchy_similarity(label_names: list[str], credit: float) -> np.ndarray:
    """S[i][j] = 1 for the same label, `credit` for the same major class, 0 otherwise."""
    _, major_of = major_classes(label_names)
    s = np.where(major_of[:, None] == major_of[None, :], credit, 0.0)
    np.fill_diagonal(s, 1.0)
    return s


def similarity_weighted_f1(y_true, y_pred, similarity: np.ndarray) -> float:
    """Macro-F1 where predicting p for true y earns S[y][p] instead of 0/1.

    Per class c: soft recall = credit earned by examples of c / their number; soft precision = credit
    earned by predictions of c / their number; F1 = harmonic mean (0 when undefined); macro average
    over all classes of S. With S = identity this is sklearn's macro-F1.
    Class 0 is never predicted (F1 0); class 1 has soft recall 1 and soft precision (0.5 + 1) / 2:
    >>> round(similarity_weighted_f1([0, 1], [1, 1], np.array([[1, .5], [.5, 1]])), 4)
    0.4286
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    n = len(similarity)
    earned = similarity[y_true, y_pred]
    f1 = np.zeros(n)
    for c in range(n):
        true_c, pred_c = y_true == c, y_pred == c
        recall = earned[true_c].sum() / true_c.sum() if true_c.any() else 0.0
        precision = earned[pred_c].sum() / pred_c.sum() if pred_c.any() else 0.0
        f1[c] = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return float(f1.mean())


def emotion_test_metrics(y_true, probs: np.ndarray, label_names: list[str], credit: float) -> dict:
    """60-label and 6-class metrics plus the similarity-weighted F1 (hierarchy S primary)."""
    majors, major_of = major_classes(label_names)
    pred = probs.argmax(1)
    major_probs = major_probabilities(probs, major_of)
    y_true = np.asarray(y_true)
    return {
        LABELS60: classification_metrics(y_true, pred, label_names),
        MAJOR6: {"method": "argmax of the softmax probabilities summed per major class",
                   **classification_metrics(major_of[y_true], major_probs.argmax(1), majors)},
        "major6_from_argmax_label": classification_metrics(major_of[y_true], major_of[pred], majors)[ACCURACY],
        WEIGHTED_F1: {
            "hierarchy": similarity_weighted_f1(y_true, pred, hierarchy_similarity(label_names, credit)),
            "same_major_credit": credit,
            "identity": similarity_weighted_f1(y_true, pred, np.eye(len(label_names)))},
    }


def emotion_baselines(units: dict[str, pd.DataFrame], label_names: list[str]) -> tuple[dict, object]:
    """Majority class and TF-IDF char 1-4 grams + LR on the same split; the 6-class rows come from
    separate classifiers trained on the major classes. Also returns the fitted 60-label TF-IDF pipeline,
    which the emotion stage blends with its model."""
    majors, major_of = major_classes(label_names)
    train, test = units["train"], units["test"]
    out, fitted = {}, {}
    for name, y_train, y_test, names in ((LABELS60, train.label_id, test.label_id, label_names),
                                         (MAJOR6, major_of[train.label_id], major_of[test.label_id], majors)):
        fitted[name] = fit_tfidf(train.text, y_train, analyzer="char")
        tfidf = classification_metrics(y_test, fitted[name].predict(list(test.text)).tolist(), names)
        majority = majority_baseline(y_train, y_test, names)
        out.setdefault(TFIDF_CHARS, {})[name] = {k: tfidf[k] for k in (ACCURACY, MACRO_F1)}
        out.setdefault(MAJORITY, {})[name] = {k: majority[k] for k in (ACCURACY, MACRO_F1)}
    return out, fitted[LABELS60]


def paired_bootstrap_accuracy(correct: np.ndarray, reference: np.ndarray, rounds: int = 2000,
                              seed: int = 0) -> dict:
    """95% percentile intervals of a model's test accuracy and of its difference from a reference model's,
    both from the same resampled test sets (paired: what is hard for both cancels out of the difference).

    >>> r = paired_bootstrap_accuracy(np.array([1, 1, 0, 1]), np.array([1, 1, 0, 1]))
    >>> r["minus_reference"], r["minus_reference_ci95"]
    (0.0, [0.0, 0.0])
    """
    correct, reference = np.asarray(correct, dtype=float), np.asarray(reference, dtype=float)
    idx = np.random.default_rng(seed).integers(0, len(correct), size=(rounds, len(correct)))
    acc, diff = correct[idx].mean(1), correct[idx].mean(1) - reference[idx].mean(1)
    return {"accuracy_ci95": np.percentile(acc, [2.5, 97.5]).round(4).tolist(),
            "minus_reference": round(float(correct.mean() - reference.mean()), 4),
            "minus_reference_ci95": np.percentile(diff, [2.5, 97.5]).round(4).tolist(), "rounds": rounds}


def comparison_row(r: dict) -> dict:
    t = r["test"]
    return {"test_accuracy_ci95": r.get("bootstrap", {}).get("accuracy_ci95"),
            "minus_plain": r.get("bootstrap", {}).get("minus_reference"),
            "minus_plain_ci95": r.get("bootstrap", {}).get("minus_reference_ci95"),
            "val_macro_f1": r[BEST_VAL_MACRO_F1], "test_accuracy_60": t[LABELS60][ACCURACY],
            "test_macro_f1_60": t[LABELS60][MACRO_F1], "test_accuracy_6": t[MAJOR6][ACCURACY],
            "test_macro_f1_6": t[MAJOR6][MACRO_F1],
            "test_similarity_weighted_f1": t[WEIGHTED_F1]["hierarchy"],
            "train_seconds": r["train_seconds"], "epochs_run": r["epochs_run"],
            "trainable_params": r["frozen"]["trainable_params"]}


def tune_thresholds(probs: np.ndarray, y: np.ndarray, grid=None) -> np.ndarray:
    """Per label, the threshold on the dev set that maximises that label's F1 (ties: the lowest).

    >>> tune_thresholds(np.array([[.9], [.3], [.2]]), np.array([[1], [1], [0]]), [.25, .5]).tolist()
    [0.25]
    """
    grid = np.round(np.arange(0.02, 0.99, 0.02), 2) if grid is None else np.asarray(grid)
    best = np.full(probs.shape[1], 0.5)
    for j in range(probs.shape[1]):
        pred = probs[:, j][:, None] >= grid[None, :]  # (n, len(grid))
        tp = (pred & (y[:, j][:, None] == 1)).sum(0)
        f1 = 2 * tp / np.maximum(pred.sum(0) + y[:, j].sum(), 1)
        best[j] = grid[int(np.argmax(f1))]
    return best


def ekman_matrix(names: list[str], ekman: dict[str, list[str]]) -> tuple[list[str], np.ndarray]:
    """(groups, M) with M[label, group] = 1; groups are the Ekman emotions plus neutral."""
    groups = [*ekman, "neutral"]
    m = np.zeros((len(names), len(groups)), dtype=bool)
    for g, members in enumerate([*ekman.values(), ["neutral"]]):
        for name in members:
            m[names.index(name), g] = True
    return groups, m


def multilabel_metrics(y: np.ndarray, pred: np.ndarray, names: list[str]) -> dict:
    from sklearn.metrics import f1_score, precision_recall_fscore_support
    p, r, f, s = precision_recall_fscore_support(y, pred, zero_division=0)
    return {MACRO_F1: float(f1_score(y, pred, average="macro", zero_division=0)),
            "micro_f1": float(f1_score(y, pred, average="micro", zero_division=0)),
            "exact_match": float((y == pred).all(1).mean()),
            PER_CLASS: {n: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                              "support": int(s[i])} for i, n in enumerate(names)}}


def multilabel_majority_baseline(y_train: np.ndarray, y_test: np.ndarray, names: list[str]) -> dict:
    """Predict the training set's most frequent label for every test row."""
    pred = np.zeros_like(y_test)
    pred[:, int(np.asarray(y_train).sum(axis=0).argmax())] = 1
    return multilabel_metrics(y_test, pred, names)


def multilabel_tfidf_baseline(texts: dict[str, list[str]], y: dict[str, np.ndarray], names: list[str],
                              analyzer: str = "char") -> dict:
    """TF-IDF + one-vs-rest logistic regression, fitted on train, thresholds tuned on dev like the model's,
    scored on test (tuned, and at 0.5)."""
    model = fit_tfidf_multilabel(texts["train"], y["train"], analyzer)
    probs = {s: model.predict_proba(list(texts[s])) for s in ("dev", "test")}
    thresholds = tune_thresholds(probs["dev"], y["dev"])
    return {"tuned": multilabel_metrics(y["test"], (probs["test"] >= thresholds).astype(int), names),
            "at_0.5": multilabel_metrics(y["test"], (probs["test"] >= 0.5).astype(int), names)}


def multilabel_tuned_macro_f1(eval_pred) -> dict:
    """Macro-F1 at the thresholds tune_thresholds picks on these same rows: the selection metric for dense label
    sets (KOTE: ~8 of 44 labels per comment), where hardly any probability passes 0.5 in the first epochs and
    macro-F1 at 0.5 stays 0 while the model is learning."""
    from sklearn.metrics import f1_score
    logits, labels = eval_pred
    probs, y = 1 / (1 + np.exp(-np.asarray(logits, dtype=float))), np.asarray(labels).astype(int)
    pred = (probs >= tune_thresholds(probs, y)).astype(int)
    return {MACRO_F1: f1_score(y, pred, average="macro", zero_division=0)}


def multilabel_macro_f1(eval_pred) -> dict:
    from sklearn.metrics import f1_score
    logits, labels = eval_pred
    pred = (np.asarray(logits) > 0).astype(int)  # sigmoid > 0.5
    return {MACRO_F1: f1_score(np.asarray(labels).astype(int), pred, average="macro", zero_division=0)}
