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

from moodpipe.runtime import autocast, inference_batch_size, model_device, to_model_device


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
    device's autocast. Sorting by length first makes batches nearly pad-free (bench/predict_speed.py
    measures the gain over random order)."""
    return predict_batches(lambda batch: model(**batch).logits, model, tokenizer, texts, batch_size, max_length,
                           precision, progress)[0]


def predict_logits_and_features(model, tokenizer, texts: list[str], batch_size: int | None = None,
                                max_length: int = 128, precision: str = "fp32", progress: bool = False) -> tuple:
    """(logits, features) of an EmotionClassifier: the features are the vector its classifier sees."""
    if not texts:
        return np.zeros((0, model.config.num_labels), np.float32), np.zeros((0, model.classifier.in_features),
                                                                             np.float32)
    return predict_batches(lambda batch: model.logits_and_features(**batch), model, tokenizer, texts, batch_size,
                           max_length, precision, progress)


def masked_mean(states, attention_mask):
    """Mean over real tokens only: PAD positions count neither in the sum nor in the divisor.

    >>> import torch
    >>> masked_mean(torch.tensor([[[1.0], [3.0], [100.0]]]), torch.tensor([[1, 1, 0]]))
    tensor([[2.]])
    """
    mask = attention_mask.unsqueeze(-1).to(states.dtype)
    return (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def mean_pooled_embeddings(encoder, tokenizer, texts: list[str], batch_size: int | None = None,
                           max_length: int = 128, precision: str = "fp32", progress: bool = False) -> np.ndarray:
    """A plain encoder's sentence vectors: the mean of its last layer over real tokens (PAD excluded)."""
    def pooled(batch):
        return masked_mean(encoder(**batch, return_dict=True).last_hidden_state, batch["attention_mask"])
    return predict_batches(pooled, encoder, tokenizer, texts, batch_size, max_length, precision, progress)[0]


def predict_batches(step, model, tokenizer, texts: list[str], batch_size: int | None, max_length: int,
                    precision: str, progress: bool) -> tuple[np.ndarray, ...]:
    """Run `step` (a batch -> one tensor or a tuple of tensors) over texts sorted by length; the outputs come
    back in the texts' order as CPU float32 arrays."""
    import torch
    from tqdm.auto import tqdm

    device = model_device(model)
    batch_size = inference_batch_size(device, batch_size)
    enc = tokenizer(list(texts), truncation=True, max_length=max_length)
    order = np.argsort([len(ids) for ids in enc["input_ids"]], kind="stable")
    model.eval()
    outputs: list[np.ndarray] = []
    for start in tqdm(range(0, len(order), batch_size), desc="predicting", disable=not progress, unit="batch"):
        idx = order[start:start + batch_size]
        batch = tokenizer.pad({k: [enc[k][i] for i in idx] for k in ("input_ids", "attention_mask")},
                              return_tensors="pt")
        with torch.inference_mode(), autocast(device, precision):
            result = step(to_model_device(batch, model))
        for j, tensor in enumerate(result if isinstance(result, tuple) else (result,)):
            if j == len(outputs):
                outputs.append(np.zeros((len(texts), tensor.shape[-1]), dtype=np.float32))
            outputs[j][idx] = tensor.float().cpu().numpy()
    if not outputs:  # no texts: the caller still gets (0, width) arrays where the width is known
        outputs = [np.zeros((0, getattr(model.config, "num_labels", 0)), dtype=np.float32)]
    return tuple(outputs)
