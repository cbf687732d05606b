"""A saved sentiment classifier, loaded once, that labels any sentences: what predict_sample.py serves.

    predictor = load_predictor("saved_model/sentiment")
    predict_sentences(predictor, ["Love the playlists"])[0]["label"]   # 'positive'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from moodpipe.device import precision_for, process_device, resolve_device
from moodpipe.files import InputError
from moodpipe.predict import predict_logits, softmax

PRECISION_CHOICES = {"auto": "auto", "bf16": "yes", "fp32": "no"}  # --precision -> the device policy's --bf16


@dataclass(frozen=True)
class Predictor:
    model: object
    tokenizer: object
    labels: list[str]
    precision: str
    max_length: int


def load_predictor(model_dir: str | Path, precision: str = "auto", max_length: int = 128,
                   device: str = "auto") -> Predictor:
    """Load a saved classifier once; precision auto|bf16|fp32 (auto: bf16 where the device runs it natively)."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise InputError(f"no trained model in {model_dir}: run `python mobilebert_project.py` first "
                         "(or pass --model FOLDER)")
    device = resolve_device(device)
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()  # a weight-loading bar would drown a one-line answer
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).to(process_device(device))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    return Predictor(model.eval(), tokenizer, labels, precision_for(device, PRECISION_CHOICES[precision]), max_length)


def predict_sentences(predictor: Predictor, sentences: list[str], batch_size: int | None = None) -> list[dict]:
    """[{text, label, probability, probabilities}] in the order given."""
    logits = predict_logits(predictor.model, predictor.tokenizer, sentences, batch_size=batch_size,
                            max_length=predictor.max_length, precision=predictor.precision,
                            progress=len(sentences) > 1000)
    probs = softmax(logits)
    return [{"text": text, "label": predictor.labels[int(p.argmax())], "probability": round(float(p.max()), 4),
             "probabilities": {name: round(float(v), 4) for name, v in zip(predictor.labels, p, strict=True)}}
            for text, p in zip(sentences, probs, strict=True)]
