"""A saved sentiment classifier, loaded once, that labels any sentences: what predict_sample.py serves.

Two runtimes give the same labels: PyTorch on any device, and ONNX Runtime on a CPU, which needs neither
torch nor transformers at start-up (a first answer in about a second instead of several). The sentiment
stage exports `model.onnx` beside the weights; `runtime="auto"` uses it on a CPU when it is there.

    predictor = load_predictor("saved_model/sentiment")
    predict_sentences(predictor, ["Love the playlists"])[0]["label"]   # 'positive'
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from moodpipe.files import DAMAGED_FILE_ERRORS, SHARED_FILE, InputError, loading
from moodpipe.logs import quiet_transformers
from moodpipe.models.saved_folder import (
    WEIGHTS_HASH,
    check_derived,
    damaged_file_in,
    label_names,
    model_load_errors,
    position_limit,
    weights_digest,
)
from moodpipe.paths import ONNX_MODEL, REBUILD_SENTIMENT
from moodpipe.runtime import CPU, Runtime

ENGINES = ("auto", "torch", "onnx")  # predict_sample.py --runtime


@dataclass(frozen=True)
class Predictor:
    """PyTorch: a transformers model and tokenizer on their device."""
    model: object
    tokenizer: object
    labels: list[str]
    precision: str
    max_length: int


@dataclass(frozen=True)
class OnnxPredictor:
    """ONNX Runtime: an inference session and a `tokenizers` tokenizer, on the CPU, in fp32."""
    session: object
    tokenizer: object
    labels: list[str]
    pad_id: int
    max_length: int
    precision: str = "fp32"


DEFAULT_MAX_LENGTH = 128  # tokens per sentence, unless the model takes fewer


def load_predictor(model_dir: str | Path, runtime: Runtime = CPU, max_length: int | None = None, engine: str = "auto",
                   precision_option: str = "auto") -> Predictor | OnnxPredictor:
    """Load a saved classifier once, on the command's runtime (device and precision). engine auto|torch|onnx
    (auto: ONNX Runtime, which runs fp32, when the folder has model.onnx, the runtime is the CPU and the
    --precision asked for was auto or fp32)."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise InputError(f"no trained model in {model_dir}: run `{REBUILD_SENTIMENT}` first (or pass --model FOLDER)")
    if engine not in ENGINES:
        raise InputError(f"--runtime must be one of {', '.join(ENGINES)}, not {engine!r}")
    limit = position_limit(model_dir, REBUILD_SENTIMENT)
    max_length = max_length or min(DEFAULT_MAX_LENGTH, limit or DEFAULT_MAX_LENGTH)
    if limit is not None and max_length > limit:
        raise InputError(f"--max-length {max_length} is more than the {limit} tokens the model in {model_dir} can "
                         f"take; pass --max-length {limit} or less")
    if engine == "onnx" or (engine == "auto" and wants_onnx(model_dir, runtime, precision_option)):
        return load_onnx_predictor(model_dir, max_length)
    return load_torch_predictor(model_dir, runtime, max_length)


def wants_onnx(model_dir: Path, runtime: Runtime, precision_option: str) -> bool:
    """ONNX Runtime for a CPU run unless bf16 was asked for: no torch to import (most of a cold start)."""
    return (runtime.device == "cpu" and precision_option in ("auto", "fp32")
            and (model_dir / ONNX_MODEL).is_file())


def load_torch_predictor(model_dir: Path, runtime: Runtime, max_length: int) -> Predictor:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    quiet_transformers()  # a weight-loading bar would drown a one-line answer
    with loading(model_dir, REBUILD_SENTIMENT, model_load_errors(), locate=damaged_file_in):
        model = AutoModelForSequenceClassification.from_pretrained(model_dir).to(runtime.torch_device)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
    return Predictor(model.eval(), tokenizer, label_names(model_dir, REBUILD_SENTIMENT), runtime.precision, max_length)


def load_onnx_predictor(model_dir: Path, max_length: int) -> OnnxPredictor:
    onnx_file = model_dir / ONNX_MODEL
    if not onnx_file.is_file():
        raise InputError(f"no {ONNX_MODEL} in {model_dir}: retrain with `python mobilebert_project.py` (it exports "
                         "one), or use --runtime torch")
    import onnxruntime
    from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors
    from tokenizers import Tokenizer
    labels = label_names(model_dir, REBUILD_SENTIMENT)
    with loading(model_dir / "config.json", REBUILD_SENTIMENT):
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    # tokenizers reports a malformed tokenizer.json as a bare Exception: the narrowest class it gives
    with loading(model_dir / "tokenizer.json", REBUILD_SENTIMENT, (Exception,)):
        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(max_length)
    tokenizer.no_padding()
    with loading(onnx_file, REBUILD_SENTIMENT, (ort_errors.InvalidProtobuf, ort_errors.InvalidGraph,
                                                ort_errors.Fail, ort_errors.NoSuchFile, ort_errors.InvalidArgument,
                                                ort_errors.RuntimeException, *DAMAGED_FILE_ERRORS)):
        session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    check_derived(onnx_file, session.get_modelmeta().custom_metadata_map.get(WEIGHTS_HASH), model_dir,
                  REBUILD_SENTIMENT)
    return OnnxPredictor(session, tokenizer, labels, int(config.get("pad_token_id") or 0), max_length)


def onnx_logits(predictor: OnnxPredictor, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Logits in the order given; length-sorted batches, padded to their longest, like predict_logits."""
    ids = [e.ids for e in predictor.tokenizer.encode_batch(list(texts))]
    order = np.argsort([len(x) for x in ids], kind="stable")
    out = np.zeros((len(texts), len(predictor.labels)), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        width = max(len(ids[i]) for i in idx)
        input_ids = np.full((len(idx), width), predictor.pad_id, dtype=np.int64)
        mask = np.zeros((len(idx), width), dtype=np.int64)
        for row, i in enumerate(idx):
            input_ids[row, :len(ids[i])], mask[row, :len(ids[i])] = ids[i], 1
        out[idx] = predictor.session.run(["logits"], {"input_ids": input_ids, "attention_mask": mask})[0]
    return out


def predict_sentences(predictor: Predictor | OnnxPredictor, sentences: list[str],
                      batch_size: int | None = None) -> list[dict]:
    """[{text, label, probability, probabilities}] in the order given."""
    from moodpipe.models.inference import softmax
    if isinstance(predictor, OnnxPredictor):
        logits = onnx_logits(predictor, sentences, batch_size or 64)
    else:
        from moodpipe.models.inference import predict_logits
        logits = predict_logits(predictor.model, predictor.tokenizer, sentences, batch_size=batch_size,
                                max_length=predictor.max_length, precision=predictor.precision,
                                progress=len(sentences) > 1000)
    probs = softmax(logits)
    return [{"text": text, "label": predictor.labels[int(p.argmax())], "probability": round(float(p.max()), 4),
             "probabilities": {name: round(float(v), 4) for name, v in zip(predictor.labels, p, strict=True)}}
            for text, p in zip(sentences, probs, strict=True)]


def export_onnx(model_dir: Path) -> Path | None:
    """Write model_dir/model.onnx (fp32, CPU, dynamic batch and length) from the saved classifier, loaded
    afresh (a model straight from the Trainer may carry mixed-precision wrappers that the exporter cannot
    trace). A failed export is logged, not fatal: predict_sample.py then runs PyTorch."""
    try:
        return _export_onnx(Path(model_dir))
    except Exception as e:  # noqa: BLE001 (any exporter failure leaves the model usable through PyTorch)
        logging.getLogger("pipeline").warning("ONNX export failed (%s: %s); predict_sample.py will use PyTorch",
                                              type(e).__name__, str(e)[:200])
        return None


def _export_onnx(model_dir: Path) -> Path:
    import onnx
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    cpu_model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    example = tokenizer(["an example", "a second, longer example sentence"], padding=True, return_tensors="pt")
    fd, tmp = tempfile.mkstemp(dir=model_dir, prefix=f".{ONNX_MODEL}.", suffix=".tmp")
    os.close(fd)
    axes = {0: "batch", 1: "length"}
    try:
        with warnings.catch_warnings():  # the tracer's notes on Python conditionals concern its graph, not users
            warnings.simplefilter("ignore")
            torch.onnx.export(cpu_model, (example["input_ids"], example["attention_mask"]), tmp, dynamo=False,
                              input_names=["input_ids", "attention_mask"], output_names=["logits"],
                              opset_version=17,
                              dynamic_axes={"input_ids": axes, "attention_mask": axes, "logits": {0: "batch"}})
        graph = onnx.load(tmp)  # stamped with the weights it came from: load_onnx_predictor checks it
        onnx.helper.set_model_props(graph, {WEIGHTS_HASH: weights_digest(model_dir)})
        onnx.save(graph, tmp)
        os.chmod(tmp, SHARED_FILE)
        os.replace(tmp, model_dir / ONNX_MODEL)
    finally:
        Path(tmp).unlink(missing_ok=True)
    logging.getLogger("pipeline").info("exported %s (%.0f MB) for predict_sample.py's fast start",
                                       model_dir / ONNX_MODEL, (model_dir / ONNX_MODEL).stat().st_size / 2**20)
    return model_dir / ONNX_MODEL
