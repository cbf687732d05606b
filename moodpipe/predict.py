"""Batched prediction on whatever device the model sits on, and the functions that turn logits into
probabilities. Every command that predicts (test metrics, predict_sample.py, song scoring,
recommend.py --text) goes through predict_logits.

    >>> softmax(np.array([[0.0, 0.0]])).tolist()
    [[0.5, 0.5]]
    >>> sigmoid(np.array([0.0])).tolist()
    [0.5]
"""

from __future__ import annotations

import numpy as np

from moodpipe.device import autocast, inference_batch_size, model_device, to_model_device


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-logits))


def probabilities(model, logits: np.ndarray) -> np.ndarray:
    """Sigmoid for a multi-label model, softmax otherwise."""
    multi_label = getattr(model.config, "problem_type", None) == "multi_label_classification"
    return sigmoid(logits) if multi_label else softmax(logits)


def predict_logits(model, tokenizer, texts: list[str], batch_size: int | None = None, max_length: int = 128,
                   precision: str = "fp32", progress: bool = False) -> np.ndarray:
    """Logits for texts, in their order, as CPU float32. Each batch goes to the model's device under that
    device's autocast. Sorting by length first makes batches nearly pad-free (2.5-3x faster than random
    order on 2 CPU cores)."""
    import torch
    from tqdm.auto import tqdm

    device = model_device(model)
    batch_size = inference_batch_size(device, batch_size)
    enc = tokenizer(list(texts), truncation=True, max_length=max_length)
    order = np.argsort([len(ids) for ids in enc["input_ids"]], kind="stable")
    model.eval()
    out = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    for start in tqdm(range(0, len(order), batch_size), desc="predicting", disable=not progress, unit="batch"):
        idx = order[start:start + batch_size]
        batch = tokenizer.pad({k: [enc[k][i] for i in idx] for k in ("input_ids", "attention_mask")},
                              return_tensors="pt")
        with torch.inference_mode(), autocast(device, precision):
            out[idx] = model(**to_model_device(batch, model)).logits.float().cpu().numpy()
    return out
