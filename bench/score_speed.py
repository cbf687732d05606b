"""Scoring speed: today's path (PyTorch, length-sorted batches, the device's precision) against ONNX Runtime with
dynamic int8 weights, on the same songs in one run, and whether the songs keep their nearest neighbours.

    python bench/score_speed.py --model OUT/saved_model/emotion --data-dir data [--songs 400]

Both paths read the scoring stage's chunks of the first --songs songs of the lyrics CSV and compute its two
passes: the fine-tuned classifier's `features` and the mood encoder's mean-pooled `mood` embedding. Each song's
vector is the token-weighted mean of its chunks, as in results/song_emotions.embeddings.npz; then the top-10
neighbours of every song among these songs (centred, cosine) are compared with an fp32 PyTorch reference: the
mean overlap of the two top-10 lists, and the share of songs whose top-10 set is identical. Today's path on
this machine is printed against the same reference, so the int8 loss can be read against bf16's own.
Prints seconds per path, the speed ratio, and the neighbour agreement of each pass.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moodpipe import paths  # noqa: E402
from moodpipe.context import add_run_options, run_context  # noqa: E402
from moodpipe.files import read_csv_checked  # noqa: E402
from moodpipe.models.emotion_predictor import (  # noqa: E402
    base_encoder,
    chunk_texts,
    load_emotion_predictor,
    weighted_part_vectors,
)
from moodpipe.models.inference import masked_mean  # noqa: E402

PASSES = ("features", "mood")
K = 10


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="a saved Korean emotion model folder with its mood encoder")
    p.add_argument("--songs", type=int, default=400, help="songs from the lyrics CSV (default: 400)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size for both paths (default: 64)")
    add_run_options(p, out=None, seed=False)
    return p.parse_args()


def song_chunks(predictor, data_dir: Path, n_songs: int) -> tuple[list[str], list[int], list[int], int]:
    """The scoring stage's chunks of the first songs with lyrics (lines packed into the model's max length)."""
    songs = read_csv_checked(paths.find_lyrics(data_dir), paths.HOW_TO_GET_LYRICS)
    lyrics = songs.lyrics.fillna("").astype(str)
    lyrics = lyrics[lyrics.str.strip() != ""].head(n_songs)
    parts = [([x.strip() for x in t.splitlines() if x.strip()], "\n") for t in lyrics]
    chunks, owner, tokens = chunk_texts(predictor.tokenizer, parts, predictor.model.config.train_max_length)
    return chunks, owner, tokens, len(lyrics)


def torch_passes(predictor, chunks: list[str], precision: str, batch: int) -> dict[str, np.ndarray]:
    """Today's path: the predictor's own chunk_outputs."""
    max_length = predictor.model.config.train_max_length
    out = predictor.chunk_outputs(chunks, max_length, batch, precision, embeddings=PASSES)
    return {name: out[name] for name in PASSES}


class FeaturesOnly(torch.nn.Module):
    """The classifier's forward as the scoring stage uses it: the features of one encoder pass."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model.logits_and_features(input_ids, attention_mask)[1]


class MeanPooled(torch.nn.Module):
    """A plain encoder's mean over real tokens, as `mood` embeddings are made."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids, attention_mask):
        return masked_mean(self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state,
                           attention_mask)


def int8_session(module, tokenizer, folder: Path, name: str):
    """Export a module to ONNX (dynamic batch and length), quantize its weights to int8 per channel, and open it."""
    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic
    example = tokenizer(["an example", "a second, longer example"], padding=True, return_tensors="pt")
    axes = {0: "batch", 1: "length"}
    fp32, int8 = folder / f"{name}.onnx", folder / f"{name}.int8.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example["input_ids"], example["attention_mask"]), str(fp32), dynamo=False,
                          input_names=["input_ids", "attention_mask"], output_names=["out"], opset_version=17,
                          dynamic_axes={"input_ids": axes, "attention_mask": axes, "out": {0: "batch"}})
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    return onnxruntime.InferenceSession(str(int8), providers=["CPUExecutionProvider"])


def onnx_pass(session, tokenizer, chunks: list[str], max_length: int, batch: int) -> np.ndarray:
    """Length-sorted batches through an ONNX session, outputs back in the chunks' order."""
    enc = tokenizer(chunks, truncation=True, max_length=max_length)
    order = np.argsort([len(ids) for ids in enc["input_ids"]], kind="stable")
    out = None
    for start in range(0, len(order), batch):
        idx = order[start:start + batch]
        padded = tokenizer.pad({k: [enc[k][i] for i in idx] for k in ("input_ids", "attention_mask")},
                               return_tensors="np")
        result = session.run(None, {k: padded[k].astype(np.int64) for k in ("input_ids", "attention_mask")})[0]
        out = np.zeros((len(chunks), result.shape[1]), np.float32) if out is None else out
        out[idx] = result
    return out


def onnx_passes(predictor, chunks: list[str], batch: int, folder: Path) -> tuple[dict[str, np.ndarray], float]:
    """The two passes through int8 ONNX Runtime; returns them and the export + quantization seconds."""
    start = time.perf_counter()
    encoder, tokenizer = base_encoder(predictor.mood_encoder, "cpu")
    features = int8_session(FeaturesOnly(predictor.model).eval(), predictor.tokenizer, folder, "features")
    mood = int8_session(MeanPooled(encoder).eval(), tokenizer, folder, "mood")
    sessions = {"features": (features, predictor.tokenizer), "mood": (mood, tokenizer)}
    exported = time.perf_counter() - start
    max_length = predictor.model.config.train_max_length
    return {name: onnx_pass(s, tok, chunks, max_length, batch) for name, (s, tok) in sessions.items()}, exported


def neighbours(chunk_vectors: np.ndarray, owner: list[int], tokens: list[int], n_songs: int) -> np.ndarray:
    """Each song's top-K other songs by cosine of its centred, token-weighted mean vector."""
    songs = weighted_part_vectors(chunk_vectors, owner, tokens, n_songs)
    songs = songs - songs.mean(0)
    songs /= np.maximum(np.linalg.norm(songs, axis=1, keepdims=True), 1e-12)
    sims = songs @ songs.T
    np.fill_diagonal(sims, -np.inf)
    return np.argsort(-sims, axis=1, kind="stable")[:, :K]


def agreement(reference: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """(mean overlap of the top-K lists, share of songs with the identical top-K set)."""
    same = [len(set(a) & set(b)) for a, b in zip(reference, other, strict=True)]
    return float(np.mean(same)) / K, float(np.mean([s == K for s in same]))


def timed(run, *args):
    start = time.perf_counter()
    return run(*args), time.perf_counter() - start


def main() -> None:
    args = parse_args()
    ctx = run_context(args)
    predictor = load_emotion_predictor(args.model, "cpu")
    if not predictor.mood_encoder:
        raise SystemExit(f"{args.model} has no mood encoder: run `python lyrics_emotion.py mood` first")
    chunks, owner, tokens, n_songs = song_chunks(predictor, ctx.data_dir, args.songs)
    print(f"{n_songs} songs, {len(chunks)} chunks, {sum(tokens)} tokens; today's precision: {ctx.runtime.precision}")
    reference, fp32_s = timed(torch_passes, predictor, chunks, "fp32", args.batch_size)
    today, today_s = timed(torch_passes, predictor, chunks, ctx.runtime.precision, args.batch_size)
    with tempfile.TemporaryDirectory() as folder:
        (int8, exported), int8_s = timed(onnx_passes, predictor, chunks, args.batch_size, Path(folder))
    int8_s -= exported
    print(f"PyTorch fp32: {fp32_s:.1f} s; today's path (PyTorch {ctx.runtime.precision}): {today_s:.1f} s; "
          f"ONNX Runtime int8: {int8_s:.1f} s (+{exported:.1f} s export and quantization, once per model)")
    print(f"speed-up of int8 over today's path: {today_s / int8_s:.2f}x; "
          f"today's path over fp32: {fp32_s / today_s:.2f}x")
    for name in PASSES:
        ref = neighbours(reference[name], owner, tokens, n_songs)
        for label, vectors in ((f"today ({ctx.runtime.precision})", today[name]), ("int8", int8[name])):
            overlap, identical = agreement(ref, neighbours(vectors, owner, tokens, n_songs))
            print(f"`{name}` {label} vs fp32: top-{K} overlap {overlap:.3f}, identical top-{K} sets {identical:.3f}")


if __name__ == "__main__":
    main()
