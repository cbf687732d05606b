"""The GoEmotions stage, the English baseline: 27 emotions + neutral, multi-label (sigmoid + BCE), with per-label
thresholds tuned on the dev split and the Ekman grouping scored too.

Files (no header): `<data-dir>/goemotions/original/{train,dev,test}.tsv` = text<TAB>label ids<TAB>comment id,
`original/labels.txt`, and `ekman_mapping.json`.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from moodpipe import paths
from moodpipe.data.aihub import limit_rows
from moodpipe.data.goemotions import read_goemotions
from moodpipe.models.emotion_finetune import EmotionTrainConfig
from moodpipe.models.metrics import ekman_matrix, multilabel_majority_baseline, multilabel_metrics
from moodpipe.models.training import library_versions
from moodpipe.models.weights import resolve_model
from moodpipe.report.documents import goemotions_model_card
from moodpipe.runtime import Runtime
from moodpipe.stages.multilabel import THRESHOLD_SELECTION, fine_tune_multilabel, save_multilabel

SEED_MODEL = "roberta-base"  # the seed's English baseline; offline, `auto` uses bundled MiniLM


def train_goemotions(cfg: EmotionTrainConfig, runtime: Runtime) -> dict:
    """Fine-tune the multi-label head, tune thresholds on dev, score test; save like the Korean model."""
    data_dir = paths.resolve_data_dir(cfg.data_dir)
    parts, names, ekman = read_goemotions(data_dir)
    parts = limit_rows(parts, cfg.max_train_rows, cfg.max_eval_rows, cfg.train.seed)
    resolved = resolve_model(cfg.model, "en", seed=SEED_MODEL)
    fit = fine_tune_multilabel(cfg, resolved, parts, names, runtime)
    y, facts, head = fit.y, fit.facts, fit.head
    metrics = {
        "task": "GoEmotions multi-label (27 emotions + neutral), sigmoid + BCE",
        "head": head, "base_model": resolved.as_dict(),
        "data": {"files": [str(data_dir / paths.GOEMOTIONS_DIR / "original" / f"{s}.tsv") for s in parts],
                 "rows": {s: len(v) for s, v in parts.items()}},
        "test": goemotions_test_metrics(y["test"], fit.probs["test"], fit.pred, names, ekman),
        "baselines": {"majority": multilabel_majority_baseline(np.stack(parts["train"].y.to_numpy()), y["test"],
                                                               names)},
        "thresholds": dict(zip(names, fit.thresholds.tolist(), strict=True)),
        "threshold_selection": THRESHOLD_SELECTION,
        **{k: facts[k] for k in ("train_seconds", "epochs_run", "best_val_macro_f1", "frozen")},
        "bf16": runtime.precision == "bf16", "runtime": runtime.facts(),
        "hyper_parameters": {**asdict(cfg.train), "head": head, "lora": cfg.lora},
        "config": asdict(cfg), "versions": library_versions(),
    }
    save_multilabel(paths.Layout(Path(cfg.out)).goemotions_model, fit, metrics, parts["test"], names,
                    goemotions_model_card(metrics))
    return metrics


def goemotions_test_metrics(y: np.ndarray, probs: np.ndarray, pred: np.ndarray, names: list[str],
                            ekman: dict) -> dict:
    groups, to_group = ekman_matrix(names, ekman)
    return {"labels28_tuned": multilabel_metrics(y, pred, names),
            "labels28_at_0.5": multilabel_metrics(y, (probs >= 0.5).astype(int), names),
            "ekman7_tuned": {"method": "a group is predicted when any of its labels is; neutral included",
                             **multilabel_metrics((y @ to_group) > 0, (pred @ to_group) > 0, groups)}}
