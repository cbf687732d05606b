"""GoEmotions, the English baseline: 27 emotions + neutral, multi-label (sigmoid + BCE), with per-label
thresholds tuned on the dev split and the Ekman grouping scored too.

Files (no header): `<data-dir>/goemotions/original/{train,dev,test}.tsv` = text<TAB>label ids<TAB>comment id,
`original/labels.txt`, and `ekman_mapping.json`.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from moodpipe import paths
from moodpipe.aihub import limit_rows
from moodpipe.device import device_facts, is_main_process, precision_for
from moodpipe.files import require_file, write_csv_atomic, write_json_atomic, write_text_atomic
from moodpipe.finetune import EmotionTrainConfig, fine_tune_head
from moodpipe.metrics import (
    ekman_matrix,
    multilabel_macro_f1,
    multilabel_majority_baseline,
    multilabel_metrics,
    tune_thresholds,
)
from moodpipe.models import resolve_model
from moodpipe.predict import predict_logits, sigmoid
from moodpipe.report import goemotions_model_card
from moodpipe.training import library_versions, save_model_folder, tokenize_dataset

SEED_MODEL = "roberta-base"  # the seed's English baseline; offline, `auto` uses bundled MiniLM
SPLITS = {"train": "train", "val": "dev"}  # our split names -> the release's file names


def read_goemotions(data_dir: Path) -> tuple[dict[str, pd.DataFrame], list[str], dict]:
    """The original 28-label release: text<TAB>ids<TAB>comment id, no header; and the Ekman grouping."""
    root = Path(data_dir) / paths.GOEMOTIONS_DIR
    labels_path = require_file(root / "original" / "labels.txt", paths.HOW_TO_GET_GOEMOTIONS)
    names = [x.strip() for x in labels_path.read_text(encoding="utf-8").splitlines() if x.strip()]
    parts = {}
    for split in ("train", "dev", "test"):
        path = require_file(root / "original" / f"{split}.tsv", paths.HOW_TO_GET_GOEMOTIONS)
        df = pd.read_csv(path, sep="\t", header=None, names=["text", "ids", "comment_id"], dtype=str,
                         quoting=csv.QUOTE_NONE, keep_default_na=False)
        y = np.zeros((len(df), len(names)), dtype=np.float32)
        for i, ids in enumerate(df.ids):
            y[i, [int(k) for k in ids.split(",") if k]] = 1.0
        parts[split] = df.assign(y=list(y))
    mapping = require_file(root / "ekman_mapping.json", paths.HOW_TO_GET_GOEMOTIONS)
    return parts, names, json.loads(mapping.read_text(encoding="utf-8"))


def train_goemotions(cfg: EmotionTrainConfig, device: str) -> dict:
    """Fine-tune the multi-label head, tune thresholds on dev, score test; save like the Korean model."""
    from transformers import AutoTokenizer
    data_dir = paths.resolve_data_dir(cfg.data_dir)
    parts, names, ekman = read_goemotions(data_dir)
    parts = limit_rows(parts, cfg.max_train_rows, cfg.max_eval_rows, cfg.train.seed)
    resolved = resolve_model(cfg.model, "en", seed=SEED_MODEL)
    tokenizer = AutoTokenizer.from_pretrained(resolved.path)
    data = {ours: tokenize_dataset(tokenizer, parts[theirs].text.tolist(), [y.tolist() for y in parts[theirs].y],
                                   cfg.train.max_length) for ours, theirs in SPLITS.items()}
    data["train_labels"] = None
    head = cfg.head or "plain"
    trainer, model, facts = fine_tune_head(cfg, resolved, head, tokenizer, data, names, device, multi_label=True,
                                           compute_metrics=multilabel_macro_f1)
    precision = precision_for(device, cfg.train.bf16)
    probs = {s: sigmoid(predict_logits(model, tokenizer, parts[s].text.tolist(), max_length=cfg.train.max_length,
                                       precision=precision)) for s in ("dev", "test")}
    y = {s: np.stack(parts[s].y.to_numpy()).astype(int) for s in ("dev", "test")}
    thresholds = tune_thresholds(probs["dev"], y["dev"])
    pred = (probs["test"] >= thresholds).astype(int)
    metrics = {
        "task": "GoEmotions multi-label (27 emotions + neutral), sigmoid + BCE",
        "head": head, "base_model": resolved.as_dict(),
        "data": {"files": [str(data_dir / paths.GOEMOTIONS_DIR / "original" / f"{s}.tsv") for s in parts],
                 "rows": {s: len(v) for s, v in parts.items()}},
        "test": goemotions_test_metrics(y["test"], probs["test"], pred, names, ekman),
        "baselines": {"majority": multilabel_majority_baseline(np.stack(parts["train"].y.to_numpy()), y["test"],
                                                               names)},
        "thresholds": dict(zip(names, thresholds.tolist(), strict=True)),
        "threshold_selection": "per label, the dev-set F1 maximum over 0.02..0.98 in steps of 0.02",
        **{k: facts[k] for k in ("train_seconds", "epochs_run", "best_val_macro_f1", "frozen")},
        "bf16": precision == "bf16", "runtime": device_facts(device, precision),
        "hyper_parameters": {**asdict(cfg.train), "head": head, "lora": cfg.lora},
        "config": asdict(cfg), "versions": library_versions(),
    }
    save_goemotions(cfg, model, tokenizer, metrics, facts, parts["test"], pred, names)
    return metrics


def goemotions_test_metrics(y: np.ndarray, probs: np.ndarray, pred: np.ndarray, names: list[str],
                            ekman: dict) -> dict:
    groups, to_group = ekman_matrix(names, ekman)
    return {"labels28_tuned": multilabel_metrics(y, pred, names),
            "labels28_at_0.5": multilabel_metrics(y, (probs >= 0.5).astype(int), names),
            "ekman7_tuned": {"method": "a group is predicted when any of its labels is; neutral included",
                             **multilabel_metrics((y @ to_group) > 0, (pred @ to_group) > 0, groups)}}


def label_lists(rows: np.ndarray, names: list[str]) -> list[str]:
    return [",".join(names[j] for j in np.flatnonzero(r)) for r in rows]


def save_goemotions(cfg, model, tokenizer, metrics, facts, test, pred, names) -> Path:
    model_dir = paths.Layout(Path(cfg.out)).goemotions_model
    if not is_main_process():
        return model_dir
    save_model_folder(model_dir, model, tokenizer, metrics, facts["trainer_log"])
    write_json_atomic(model_dir / paths.THRESHOLDS, metrics["thresholds"])
    write_csv_atomic(model_dir / paths.TEST_PREDICTIONS, pd.DataFrame(
        {"comment_id": test.comment_id, "text": test.text, "labels": label_lists(np.stack(test.y.to_numpy()), names),
         "predicted": label_lists(pred, names)}))
    write_text_atomic(model_dir / paths.MODEL_CARD, goemotions_model_card(metrics))
    return model_dir
