"""The GoEmotions stage, the English baseline: 27 emotions + neutral, multi-label (sigmoid + BCE), with per-label
thresholds tuned on the dev split and the Ekman grouping scored too.

Files (no header): `<data-dir>/goemotions/original/{train,dev,test}.tsv` = text<TAB>label ids<TAB>comment id,
`original/labels.txt`, and `ekman_mapping.json`.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from moodpipe import paths
from moodpipe.context import RunContext
from moodpipe.contract import BEST_VAL_MACRO_F1, EKMAN7_TUNED, LABELS28_AT_HALF, LABELS28_TUNED, MAJORITY
from moodpipe.data.aihub import limit_rows
from moodpipe.data.goemotions import read_goemotions
from moodpipe.models.emotion_finetune import EmotionTrainConfig
from moodpipe.models.metrics import ekman_matrix, multilabel_majority_baseline, multilabel_metrics
from moodpipe.models.training import library_versions
from moodpipe.models.weights import resolve_model
from moodpipe.report.documents import goemotions_model_card
from moodpipe.stages.multilabel import THRESHOLD_SELECTION, fine_tune_multilabel, save_multilabel

SEED_MODEL = "roberta-base"  # the original design's English baseline; offline, `auto` uses bundled MiniLM


def train_goemotions(ctx: RunContext, cfg: EmotionTrainConfig) -> dict:
    """Fine-tune the multi-label head, tune thresholds on dev, score test; save like the Korean model."""
    data_dir, runtime = ctx.data_dir, ctx.runtime
    parts, names, ekman = read_goemotions(data_dir)
    parts = limit_rows(parts, cfg.max_train_rows, cfg.max_eval_rows, ctx.seed)
    resolved = resolve_model(cfg.model, "en", seed=SEED_MODEL)
    fit = fine_tune_multilabel(ctx, cfg, resolved, parts, names)
    y, facts, head = fit.y, fit.facts, fit.head
    metrics = {
        "task": "GoEmotions multi-label (27 emotions + neutral), sigmoid + BCE",
        "head": head, "base_model": resolved.as_dict(),
        "data": {"files": [str(data_dir / paths.GOEMOTIONS_DIR / "original" / f"{s}.tsv") for s in parts],
                 "rows": {s: len(v) for s, v in parts.items()}},
        "test": goemotions_test_metrics(y["test"], fit.probs["test"], fit.pred, names, ekman),
        "baselines": {MAJORITY: multilabel_majority_baseline(np.stack(parts["train"].y.to_numpy()), y["test"],
                                                             names)},
        "thresholds": dict(zip(names, fit.thresholds.tolist(), strict=True)),
        "threshold_selection": THRESHOLD_SELECTION,
        **{k: facts[k] for k in ("train_seconds", "epochs_run", BEST_VAL_MACRO_F1, "frozen")},
        "bf16": runtime.precision == "bf16", "runtime": runtime.facts(),
        "hyper_parameters": {**asdict(cfg.train), "seed": ctx.seed, "head": head, "lora": cfg.lora},
        "config": asdict(cfg), "context": ctx.settings(), "versions": library_versions(),
    }
    save_multilabel(ctx.layout.goemotions_model, fit, metrics, parts["test"], names,
                    goemotions_model_card(metrics))
    return metrics


def goemotions_test_metrics(y: np.ndarray, probs: np.ndarray, pred: np.ndarray, names: list[str],
                            ekman: dict) -> dict:
    groups, to_group = ekman_matrix(names, ekman)
    return {LABELS28_TUNED: multilabel_metrics(y, pred, names),
            LABELS28_AT_HALF: multilabel_metrics(y, (probs >= 0.5).astype(int), names),
            EKMAN7_TUNED: {"method": "a group is predicted when any of its labels is; neutral included",
                             **multilabel_metrics((y @ to_group) > 0, (pred @ to_group) > 0, groups)}}
