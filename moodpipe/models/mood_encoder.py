"""The mood encoder: the untuned base encoder, tuned contrastively so that texts of one mood sit together.

The way SetFit tunes sentence-transformers: batches of a few labels x a few texts each, a supervised in-batch
contrastive loss (every other text of the same label is a positive, at temperature `tau`), mean pooling over
real tokens, one short epoch at a small learning rate. The encoder keeps what it knows about whole texts and
adds the moods; its mean-pooled chunks give the `mood` song vectors. The labels are the circumplex quadrants
of GoEmotions' emotions (moodpipe.data.circumplex), the four moods music listeners name; a multilingual
encoder carries them to Korean lyrics.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path

from moodpipe.files import atomic_folder, write_json_atomic
from moodpipe.models.inference import masked_mean
from moodpipe.runtime import SEED, Runtime, autocast, set_seed

log = logging.getLogger("pipeline")

MOOD_ENCODER = "mood_encoder"  # the folder beside a saved emotion model
TUNED_ON = "tuned_on.json"  # in that folder: which texts tuned it, per quadrant, from which base encoder


@dataclass(frozen=True)
class MoodEncoderConfig:
    texts: int = 3000  # texts seen in the one epoch (labels x per_label per batch)
    labels_per_batch: int = 4
    per_label: int = 8
    learning_rate: float = 3e-5
    tau: float = 0.1
    max_length: int = 64
    seed: int = SEED


def balanced_batches(texts_by_label: dict[str, list[str]], cfg: MoodEncoderConfig, rng: random.Random):
    """Batches of `labels_per_batch` labels x `per_label` texts, until `texts` texts were given; each label's
    texts are taken in a shuffled order, cycling when they run out."""
    order = {label: rng.sample(texts, len(texts)) for label, texts in texts_by_label.items()}
    taken = dict.fromkeys(order, 0)
    given = 0
    while given < cfg.texts:
        batch, labels = [], []
        for label in rng.sample(sorted(order), min(cfg.labels_per_batch, len(order))):
            for _ in range(cfg.per_label):
                batch.append(order[label][taken[label] % len(order[label])])
                labels.append(label)
                taken[label] += 1
        given += len(batch)
        yield batch, labels


def supervised_contrastive_loss(z, labels: list[str], tau: float):
    """Mean over anchors with a positive of -log softmax mass on its positives (rows of z unit length).

    >>> import torch
    >>> z = torch.nn.functional.normalize(torch.tensor([[1.0, 0], [0.9, 0.1], [0, 1.0], [0.1, 0.9]]), dim=1)
    >>> good = supervised_contrastive_loss(z, ["a", "a", "b", "b"], 0.1)
    >>> bad = supervised_contrastive_loss(z, ["a", "b", "a", "b"], 0.1)
    >>> bool(good < bad)
    True
    """
    import torch
    ids = {label: i for i, label in enumerate(dict.fromkeys(labels))}
    y = torch.tensor([ids[label] for label in labels])
    self_pair = torch.eye(len(labels), dtype=torch.bool)
    positive = (y[:, None] == y[None, :]) & ~self_pair
    logits = (z @ z.T / tau).masked_fill(self_pair, -1e9)
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    per_anchor = -(log_prob * positive).sum(1) / positive.sum(1).clamp(min=1)
    return per_anchor[positive.any(1)].mean()


def tune_mood_encoder(base_path: str, texts_by_label: dict[str, list[str]], out_dir: Path, runtime: Runtime,
                      cfg: MoodEncoderConfig = MoodEncoderConfig(), about: dict | None = None) -> Path:
    """Tune a copy of the base encoder on the labelled texts and save it (model + tokenizer, and `about`, what the
    texts are, as tuned_on.json) in out_dir."""
    import torch
    from transformers import AutoModel, AutoTokenizer
    set_seed(cfg.seed)
    encoder = AutoModel.from_pretrained(base_path).to(runtime.torch_device).train()
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    embeddings = encoder.get_input_embeddings().weight
    if embeddings.numel() > 0.5 * sum(p.numel() for p in encoder.parameters()):
        embeddings.requires_grad_(False)  # multilingual-e5: 96M of 118M weights are rows this data never touches
    optimizer = torch.optim.AdamW([p for p in encoder.parameters() if p.requires_grad], lr=cfg.learning_rate,
                                  weight_decay=0.01)
    from tqdm.auto import tqdm
    start, steps = time.time(), 0
    per_step = min(cfg.labels_per_batch, len(texts_by_label)) * cfg.per_label
    batches = balanced_batches(texts_by_label, cfg, random.Random(cfg.seed))
    for batch, labels in tqdm(batches, total=-(-cfg.texts // per_step), desc="mood encoder", unit="step"):
        enc = tokenizer(batch, truncation=True, max_length=cfg.max_length, padding=True, return_tensors="pt")
        enc = enc.to(runtime.torch_device)
        with autocast(runtime.device, runtime.precision):
            states = encoder(**enc).last_hidden_state
        z = torch.nn.functional.normalize(masked_mean(states, enc["attention_mask"]).float(), dim=-1)
        loss = supervised_contrastive_loss(z, labels, cfg.tau)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        steps += 1
    log.info("mood encoder: %d steps over %d labels in %.0f s (last loss %.3f) -> %s", steps, len(texts_by_label),
             time.time() - start, loss.item(), out_dir)
    with atomic_folder(out_dir) as tmp:
        encoder.eval().save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        if about is not None:
            write_json_atomic(tmp / TUNED_ON, about)
    return out_dir
