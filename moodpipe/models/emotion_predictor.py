"""The saved emotion model as one predictor: a fine-tuned folder (the classifier and, when validation chose a
blend, its TF-IDF part) loaded once, and the chunking that lets it read texts longer than it was trained on.

A text is cut by line into chunks that fit the model, every chunk is scored, and the chunks' outputs are
averaged per text, weighted by their tokens. Song scoring, `recommend.py --text`, the test metrics and the
retrieval evaluation all go through `score_texts` / `load_emotion_predictor`.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from moodpipe import paths
from moodpipe.files import InputError, loading
from moodpipe.logs import quiet_transformers
from moodpipe.models.inference import (
    mean_pooled_embeddings,
    predict_logits,
    predict_logits_and_features,
    probabilities,
)
from moodpipe.models.mood_encoder import MOOD_ENCODER
from moodpipe.models.saved_folder import damaged_file_in, model_load_errors
from moodpipe.models.tfidf import blend, load_blend, tfidf_probabilities
from moodpipe.runtime import CPU, Runtime, model_device

log = logging.getLogger("pipeline")

# The vectors a predictor gives beside its probabilities: `features` (what the classifier sees), `generic`
# (the untuned base encoder's mean-pooled embedding, what anyone gets without fine-tuning) and `mood` (the mood
# encoder's, moodpipe.models.mood_encoder, when the folder holds one).
EMBEDDINGS = ("features", "generic", "mood")


@dataclass(frozen=True)
class EmotionPredictor:
    """A saved emotion folder as one predictor: the fine-tuned model, and the TF-IDF part it is blended with
    when validation chose a blend (moodpipe.models.tfidf). Songs, --text queries and test metrics all use it."""
    model: object
    tokenizer: object
    tfidf: object | None = None
    model_weight: float = 1.0
    base_model: str = ""  # the encoder it was fine-tuned from (base_model.json), for `generic` embeddings
    mood_encoder: str = ""  # the folder of its mood encoder, when it has one, for `mood` embeddings

    @property
    def label_names(self) -> list[str]:
        return [self.model.config.id2label[i] for i in range(self.model.config.num_labels)]

    def chunk_outputs(self, chunks: list[str], max_length: int, batch_size: int | None = None,
                      precision: str = "fp32", embeddings=False) -> dict[str, np.ndarray]:
        """Per chunk: `probs` (blended when the folder holds a blend), and the embeddings asked for (True: all
        the folder can give): `features` (the vector the classifier sees, from the same encoder pass), `generic`
        (the untuned base encoder's mean-pooled embedding, the baseline anyone could get without fine-tuning; a
        second pass) and `mood` (the mood encoder's, a third pass)."""
        wanted = EMBEDDINGS if embeddings is True else tuple(embeddings or ())
        run = dict(batch_size=batch_size, max_length=max_length, precision=precision, progress=len(chunks) > 500)
        if "features" in wanted:
            logits, features = predict_logits_and_features(self.model, self.tokenizer, chunks, **run)
            out = {"logits": logits, "features": features}
        else:
            out = {"logits": predict_logits(self.model, self.tokenizer, chunks, **run)}
        if "generic" in wanted:
            if self.base_model:
                encoder, tokenizer = base_encoder(self.base_model, str(model_device(self.model)))
                out["generic"] = mean_pooled_embeddings(encoder, tokenizer, chunks, **run)
            else:
                log.warning("scoring: the model folder records no base encoder (base_model.json), so there are "
                            "no `generic` embeddings")
        if "mood" in wanted and self.mood_encoder:
            encoder, tokenizer = base_encoder(self.mood_encoder, str(model_device(self.model)))
            out["mood"] = mean_pooled_embeddings(encoder, tokenizer, chunks, **run)
        tfidf = None if self.tfidf is None else tfidf_probabilities(self.tfidf, chunks, len(self.label_names))
        out["probs"] = blend(probabilities(self.model, out.pop("logits")), tfidf, self.model_weight)
        return out


def load_emotion_predictor(model_dir: str, device: str = "cpu") -> EmotionPredictor:
    """The predictor saved in a folder, on `device`, loaded once per process (again when it is retrained)."""
    folder = Path(model_dir)
    if not (folder / "config.json").is_file():
        raise InputError(f"no trained emotion model in {folder}: run `{rebuild_command(folder)}` first "
                         "or pass --model PATH")
    with loading(folder, rebuild_command(folder), model_load_errors(), locate=damaged_file_in):
        return _load_predictor(str(folder), device, saved_at(folder))


def saved_at(folder: Path) -> tuple[int, int]:
    """When the model and its mood encoder were last saved: a change of either loads the predictor again."""
    return config_saved_at(folder), config_saved_at(folder / MOOD_ENCODER)


def config_saved_at(folder: Path) -> int:
    """When the model in folder was last saved (its config.json's mtime; 0 when there is none)."""
    config = Path(folder) / "config.json"
    return config.stat().st_mtime_ns if config.is_file() else 0


def rebuild_command(folder: Path) -> str:
    """What retrains the model saved in folder (the English GoEmotions one has its own)."""
    return paths.REBUILD_GOEMOTIONS if folder.name == "goemotions" else paths.REBUILD_EMOTION


@functools.lru_cache(maxsize=2)
def _load_predictor(folder: str, device: str, when: tuple[int, int]) -> EmotionPredictor:
    from transformers import AutoTokenizer

    from moodpipe.models.heads import EmotionClassifier
    quiet_transformers()
    model = EmotionClassifier.from_pretrained(folder).to(device).eval()
    tfidf, weight = load_blend(Path(folder))
    base = Path(folder) / paths.BASE_MODEL
    base_path = json.loads(base.read_text(encoding="utf-8")).get("path", "") if base.is_file() else ""
    mood = Path(folder) / MOOD_ENCODER
    return EmotionPredictor(model, AutoTokenizer.from_pretrained(folder), tfidf, weight, base_path,
                            str(mood) if (mood / "config.json").is_file() else "")


def base_encoder(path: str, device: str) -> tuple:
    """A plain encoder and its tokenizer: the untuned one a model was fine-tuned from (`generic` embeddings), or
    its mood encoder (`mood`). Loaded once per process, and again when it is saved anew (a retuned mood encoder
    keeps its path)."""
    return _load_encoder(path, device, config_saved_at(Path(path)))


@functools.lru_cache(maxsize=2)
def _load_encoder(path: str, device: str, when: int) -> tuple:
    from transformers import AutoModel, AutoTokenizer
    quiet_transformers()
    try:
        return AutoModel.from_pretrained(path).to(device).eval(), AutoTokenizer.from_pretrained(path)
    except model_load_errors() as e:
        why = " ".join(str(e).split())[:160]
        raise InputError(f"the encoder {path} (for `generic` or `mood` embeddings) cannot be loaded "
                         f"({type(e).__name__}: {why}); score with --no-embeddings to skip them") from None


def pack_lengths(lengths: list[int], budget: int) -> list[list[int]]:
    """Greedy packing of consecutive items (lines) into chunks of at most `budget` tokens; an item longer
    than the budget gets a chunk of its own (and is truncated when encoded).

    >>> pack_lengths([3, 4, 2, 9], budget=8)
    [[0, 1], [2], [3]]
    """
    chunks, current, used = [], [], 0
    for i, n in enumerate(lengths):
        if current and used + n > budget:
            chunks.append(current)
            current, used = [], 0
        current.append(i)
        used += n
    return chunks + ([current] if current else [])


def chunk_texts(tokenizer, parts: list[tuple[list[str], str]], max_length: int) -> tuple[list[str], list[int],
                                                                                         list[int]]:
    """Pack each part's lines into chunks that fit max_length: (chunk texts, owning part, tokens per chunk)."""
    budget = max_length - tokenizer.num_special_tokens_to_add()
    flat = [u for units, _ in parts for u in units]
    lengths = [len(ids) for ids in tokenizer(flat, add_special_tokens=False)["input_ids"]] if flat else []
    texts, owner, tokens, pos = [], [], [], 0
    for k, (units, sep) in enumerate(parts):
        part_lengths = lengths[pos:pos + len(units)]
        for chunk in pack_lengths(part_lengths, budget):
            texts.append(sep.join(units[i] for i in chunk))
            owner.append(k)
            tokens.append(max(1, min(budget, sum(part_lengths[i] for i in chunk))))
        pos += len(units)
    return texts, owner, tokens


def weighted_part_vectors(probs: np.ndarray, owner: list[int], tokens: list[int], n_parts: int) -> np.ndarray:
    """Average chunk vectors (probabilities or embeddings) per part, weighted by each chunk's tokens."""
    out = np.zeros((n_parts, probs.shape[1]))
    weight = np.zeros(n_parts)
    np.add.at(out, owner, probs * np.asarray(tokens)[:, None])
    np.add.at(weight, owner, tokens)
    return out / np.maximum(weight, 1)[:, None]


def score_texts(model_dir, texts: list[str], runtime: Runtime = CPU, max_length: int | None = None,
                batch_size: int | None = None, embeddings=False):
    """Emotion probabilities (n, num_labels) for free texts, chunked by line exactly like the lyrics; with
    embeddings (True, or the names wanted), a dict of `probs` and those (n, width) arrays.

    The model is loaded once and cached (recommend.py calls this for --text queries), on the runtime's device
    (the command's RunContext; a library caller that names none gets the CPU in fp32)."""
    predictor = load_emotion_predictor(str(model_dir), runtime.torch_device)
    max_length = max_length or predictor.model.config.train_max_length
    parts = [([x.strip() for x in str(t).splitlines() if x.strip()] or [str(t)], "\n") for t in texts]
    chunks, owner, tokens = chunk_texts(predictor.tokenizer, parts, max_length)
    outputs = predictor.chunk_outputs(chunks, max_length, batch_size, runtime.precision, embeddings)
    vectors = {name: weighted_part_vectors(x, owner, tokens, len(texts)) for name, x in outputs.items()}
    return vectors if embeddings else vectors["probs"]


