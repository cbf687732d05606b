"""The KOTE stage, the Korean emotion model anyone can train: 44 emotions, multi-label (sigmoid + BCE), per-label
thresholds tuned on the dev split (moodpipe.stages.multilabel, as GoEmotions), scored on the official test split
beside TF-IDF + one-vs-rest logistic regression and the majority label. main.py trains it when the AI-Hub corpus
is absent, and scores the songs with it.

    python lyrics_emotion.py train --dataset kote --data-dir data     # -> saved_model/kote/
"""

from __future__ import annotations

import logging
from dataclasses import asdict

import numpy as np

from moodpipe import paths
from moodpipe.context import RunContext
from moodpipe.contract import BEST_VAL_MACRO_F1, GROUPS_TUNED, LABELS_AT_HALF, LABELS_TUNED, MAJORITY, TFIDF_CHARS_OVR
from moodpipe.data.aihub import limit_rows
from moodpipe.data.kote import GROUPS, read_kote
from moodpipe.models.emotion_finetune import EmotionTrainConfig
from moodpipe.models.metrics import (
    major_classes,
    multilabel_majority_baseline,
    multilabel_metrics,
    multilabel_tfidf_baseline,
    multilabel_tuned_macro_f1,
)
from moodpipe.models.training import library_versions
from moodpipe.models.weights import resolve_model
from moodpipe.provenance import provenance
from moodpipe.report.documents import kote_model_card
from moodpipe.stages.multilabel import THRESHOLD_SELECTION, fine_tune_multilabel, label_matrix, save_multilabel

log = logging.getLogger("pipeline")

# The published anchor, quoted in the model card beside what differs here.
REFERENCE = {"model": "KcELECTRA-base fine-tuned on the 40,000 training comments", "test_macro_f1": 0.56,
             "source": "Jeon et al., User Guide for KOTE, arXiv 2205.05300"}


def group_test_metrics(y: np.ndarray, pred: np.ndarray, names: list[str]) -> dict:
    """The valence groups of moodpipe.data.kote.GROUPS: a group is predicted when any of its labels is."""
    groups, group_of = major_classes(names)
    to_group = np.eye(len(groups), dtype=int)[group_of]  # (labels, groups)
    return {"method": "a group is predicted when any of its labels is", **multilabel_metrics(
        (y @ to_group) > 0, (pred @ to_group) > 0, groups)}


def kote_test_metrics(y: np.ndarray, probs: np.ndarray, pred: np.ndarray, names: list[str]) -> dict:
    return {LABELS_TUNED: multilabel_metrics(y, pred, names),
            LABELS_AT_HALF: multilabel_metrics(y, (probs >= 0.5).astype(int), names),
            GROUPS_TUNED: group_test_metrics(y, pred, names)}


def kote_baselines(parts: dict, names: list[str]) -> dict:
    texts = {s: parts[s].text.tolist() for s in ("train", "dev", "test")}
    y = {s: label_matrix(parts[s]) for s in ("train", "dev", "test")}
    log.info("KOTE baselines: TF-IDF char 1-4 grams + one-vs-rest logistic regression (%d labels)", len(names))
    return {TFIDF_CHARS_OVR: multilabel_tfidf_baseline(texts, y, names, analyzer="char"),
            MAJORITY: multilabel_majority_baseline(y["train"], y["test"], names)}


def train_kote(ctx: RunContext, cfg: EmotionTrainConfig) -> dict:
    """Read (train or val less a dev slice), fine-tune, tune thresholds on dev, score test beside the baselines,
    save to saved_model/kote/. Returns metrics."""
    data_dir, runtime = ctx.data_dir, ctx.runtime
    resolved = resolve_model(cfg.model, "ko")  # before any work: a bad --model costs nothing
    parts, names, how = read_kote(data_dir, ctx.seed)
    parts = limit_rows(parts, cfg.max_train_rows, cfg.max_eval_rows, ctx.seed)
    fit = fine_tune_multilabel(ctx, cfg, resolved, parts, names, compute_metrics=multilabel_tuned_macro_f1)
    facts = fit.facts
    metrics = {
        "task": f"KOTE multi-label ({len(names)} emotions), sigmoid + BCE",
        "head": fit.head, "base_model": resolved.as_dict(), "labels": names,
        "groups": {"method": "our valence grouping (moodpipe.data.kote.GROUPS); not part of KOTE", "groups":
                   {g: len(members) for g, members in GROUPS.items()}},
        "data": {"dir": str(data_dir / paths.KOTE_DIR), "split": how, "rows": {s: len(v) for s, v in parts.items()},
                 "labels_per_row": {s: round(float(label_matrix(v).sum(1).mean()), 2) for s, v in parts.items()}},
        "test": kote_test_metrics(fit.y["test"], fit.probs["test"], fit.pred, names),
        "baselines": kote_baselines(parts, names), "reference": REFERENCE,
        "thresholds": dict(zip(names, fit.thresholds.tolist(), strict=True)),
        "threshold_selection": THRESHOLD_SELECTION,
        "model_selection": "the epoch with the best dev macro-F1 at thresholds tuned on dev",
        **{k: facts[k] for k in ("train_seconds", "epochs_run", BEST_VAL_MACRO_F1, "frozen")},
        "bf16": runtime.precision == "bf16", "runtime": runtime.facts(),
        "hyper_parameters": {**asdict(cfg.train), "seed": ctx.seed, "head": fit.head,
                             "freeze_embeddings": cfg.freeze_embeddings},
        "config": asdict(cfg), "context": ctx.settings(), "versions": library_versions(), "provenance": provenance(),
    }
    save_multilabel(ctx.layout.kote_model, fit, metrics, parts["test"], names,
                    kote_model_card(metrics))
    return metrics
