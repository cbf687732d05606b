"""The GoEmotions stage, the English baseline: 27 emotions + neutral, multi-label (sigmoid + BCE), with per-label
thresholds tuned on the dev split and the Ekman grouping scored too.

Files (no header): `<data-dir>/goemotions/original/{train,dev,test}.tsv` = text<TAB>label ids<TAB>comment id,
`original/labels.txt`, and `ekman_mapping.json`.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from moodpipe import paths
from moodpipe.context import RunContext
from moodpipe.contract import BEST_VAL_MACRO_F1, EKMAN7_TUNED, LABELS28_AT_HALF, LABELS28_TUNED, MAJORITY
from moodpipe.data.aihub import limit_rows
from moodpipe.data.goemotions import read_goemotions
from moodpipe.files import atomic_folder, write_csv_atomic, write_json_atomic, write_text_atomic
from moodpipe.models.emotion_finetune import EmotionTrainConfig, fine_tune_head
from moodpipe.models.inference import predict_logits, sigmoid
from moodpipe.models.metrics import (
    ekman_matrix,
    multilabel_macro_f1,
    multilabel_majority_baseline,
    multilabel_metrics,
    tune_thresholds,
)
from moodpipe.models.saved_folder import WEIGHTS_HASH, weights_digest
from moodpipe.models.training import library_versions, save_model_folder, tokenize_dataset
from moodpipe.models.weights import resolve_model
from moodpipe.report.documents import goemotions_model_card
from moodpipe.runtime import is_main_process

SEED_MODEL = "roberta-base"  # the original design's English baseline; offline, `auto` uses bundled MiniLM
SPLITS = {"train": "train", "val": "dev"}  # our split names -> the release's file names


def train_goemotions(ctx: RunContext, cfg: EmotionTrainConfig) -> dict:
    """Fine-tune the multi-label head, tune thresholds on dev, score test; save like the Korean model."""
    from transformers import AutoTokenizer
    data_dir, runtime = ctx.data_dir, ctx.runtime
    parts, names, ekman = read_goemotions(data_dir)
    parts = limit_rows(parts, cfg.max_train_rows, cfg.max_eval_rows, ctx.seed)
    resolved = resolve_model(cfg.model, "en", seed=SEED_MODEL)
    tokenizer = AutoTokenizer.from_pretrained(resolved.path)
    data = {ours: tokenize_dataset(tokenizer, parts[theirs].text.tolist(), [y.tolist() for y in parts[theirs].y],
                                   cfg.train.max_length) for ours, theirs in SPLITS.items()}
    data["train_labels"] = None
    head = cfg.head or "plain"
    trainer, model, facts = fine_tune_head(ctx, cfg, resolved, head, tokenizer, data, names, multi_label=True,
                                           compute_metrics=multilabel_macro_f1)
    probs = {s: sigmoid(predict_logits(model, tokenizer, parts[s].text.tolist(), max_length=cfg.train.max_length,
                                       precision=runtime.precision)) for s in ("dev", "test")}
    y = {s: np.stack(parts[s].y.to_numpy()).astype(int) for s in ("dev", "test")}
    thresholds = tune_thresholds(probs["dev"], y["dev"])
    pred = (probs["test"] >= thresholds).astype(int)
    metrics = {
        "task": "GoEmotions multi-label (27 emotions + neutral), sigmoid + BCE",
        "head": head, "base_model": resolved.as_dict(),
        "data": {"files": [str(data_dir / paths.GOEMOTIONS_DIR / "original" / f"{s}.tsv") for s in parts],
                 "rows": {s: len(v) for s, v in parts.items()}},
        "test": goemotions_test_metrics(y["test"], probs["test"], pred, names, ekman),
        "baselines": {MAJORITY: multilabel_majority_baseline(np.stack(parts["train"].y.to_numpy()), y["test"],
                                                               names)},
        "thresholds": dict(zip(names, thresholds.tolist(), strict=True)),
        "threshold_selection": "per label, the dev-set F1 maximum over 0.02..0.98 in steps of 0.02",
        **{k: facts[k] for k in ("train_seconds", "epochs_run", BEST_VAL_MACRO_F1, "frozen")},
        "bf16": runtime.precision == "bf16", "runtime": runtime.facts(),
        "hyper_parameters": {**asdict(cfg.train), "seed": ctx.seed, "head": head, "lora": cfg.lora},
        "config": asdict(cfg), "context": ctx.settings(), "versions": library_versions(),
    }
    save_goemotions(ctx.layout, model, tokenizer, metrics, facts, parts["test"], pred, names)
    return metrics


def goemotions_test_metrics(y: np.ndarray, probs: np.ndarray, pred: np.ndarray, names: list[str],
                            ekman: dict) -> dict:
    groups, to_group = ekman_matrix(names, ekman)
    return {LABELS28_TUNED: multilabel_metrics(y, pred, names),
            LABELS28_AT_HALF: multilabel_metrics(y, (probs >= 0.5).astype(int), names),
            EKMAN7_TUNED: {"method": "a group is predicted when any of its labels is; neutral included",
                             **multilabel_metrics((y @ to_group) > 0, (pred @ to_group) > 0, groups)}}


def label_lists(rows: np.ndarray, names: list[str]) -> list[str]:
    return [",".join(names[j] for j in np.flatnonzero(r)) for r in rows]


def save_goemotions(layout: paths.Layout, model, tokenizer, metrics, facts, test, pred, names) -> Path:
    if not is_main_process():
        return layout.goemotions_model
    with atomic_folder(layout.goemotions_model) as folder:  # built beside the old folder, swapped in whole
        save_model_folder(folder, model, tokenizer, metrics, facts["trainer_log"])
        write_json_atomic(folder / paths.THRESHOLDS, {WEIGHTS_HASH: weights_digest(folder),
                                                      "thresholds": metrics["thresholds"]})
        write_csv_atomic(folder / paths.TEST_PREDICTIONS, pd.DataFrame(
            {"comment_id": test.comment_id, "text": test.text,
             "labels": label_lists(np.stack(test.y.to_numpy()), names), "predicted": label_lists(pred, names)}))
        write_text_atomic(folder / paths.MODEL_CARD, goemotions_model_card(metrics))
    return layout.goemotions_model
