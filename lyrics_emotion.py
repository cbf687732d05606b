"""Korean emotion classifier (AI-Hub 감성 대화 말뭉치, 60 labels) and per-song emotion vectors.

    python lyrics_emotion.py train --data-dir ../shared/data                       # arch2 head, dialogue level
    python lyrics_emotion.py train --data-dir ../shared/data --compare             # plain, arch1, arch2 on one split
    python lyrics_emotion.py train --data-dir ../shared/data --unit sentence --head plain
    python lyrics_emotion.py train --dataset goemotions --data-dir ../shared/data  # English multi-label baseline
    python lyrics_emotion.py train --dataset goemotions --data-dir ../shared/data --lora --lora-r 8
    python lyrics_emotion.py score --lyrics ../shared/data/lyrics/melon_songs_2000_2023.csv --halves

A label is the (major, sub) pair, named `<major>/<sub>` (`분노/툴툴대는`, `당황/고립된(당황)`): 60 labels
in E-code order, from which the 6 major classes follow. Dialogues are split 80/10/10 (stratified by
label, seeded) before they are cut into units, so a dialogue never sits on two sides. By default the
training side also gets each human sentence alone (--no-add-sentences to turn that off).
Outputs (under --out, default the repository root):
    data/processed/emotion_{train,val,test}.csv   the split exactly as used
    saved_model/emotion/                          model + tokenizer, metrics.json, README.md, trainer_log.json,
                                                  test_predictions.csv, label_similarity.csv,
                                                  head_comparison.{json,md} (--compare)
    saved_model/goemotions/                       the same for --dataset goemotions (+ thresholds.json)
    results/song_emotions.csv                     score: one 60+6 column vector per song
    results/song_halves.csv                       score --halves: first/second half of each song
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import logging
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from common import (
    InputError,
    classification_metrics,
    library_versions,
    majority_baseline,
    read_csv_checked,
    require_columns,
    require_file,
    resolve_data_dir,
    run_cli,
    set_seed,
    tfidf_baseline,
    write_csv_atomic,
    write_json_atomic,
    write_text_atomic,
)
from emotion_heads import HEADS, EmotionClassifier, build_emotion_model, freeze_word_embeddings, merge_used_rows
from models import (
    TrainConfig,
    predict_logits,
    resolve_model,
    save_model_folder,
    tokenize_dataset,
    train_classifier,
    use_bf16,
)

log = logging.getLogger("pipeline")

CORPUS_DIR = "emotion_corpus"
CODEBOOK = "emotion_corpus/emotion_label_map_E10_E69.csv"
HOW_TO_GET_CORPUS = ("register at aihub.or.kr, download the data set '감성 대화 말뭉치' and put its xlsx or json "
                     f"files in <data-dir>/{CORPUS_DIR}/ (or pass --corpus PATH)")
HUMAN_COLUMNS = ["사람문장1", "사람문장2", "사람문장3"]
MAJOR_COLUMN, SUB_COLUMN = "감정_대분류", "감정_소분류"
GOEMOTIONS_DIR = "goemotions"
GOEMOTIONS_SEED_MODEL = "roberta-base"  # the seed's English baseline; offline, `auto` uses bundled MiniLM
HOW_TO_GET_GOEMOTIONS = ("download data/original/{train,dev,test}.tsv and labels.txt from "
                         "github.com/monologg/GoEmotions-pytorch and ekman_mapping.json from "
                         f"google-research/goemotions into <data-dir>/{GOEMOTIONS_DIR}/")
METADATA_COLUMNS = ["song_id", "song_name", "artist", "album", "release_date", "genre", "year", "rank"]
LYRICS_FILES = ["lyrics/melon_songs.csv", "lyrics/melon_songs_2000_2023.csv"]


# Each dataset's training defaults are the settings of its measured run in the README. The head gets
# its own, higher learning rate (see models.parameter_groups); GoEmotions' comments are short.
TRAIN_DEFAULTS = {
    "aihub": TrainConfig(epochs=4, batch_size=16, learning_rate=1e-4, head_learning_rate=1e-3, patience=2,
                         max_length=128),
    "goemotions": TrainConfig(epochs=4, batch_size=32, learning_rate=1e-4, head_learning_rate=3e-3, patience=2,
                              max_length=64),
}


@dataclass
class EmotionConfig:
    dataset: str = "aihub"  # aihub | goemotions
    head: str | None = None  # plain | arch1 | arch2; None: arch2 for aihub, plain for goemotions
    compare: bool = False
    unit: str = "dialogue"  # dialogue | sentence
    add_sentences: bool = True  # unit dialogue: also train on each human sentence alone (val/test stay dialogues)
    model: str = "auto"
    data_dir: str | None = None
    corpus: str | None = None  # a corpus file or folder; default <data-dir>/emotion_corpus
    out: str = "."
    max_train_rows: int | None = None
    max_eval_rows: int | None = None
    freeze_embeddings: str = "auto"  # auto | yes | no | used
    dropout: float = 0.1
    similarity_credit: float = 0.5  # S[y][p] for a wrong sub label within the right major class
    lora: bool = False
    qlora: bool = False
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    train: TrainConfig = field(default_factory=lambda: replace(TRAIN_DEFAULTS["aihub"]))
    # score
    lyrics: str | None = None
    model_dir: str = "saved_model/emotion"
    halves: bool = False
    max_songs: int | None = None
    score_batch_size: int = 64
    score_max_length: int | None = None  # None: the model's training max length


# ----------------------------------------------------------------------------- AI-Hub corpus

def normalize_label_text(text: str) -> str:
    """Label spellings differ between releases (`구역질 나는`/`구역질나는`, `가난한, 불우한`/`가난한/불우한`)."""
    return "".join(ch for ch in str(text) if ch not in " ,/")


def load_codebook(path: Path) -> pd.DataFrame:
    """E10..E69 in code order, with the label name `<major>/<sub_label_codebook>`."""
    book = read_csv_checked(path, f"it ships with the data (emotion_corpus/{path.name}); {HOW_TO_GET_CORPUS}")
    require_columns(book, ["e_code", "major_label", "sub_label_codebook", "sub_label_xlsx"], path)
    book = book.sort_values("e_code", key=lambda s: s.str[1:].astype(int)).reset_index(drop=True)
    book["label"] = book.major_label + "/" + book.sub_label_codebook
    return book


def corpus_files(corpus: Path) -> list[Path]:
    """The corpus file itself, or every xlsx (else json, else csv) file in the corpus folder."""
    if corpus.is_file():
        return [corpus]
    if not corpus.is_dir():
        raise InputError(f"missing emotion corpus {corpus}: {HOW_TO_GET_CORPUS}")
    for pattern in ("*.xlsx", "*.json", "*.csv"):
        found = sorted(p for p in corpus.glob(pattern)
                       if not p.name.startswith(("~$", ".", "emotion_label_map")))
        if found:
            return found
    raise InputError(f"no .xlsx, .json or .csv corpus file in {corpus}: {HOW_TO_GET_CORPUS}")


def read_corpus_table(path: Path) -> pd.DataFrame:
    """One row per dialogue: dialogue_id, major, sub, e_code, s1..s3 (human sentences), from any format."""
    if path.suffix == ".json":
        return read_corpus_json(path)
    df = pd.read_excel(path, dtype=str) if path.suffix == ".xlsx" else read_csv_checked(path)
    require_columns(df, [MAJOR_COLUMN, SUB_COLUMN, *HUMAN_COLUMNS[:1]], path, HOW_TO_GET_CORPUS)
    df = df.astype(object).fillna("").astype(str)
    ids = df["dialogue_id"] if "dialogue_id" in df else df.get("Unnamed: 0", pd.Series(range(1, len(df) + 1)))
    table = pd.DataFrame({"dialogue_id": [f"{path.stem}:{i}" for i in ids], "major": df[MAJOR_COLUMN].str.strip(),
                          "sub": df[SUB_COLUMN].str.strip(), "e_code": ""})
    for i, col in enumerate(HUMAN_COLUMNS, 1):
        table[f"s{i}"] = df[col].str.strip() if col in df else ""
    return table


def read_corpus_json(path: Path) -> pd.DataFrame:
    """The released JSON: a list of {profile: {emotion: {type: E18}}, talk: {id, content: {HS01.., SS01..}}}."""
    try:
        records = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path} is not readable JSON ({e}); {HOW_TO_GET_CORPUS}") from None
    rows = []
    for i, rec in enumerate(records if isinstance(records, list) else []):
        talk = rec.get("talk", {}) if isinstance(rec, dict) else {}
        content = talk.get("content", {})
        code = str(rec.get("profile", {}).get("emotion", {}).get("type", "")) if isinstance(rec, dict) else ""
        rows.append({"dialogue_id": f"{path.stem}:{talk.get('id', {}).get('talk-id', i + 1)}", "major": "",
                     "sub": "", "e_code": code.strip(),
                     **{f"s{k}": str(content.get(f"HS0{k}") or "").strip() for k in (1, 2, 3)}})
    if not rows:
        raise InputError(f"{path} holds no dialogues (expected a JSON list of profile/talk records)")
    return pd.DataFrame(rows)


def label_dialogues(table: pd.DataFrame, book: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Attach label ids; count (never silently drop) rows with no text or a label outside the codebook."""
    by_code = {c: i for i, c in enumerate(book.e_code)}
    by_pair = {}
    for i, r in book.iterrows():
        for sub in (r.sub_label_xlsx, r.sub_label_codebook):
            by_pair[(r.major_label, normalize_label_text(sub))] = i
    ids = [by_code.get(c) if c else by_pair.get((m, normalize_label_text(s)))
           for c, m, s in zip(table.e_code, table.major, table["sub"], strict=True)]
    table = table.assign(label_id=pd.array(ids, dtype="Int64"))
    empty = (table[["s1", "s2", "s3"]] == "").all(axis=1)
    unknown = table.label_id.isna() & ~empty
    bad = {"rows_read": len(table), "empty_text": int(empty.sum()), "unknown_label": int(unknown.sum()),
           "unknown_label_examples": sorted({f"{c or m + '/' + s}" for c, m, s in
                                             table.loc[unknown, ["e_code", "major", "sub"]].to_numpy()})[:10]}
    good = table[~empty & ~unknown].copy()
    good["label_id"] = good.label_id.astype(int)
    bad["rows_used"] = len(good)
    if bad["empty_text"] or bad["unknown_label"]:
        log.warning("emotion corpus: skipped %d rows with no human sentence and %d with a label not in the "
                    "codebook (%s); counted in metrics.json", bad["empty_text"], bad["unknown_label"],
                    ", ".join(bad["unknown_label_examples"]))
    return good.reset_index(drop=True), bad


def load_emotion_corpus(corpus: Path, codebook: Path) -> tuple[pd.DataFrame, list[str], dict]:
    """Dialogues with label ids, the 60 label names, and a data report (files, counts, bad rows)."""
    book = load_codebook(codebook)
    files = corpus_files(corpus)
    table = pd.concat([read_corpus_table(p) for p in files], ignore_index=True)
    dialogues, bad = label_dialogues(table, book)
    return dialogues, book.label.tolist(), {"files": [str(p) for p in files], "codebook": str(codebook), **bad}


def split_dialogues(dialogues: pd.DataFrame, seed: int) -> tuple[dict[str, pd.DataFrame], bool]:
    """80/10/10 by dialogue, stratified by label when every label has enough dialogues."""
    from sklearn.model_selection import train_test_split
    try:
        train, rest = train_test_split(dialogues, test_size=0.2, stratify=dialogues.label_id, random_state=seed)
        val, test = train_test_split(rest, test_size=0.5, stratify=rest.label_id, random_state=seed)
        stratified = True
    except ValueError:  # a label with too few dialogues to appear on every side (tiny corpora)
        log.warning("emotion split: some labels are too rare to stratify; splitting at random")
        train, rest = train_test_split(dialogues, test_size=0.2, random_state=seed)
        val, test = train_test_split(rest, test_size=0.5, random_state=seed)
        stratified = False
    return {"train": train, "val": val, "test": test}, stratified


def dialogue_units(dialogues: pd.DataFrame, unit: str, label_names: list[str]) -> pd.DataFrame:
    """One row per dialogue (human sentences joined by a space) or per human sentence."""
    sentences = dialogues[["s1", "s2", "s3"]].to_numpy().tolist()
    if unit == "dialogue":
        rows = [(d, " ".join(s for s in sents if s), y)
                for d, sents, y in zip(dialogues.dialogue_id, sentences, dialogues.label_id, strict=True)]
    else:
        rows = [(d, s, y) for d, sents, y in zip(dialogues.dialogue_id, sentences, dialogues.label_id, strict=True)
                for s in sents if s]
    units = pd.DataFrame(rows, columns=["dialogue_id", "text", "label_id"])
    units["label"] = [label_names[i] for i in units.label_id]
    units["major"] = units.label.str.split("/", n=1).str[0]
    return units


# ----------------------------------------------------------------------------- metrics

def major_classes(label_names: list[str]) -> tuple[list[str], np.ndarray]:
    """Major class names in label order, and each label's major index.

    >>> major_classes(["분노/분노", "분노/툴툴대는", "슬픔/슬픔"])
    (['분노', '슬픔'], array([0, 0, 1]))
    """
    majors = [n.split("/", 1)[0] for n in label_names]
    names = list(dict.fromkeys(majors))
    return names, np.array([names.index(m) for m in majors])


def major_probabilities(probs: np.ndarray, major_of: np.ndarray) -> np.ndarray:
    """(n, 60) label probabilities -> (n, 6): each major class gets the sum of its labels' probabilities."""
    return np.stack([probs[:, major_of == k].sum(1) for k in range(major_of.max() + 1)], axis=1)


def hierarchy_similarity(label_names: list[str], credit: float) -> np.ndarray:
    """S[i][j] = 1 for the same label, `credit` for the same major class, 0 otherwise."""
    _, major_of = major_classes(label_names)
    s = np.where(major_of[:, None] == major_of[None, :], credit, 0.0)
    np.fill_diagonal(s, 1.0)
    return s


def similarity_weighted_f1(y_true, y_pred, similarity: np.ndarray) -> float:
    """Macro-F1 where predicting p for true y earns S[y][p] instead of 0/1 (DESIGN.md section 4).

    Per class c: soft recall = credit earned by examples of c / their number; soft precision = credit
    earned by predictions of c / their number; F1 = harmonic mean (0 when undefined); macro average
    over all classes of S. With S = identity this is sklearn's macro-F1.
    >>> similarity_weighted_f1([0, 1], [1, 1], np.array([[1, .5], [.5, 1]]))
    0.5
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    n = len(similarity)
    earned = similarity[y_true, y_pred]
    f1 = np.zeros(n)
    for c in range(n):
        true_c, pred_c = y_true == c, y_pred == c
        recall = earned[true_c].sum() / true_c.sum() if true_c.any() else 0.0
        precision = earned[pred_c].sum() / pred_c.sum() if pred_c.any() else 0.0
        f1[c] = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return float(f1.mean())


def learned_label_similarity(model: EmotionClassifier) -> np.ndarray:
    """Cosine similarity of the classes' rows in the final linear layer's weight."""
    w = model.classifier.weight.detach().float().numpy()
    w = w / np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 1e-12)
    return w @ w.T


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def emotion_test_metrics(y_true, probs: np.ndarray, label_names: list[str], credit: float) -> dict:
    """60-label and 6-class metrics plus the similarity-weighted F1 (hierarchy S primary)."""
    majors, major_of = major_classes(label_names)
    pred = probs.argmax(1)
    major_probs = major_probabilities(probs, major_of)
    y_true = np.asarray(y_true)
    return {
        "labels60": classification_metrics(y_true, pred, label_names),
        "major6": {"method": "argmax of the softmax probabilities summed per major class",
                   **classification_metrics(major_of[y_true], major_probs.argmax(1), majors)},
        "major6_from_argmax_label": classification_metrics(major_of[y_true], major_of[pred], majors)["accuracy"],
        "similarity_weighted_f1": {
            "hierarchy": similarity_weighted_f1(y_true, pred, hierarchy_similarity(label_names, credit)),
            "same_major_credit": credit,
            "identity": similarity_weighted_f1(y_true, pred, np.eye(len(label_names)))},
    }


def emotion_baselines(units: dict[str, pd.DataFrame], label_names: list[str]) -> dict:
    """Majority class and TF-IDF char 1-4 grams + LR on the same split; the 6-class rows come from
    separate classifiers trained on the major classes."""
    majors, major_of = major_classes(label_names)
    train, test = units["train"], units["test"]
    out = {}
    for name, y_train, y_test, names in (("labels60", train.label_id, test.label_id, label_names),
                                         ("major6", major_of[train.label_id], major_of[test.label_id], majors)):
        tfidf = tfidf_baseline(train.text, y_train, test.text, y_test, names, analyzer="char")
        majority = majority_baseline(y_train, y_test, names)
        out.setdefault("tfidf_char_logreg", {})[name] = {k: tfidf[k] for k in ("accuracy", "macro_f1")}
        out.setdefault("majority", {})[name] = {k: majority[k] for k in ("accuracy", "macro_f1")}
    return out


# ----------------------------------------------------------------------------- AI-Hub training

def accuracy_macro_f1(eval_pred) -> dict:
    from sklearn.metrics import accuracy_score, f1_score
    logits, labels = eval_pred
    pred = np.asarray(logits).argmax(-1)
    return {"accuracy": accuracy_score(labels, pred), "macro_f1": f1_score(labels, pred, average="macro")}


def class_weights_for(label_ids: pd.Series, n: int) -> list[float]:
    counts = label_ids.value_counts().reindex(range(n), fill_value=0).to_numpy(dtype=float)
    return (counts.sum() / (n * np.maximum(counts, 1))).tolist()


def fine_tune_head(cfg: EmotionConfig, resolved, head: str, tokenizer, data: dict, label_names: list[str],
                   multi_label: bool = False, compute_metrics=accuracy_macro_f1) -> tuple:
    """Build encoder + head, optionally freeze / LoRA, train; returns (trainer, model, facts)."""
    set_seed(cfg.train.seed)
    model = build_emotion_model(resolved.path, head, label_names, multi_label=multi_label,
                                train_max_length=cfg.train.max_length, dropout=cfg.dropout,
                                **quantization_kwargs(cfg))
    train_ids = ({i for ids in data["train"]["input_ids"] for i in ids} if cfg.freeze_embeddings == "used"
                 else None)
    frozen = freeze_word_embeddings(model, cfg.freeze_embeddings, train_ids)
    if cfg.lora or cfg.qlora:
        model, frozen["lora"] = add_lora(model, cfg)
    weights = class_weights_for(data["train_labels"], len(label_names)) if cfg.train.class_weights else None
    work_dir = Path(tempfile.mkdtemp(prefix=f".checkpoints-{head}-", dir=Path(cfg.out)))
    start = time.time()
    try:
        trainer = train_classifier(model, tokenizer, data["train"], data["val"], cfg.train, work_dir,
                                   compute_metrics, class_weights=weights)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    model = trainer.model.merge_and_unload() if cfg.lora or cfg.qlora else trainer.model
    merge_used_rows(model)
    facts = {"head": head, "train_seconds": round(time.time() - start, 1), "epochs_run": trainer.state.epoch,
             "steps": trainer.state.global_step, "best_val_macro_f1": trainer.state.best_metric,
             "frozen": frozen, "trainer_log": trainer.state.log_history}
    log.info("head %s: best validation macro-F1 %s after %.1f epochs, %.0f s", head, trainer.state.best_metric,
             trainer.state.epoch, facts["train_seconds"])
    return trainer, model, facts


def add_lora(model, cfg: EmotionConfig):
    """Wrap with peft LoRA on the encoder's attention projections (any encoder); the head trains fully."""
    from peft import LoraConfig, get_peft_model
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as TARGETS
    if cfg.qlora:
        from peft import prepare_model_for_kbit_training
        model = prepare_model_for_kbit_training(model)
    targets = TARGETS.get(model.config.encoder.model_type)
    if targets is None:  # unknown architecture: every linear layer inside the encoder
        import torch
        targets = sorted({n.rsplit(".", 1)[-1] for n, m in model.encoder.named_modules()
                          if isinstance(m, torch.nn.Linear)})
    head_modules = [n for n in ("classifier", "conv", "mix") if hasattr(model, n)]
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=list(targets), modules_to_save=head_modules)
    model = get_peft_model(model, lora)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return model, {"r": cfg.lora_r, "alpha": cfg.lora_alpha, "dropout": cfg.lora_dropout,
                   "target_modules": list(targets), "trainable_params": trainable}


def check_qlora(cfg: EmotionConfig) -> None:
    import torch
    if cfg.qlora and not torch.cuda.is_available():
        raise InputError("--qlora needs a CUDA GPU with bitsandbytes (4-bit weights); none is available here: "
                         "use --lora, which trains the same adapters on full-precision weights")
    if cfg.qlora:
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise InputError("--qlora needs bitsandbytes: pip install bitsandbytes") from None


def quantization_kwargs(cfg: EmotionConfig) -> dict:
    """--qlora: load the encoder's weights in 4 bits (NF4) with bf16 compute; only on CUDA."""
    if not cfg.qlora:
        return {}
    import torch
    from transformers import BitsAndBytesConfig
    return {"quantization_config": BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                      bnb_4bit_compute_dtype=torch.bfloat16)}


def prepare_aihub(cfg: EmotionConfig) -> tuple[dict[str, pd.DataFrame], list[str], dict]:
    data_dir = resolve_data_dir(cfg.data_dir)
    corpus = Path(cfg.corpus) if cfg.corpus else data_dir / CORPUS_DIR
    dialogues, label_names, report = load_emotion_corpus(corpus, data_dir / CODEBOOK)
    parts, stratified = split_dialogues(dialogues, cfg.train.seed)
    if cfg.max_train_rows:
        parts["train"] = parts["train"].sample(min(cfg.max_train_rows, len(parts["train"])),
                                               random_state=cfg.train.seed)
    if cfg.max_eval_rows:
        parts = {k: v if k == "train" else v.head(cfg.max_eval_rows) for k, v in parts.items()}
    units = {k: dialogue_units(v, cfg.unit, label_names) for k, v in parts.items()}
    if cfg.add_sentences and cfg.unit == "dialogue":  # more views of each training dialogue; eval unchanged
        units["train"] = pd.concat([units["train"], dialogue_units(parts["train"], "sentence", label_names)],
                                   ignore_index=True)
    for name, part in units.items():
        write_csv_atomic(Path(cfg.out) / "data" / "processed" / f"emotion_{name}.csv", part)
    report.update(unit=cfg.unit, add_sentences=cfg.add_sentences, stratified=stratified, split_seed=cfg.train.seed,
                  split_dialogues={k: len(v) for k, v in parts.items()},
                  split_units={k: len(v) for k, v in units.items()})
    return units, label_names, report


def train_aihub(cfg: EmotionConfig) -> dict:
    from transformers import AutoTokenizer
    units, label_names, report = prepare_aihub(cfg)
    baselines = emotion_baselines(units, label_names)
    resolved = resolve_model(cfg.model, "ko")
    tokenizer = AutoTokenizer.from_pretrained(resolved.path)
    data = {name: tokenize_dataset(tokenizer, part.text.tolist(), part.label_id.tolist(), cfg.train.max_length)
            for name, part in units.items()}
    data["train_labels"] = units["train"].label_id
    heads = list(HEADS) if cfg.compare else [cfg.head or "arch2"]
    results, best, probs_of = {}, None, {}
    parts = ("val", "test") if len(heads) > 1 else ("test",)  # validation probabilities feed only the ensemble
    for head in heads:
        trainer, model, facts = fine_tune_head(cfg, resolved, head, tokenizer, data, label_names)
        probs_of[head] = {part: softmax(predict_logits(model, tokenizer, units[part].text.tolist(),
                                                       max_length=cfg.train.max_length, bf16=use_bf16(cfg.train.bf16)))
                          for part in parts}
        facts["test"] = emotion_test_metrics(units["test"].label_id, probs_of[head]["test"], label_names,
                                             cfg.similarity_credit)
        results[head] = facts
        if best is None or (facts["best_val_macro_f1"] or 0) > (results[best[0]]["best_val_macro_f1"] or 0):
            best = (head, model, probs_of[head]["test"])
    head, model, probs = best
    metrics = emotion_metrics(cfg, resolved, report, baselines, results, head, label_names)
    if len(heads) > 1:
        metrics["comparison"]["ensemble"] = comparison_row(head_ensemble(results, probs_of, units, label_names,
                                                                         cfg.similarity_credit))
    save_emotion_model(cfg, model, tokenizer, metrics, units["test"], probs, label_names, results)
    t, b = metrics["test"], baselines["tfidf_char_logreg"]
    print(f"emotion ({head}): test accuracy 60 labels {t['labels60']['accuracy']:.3f}, 6 classes "
          f"{t['major6']['accuracy']:.3f} (TF-IDF {b['labels60']['accuracy']:.3f} / {b['major6']['accuracy']:.3f})")
    return metrics


def emotion_metrics(cfg, resolved, report, baselines, results, head, label_names) -> dict:
    chosen = results[head]
    return {
        "task": "AI-Hub emotional dialogue, 60 (major, sub) labels and 6 major classes",
        "head": head, "head_selection": "best validation macro-F1" if len(results) > 1 else "as requested",
        "base_model": resolved.as_dict(), "data": report, "labels": label_names,
        "test": chosen["test"], "baselines": baselines,
        "train_seconds": chosen["train_seconds"], "epochs_run": chosen["epochs_run"],
        "best_val_macro_f1": chosen["best_val_macro_f1"], "frozen": chosen["frozen"],
        "bf16": use_bf16(cfg.train.bf16),
        "label_similarity": {"file": "label_similarity.csv",
                             "method": "cosine of the classes' rows in the final linear layer's weight"},
        "hyper_parameters": {**asdict(cfg.train), "head": head, "dropout": cfg.dropout, "unit": cfg.unit,
                             "freeze_embeddings": cfg.freeze_embeddings},
        "comparison": {h: comparison_row(r) for h, r in results.items()} if len(results) > 1 else None,
        "config": asdict(cfg), "versions": library_versions(),
    }


def head_ensemble(results: dict, probs_of: dict, units: dict, label_names: list[str], credit: float) -> dict:
    """The mean of the heads' probabilities, scored like one head. Reported only: saving it would mean
    keeping every head's encoder, so the saved model stays the single best head."""
    mean = {part: np.mean([p[part] for p in probs_of.values()], axis=0) for part in ("val", "test")}
    runs = list(results.values())
    return {"best_val_macro_f1": accuracy_macro_f1((mean["val"], units["val"].label_id))["macro_f1"],
            "test": emotion_test_metrics(units["test"].label_id, mean["test"], label_names, credit),
            "train_seconds": sum(r["train_seconds"] for r in runs),
            "epochs_run": float(np.mean([r["epochs_run"] for r in runs])),
            "frozen": {"trainable_params": sum(r["frozen"]["trainable_params"] for r in runs)}}


def comparison_row(r: dict) -> dict:
    t = r["test"]
    return {"val_macro_f1": r["best_val_macro_f1"], "test_accuracy_60": t["labels60"]["accuracy"],
            "test_macro_f1_60": t["labels60"]["macro_f1"], "test_accuracy_6": t["major6"]["accuracy"],
            "test_macro_f1_6": t["major6"]["macro_f1"],
            "test_similarity_weighted_f1": t["similarity_weighted_f1"]["hierarchy"],
            "train_seconds": r["train_seconds"], "epochs_run": r["epochs_run"],
            "trainable_params": r["frozen"]["trainable_params"]}


def comparison_markdown(rows: dict[str, dict], chosen: str) -> str:
    lines = ["| head | val macro-F1 | test acc (60) | test macro-F1 (60) | test acc (6) | test macro-F1 (6) "
             "| weighted F1 | epochs | train s | trainable params |", "|---" * 10 + "|"]
    for h, r in rows.items():
        name = {chosen: f"{h} (saved)", "ensemble": "mean of the heads (not saved)"}.get(h, h)
        lines.append(f"| {name} | {r['val_macro_f1']:.4f} | "
                     f"{r['test_accuracy_60']:.4f} | {r['test_macro_f1_60']:.4f} | {r['test_accuracy_6']:.4f} | "
                     f"{r['test_macro_f1_6']:.4f} | {r['test_similarity_weighted_f1']:.4f} | {r['epochs_run']:.1f} | "
                     f"{r['train_seconds']:.0f} | {r['trainable_params']:,} |")
    return "\n".join(lines) + "\n"


def save_emotion_model(cfg, model, tokenizer, metrics, test_units, probs, label_names, results) -> Path:
    model_dir = save_model_folder(Path(cfg.out) / "saved_model" / "emotion", model, tokenizer, metrics,
                                  results[metrics["head"]]["trainer_log"])
    sim = pd.DataFrame(learned_label_similarity(model).round(4), index=label_names, columns=label_names)
    write_csv_atomic(model_dir / "label_similarity.csv", sim.reset_index(names="label"))
    _, major_of = major_classes(label_names)
    majors = major_classes(label_names)[0]
    pred = probs.argmax(1)
    write_csv_atomic(model_dir / "test_predictions.csv", test_units.assign(
        pred=[label_names[i] for i in pred], prob=probs.max(1).round(5),
        pred_major=[majors[major_of[i]] for i in pred], correct=pred == test_units.label_id.to_numpy()))
    if metrics["comparison"]:
        write_json_atomic(model_dir / "head_comparison.json", {"chosen": metrics["head"], "selection":
                          metrics["head_selection"], "heads": metrics["comparison"]})
        write_text_atomic(model_dir / "head_comparison.md", comparison_markdown(metrics["comparison"],
                                                                                 metrics["head"]))
        for h, r in results.items():
            write_json_atomic(model_dir / f"trainer_log_{h}.json", r["trainer_log"])
    write_text_atomic(model_dir / "README.md", emotion_model_card(metrics))
    return model_dir


def emotion_model_card(m: dict) -> str:
    t, b, d, hp = m["test"], m["baselines"], m["data"], m["hyper_parameters"]
    cm6 = t["major6"]["confusion_matrix"]
    majors = t["major6"]["labels"]
    cm_rows = "\n".join(f"| {majors[i]} | " + " | ".join(map(str, row)) + " |" for i, row in enumerate(cm6))
    table_rows = "\n".join(
        f"| {name} | {r['labels60']['accuracy']:.3f} | {r['labels60']['macro_f1']:.3f} | "
        f"{r['major6']['accuracy']:.3f} | {r['major6']['macro_f1']:.3f} |"
        for name, r in (("this model", t), ("TF-IDF char 1-4 grams + LR", b["tfidf_char_logreg"]),
                        ("majority class", b["majority"])))
    used_rows = (f", except the {m['frozen']['tuned_rows']:,} rows of the tokens in the training data"
                 if "tuned_rows" in m["frozen"] else "")
    compare = "" if not m["comparison"] else ("\n## Heads compared on the same split\n\n"
                                              + comparison_markdown(m["comparison"], m["head"]))
    return f"""# Korean emotion classifier (60 labels)

Head **{m['head']}** on **{m['base_model']['name']}** (source: {m['base_model']['source']}; substituted for
the seed's klue/bert-base: {m['base_model']['substituted']} - {m['base_model']['reason']}).

Data: {', '.join(d['files'])}: {d['rows_read']} dialogues read, {d['rows_used']} used ({d['empty_text']}
without text, {d['unknown_label']} with an unknown label). Unit: {d['unit']}. Split by dialogue, seed
{d['split_seed']}, stratified {d['stratified']}: dialogues {d['split_dialogues']}, units {d['split_units']}.

Hyper-parameters: up to {hp['epochs']} epochs (early stopping, patience {hp['patience']}; ran {m['epochs_run']}),
batch {hp['batch_size']}, learning rate {hp['learning_rate']}, max length {hp['max_length']}, dropout
{hp['dropout']}, bf16 {m['bf16']}; word embeddings frozen: {m['frozen']['word_embeddings_frozen']}{used_rows}
({m['frozen']['trainable_params']:,} trainable parameters). Training took {m['train_seconds']:.0f} s.

| test set | accuracy (60) | macro-F1 (60) | accuracy (6) | macro-F1 (6) |
|---|---|---|---|---|
{table_rows}

6-class predictions: {t['major6']['method']}. Similarity-weighted F1 (hierarchy S: 1 same label,
{t['similarity_weighted_f1']['same_major_credit']} same major, 0 otherwise):
{t['similarity_weighted_f1']['hierarchy']:.3f}. The learned label similarity (`label_similarity.csv`) is the
{m['label_similarity']['method']}.

6-class confusion matrix (rows true, columns predicted):

| | {' | '.join(majors)} |
|---|{'---|' * len(majors)}
{cm_rows}
{compare}"""


# ----------------------------------------------------------------------------- GoEmotions baseline

def read_goemotions(data_dir: Path) -> tuple[dict[str, pd.DataFrame], list[str], dict]:
    """The original 28-label release: text<TAB>ids<TAB>comment id, no header; and the Ekman grouping."""
    root = data_dir / GOEMOTIONS_DIR
    labels_path = require_file(root / "original" / "labels.txt", HOW_TO_GET_GOEMOTIONS)
    names = [x.strip() for x in labels_path.read_text(encoding="utf-8").splitlines() if x.strip()]
    parts = {}
    for split in ("train", "dev", "test"):
        path = require_file(root / "original" / f"{split}.tsv", HOW_TO_GET_GOEMOTIONS)
        df = pd.read_csv(path, sep="\t", header=None, names=["text", "ids", "comment_id"], dtype=str,
                         quoting=csv.QUOTE_NONE, keep_default_na=False)
        y = np.zeros((len(df), len(names)), dtype=np.float32)
        for i, ids in enumerate(df.ids):
            y[i, [int(k) for k in ids.split(",") if k]] = 1.0
        parts[split] = df.assign(y=list(y))
    ekman = json.loads(require_file(root / "ekman_mapping.json", HOW_TO_GET_GOEMOTIONS).read_text(encoding="utf-8"))
    return parts, names, ekman


def tune_thresholds(probs: np.ndarray, y: np.ndarray, grid=None) -> np.ndarray:
    """Per label, the threshold on the dev set that maximises that label's F1 (ties: the lowest).

    >>> tune_thresholds(np.array([[.9], [.3], [.2]]), np.array([[1], [1], [0]]), [.25, .5]).tolist()
    [0.25]
    """
    grid = np.round(np.arange(0.02, 0.99, 0.02), 2) if grid is None else np.asarray(grid)
    best = np.full(probs.shape[1], 0.5)
    for j in range(probs.shape[1]):
        pred = probs[:, j][:, None] >= grid[None, :]  # (n, len(grid))
        tp = (pred & (y[:, j][:, None] == 1)).sum(0)
        f1 = 2 * tp / np.maximum(pred.sum(0) + y[:, j].sum(), 1)
        best[j] = grid[int(np.argmax(f1))]
    return best


def ekman_matrix(names: list[str], ekman: dict[str, list[str]]) -> tuple[list[str], np.ndarray]:
    """(groups, M) with M[label, group] = 1; groups are the Ekman emotions plus neutral."""
    groups = [*ekman, "neutral"]
    m = np.zeros((len(names), len(groups)), dtype=bool)
    for g, members in enumerate([*ekman.values(), ["neutral"]]):
        for name in members:
            m[names.index(name), g] = True
    return groups, m


def multilabel_metrics(y: np.ndarray, pred: np.ndarray, names: list[str]) -> dict:
    from sklearn.metrics import f1_score, precision_recall_fscore_support
    p, r, f, s = precision_recall_fscore_support(y, pred, zero_division=0)
    return {"macro_f1": float(f1_score(y, pred, average="macro", zero_division=0)),
            "micro_f1": float(f1_score(y, pred, average="micro", zero_division=0)),
            "exact_match": float((y == pred).all(1).mean()),
            "per_class": {n: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                              "support": int(s[i])} for i, n in enumerate(names)}}


def multilabel_macro_f1(eval_pred) -> dict:
    from sklearn.metrics import f1_score
    logits, labels = eval_pred
    pred = (np.asarray(logits) > 0).astype(int)  # sigmoid > 0.5
    return {"macro_f1": f1_score(np.asarray(labels).astype(int), pred, average="macro", zero_division=0)}


def train_goemotions(cfg: EmotionConfig) -> dict:
    from transformers import AutoTokenizer
    data_dir = resolve_data_dir(cfg.data_dir)
    parts, names, ekman = read_goemotions(data_dir)
    if cfg.max_train_rows:
        parts["train"] = parts["train"].sample(min(cfg.max_train_rows, len(parts["train"])),
                                               random_state=cfg.train.seed)
    if cfg.max_eval_rows:
        parts = {k: v if k == "train" else v.head(cfg.max_eval_rows) for k, v in parts.items()}
    resolved = resolve_model(cfg.model, "en", seed=GOEMOTIONS_SEED_MODEL)
    tokenizer = AutoTokenizer.from_pretrained(resolved.path)
    data = {name: tokenize_dataset(tokenizer, parts[split].text.tolist(), [y.tolist() for y in parts[split].y],
                                   cfg.train.max_length) for name, split in (("train", "train"), ("val", "dev"))}
    data["train_labels"] = None
    head = cfg.head or "plain"
    cfg.train.class_weights = False  # the multi-label loss is BCE; class weights apply to softmax heads
    trainer, model, facts = fine_tune_head(cfg, resolved, head, tokenizer, data, names, multi_label=True,
                                           compute_metrics=multilabel_macro_f1)
    bf16 = use_bf16(cfg.train.bf16)
    probs = {s: 1 / (1 + np.exp(-predict_logits(model, tokenizer, parts[s].text.tolist(),
                                                 max_length=cfg.train.max_length, bf16=bf16))) for s in ("dev", "test")}
    y = {s: np.stack(parts[s].y.to_numpy()).astype(int) for s in ("dev", "test")}
    thresholds = tune_thresholds(probs["dev"], y["dev"])
    pred = (probs["test"] >= thresholds).astype(int)
    groups, to_group = ekman_matrix(names, ekman)
    metrics = {
        "task": "GoEmotions multi-label (27 emotions + neutral), sigmoid + BCE",
        "head": head, "base_model": resolved.as_dict(),
        "data": {"files": [str(data_dir / GOEMOTIONS_DIR / "original" / f"{s}.tsv") for s in parts],
                 "rows": {s: len(v) for s, v in parts.items()}},
        "test": {"labels28_tuned": multilabel_metrics(y["test"], pred, names),
                 "labels28_at_0.5": multilabel_metrics(y["test"], (probs["test"] >= 0.5).astype(int), names),
                 "ekman7_tuned": {"method": "a group is predicted when any of its labels is; neutral included",
                                  **multilabel_metrics((y["test"] @ to_group) > 0, (pred @ to_group) > 0, groups)}},
        "thresholds": dict(zip(names, thresholds.tolist(), strict=True)),
        "threshold_selection": "per label, the dev-set F1 maximum over 0.02..0.98 in steps of 0.02",
        **{k: facts[k] for k in ("train_seconds", "epochs_run", "best_val_macro_f1", "frozen")},
        "bf16": bf16, "hyper_parameters": {**asdict(cfg.train), "head": head, "lora": cfg.lora},
        "config": asdict(cfg), "versions": library_versions(),
    }
    save_goemotions(cfg, model, tokenizer, metrics, facts, parts["test"], pred, names)
    t = metrics["test"]
    print(f"goemotions: test macro-F1 28 labels {t['labels28_tuned']['macro_f1']:.3f} (at 0.5: "
          f"{t['labels28_at_0.5']['macro_f1']:.3f}), Ekman {t['ekman7_tuned']['macro_f1']:.3f}")
    return metrics


def save_goemotions(cfg, model, tokenizer, metrics, facts, test, pred, names) -> Path:
    model_dir = save_model_folder(Path(cfg.out) / "saved_model" / "goemotions", model, tokenizer, metrics,
                                  facts["trainer_log"])
    write_json_atomic(model_dir / "thresholds.json", metrics["thresholds"])
    labels = lambda rows: [",".join(names[j] for j in np.flatnonzero(r)) for r in rows]  # noqa: E731
    write_csv_atomic(model_dir / "test_predictions.csv", pd.DataFrame(
        {"comment_id": test.comment_id, "text": test.text, "labels": labels(np.stack(test.y.to_numpy())),
         "predicted": labels(pred)}))
    t, m = metrics["test"], metrics
    write_text_atomic(model_dir / "README.md", f"""# GoEmotions multi-label baseline

Head **{m['head']}** on **{m['base_model']['name']}** (source: {m['base_model']['source']}), sigmoid + BCE over
28 labels, per-label thresholds tuned on dev ({m['threshold_selection']}). Rows: {m['data']['rows']}.
Training took {m['train_seconds']:.0f} s ({m['epochs_run']} epochs); LoRA: {cfg.lora}.

| test | macro-F1 | micro-F1 |
|---|---|---|
| 28 labels, tuned thresholds | {t['labels28_tuned']['macro_f1']:.3f} | {t['labels28_tuned']['micro_f1']:.3f} |
| 28 labels, threshold 0.5 | {t['labels28_at_0.5']['macro_f1']:.3f} | {t['labels28_at_0.5']['micro_f1']:.3f} |
| Ekman 6 + neutral, tuned | {t['ekman7_tuned']['macro_f1']:.3f} | {t['ekman7_tuned']['micro_f1']:.3f} |

Published reference (BERT-base, Demszky et al. 2020): 0.46 (28 labels), 0.64 (Ekman).
""")
    return model_dir


def train_emotion(cfg: EmotionConfig) -> dict:
    """The training stage main.py calls: AI-Hub (default) or GoEmotions. Returns metrics."""
    if cfg.dataset not in ("aihub", "goemotions"):
        raise InputError(f"--dataset must be aihub or goemotions, not {cfg.dataset!r}")
    if cfg.unit not in ("dialogue", "sentence"):
        raise InputError(f"--unit must be dialogue or sentence, not {cfg.unit!r}")
    check_qlora(cfg)
    set_seed(cfg.train.seed)
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    return train_goemotions(cfg) if cfg.dataset == "goemotions" else train_aihub(cfg)


# ----------------------------------------------------------------------------- song emotion vectors

@functools.lru_cache(maxsize=2)
def load_emotion_model(model_dir: str) -> tuple:
    """(model, tokenizer) from a saved folder, loaded once per process."""
    from transformers import AutoTokenizer
    folder = Path(model_dir)
    if not (folder / "config.json").is_file():
        raise InputError(f"no trained emotion model in {folder}: run `python lyrics_emotion.py train` first "
                         "or pass --model PATH")
    model = EmotionClassifier.from_pretrained(str(folder)).eval()
    return model, AutoTokenizer.from_pretrained(str(folder))


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


def lyric_halves(text: str) -> tuple[list[str], list[str], str]:
    """Split lyrics into their first and second half by lines (by words when there is a single line).

    >>> lyric_halves("a\\nb\\nc")
    (['a', 'b'], ['c'], '\\n')
    """
    units, sep = [x.strip() for x in str(text).splitlines() if x.strip()], "\n"
    if len(units) < 2:
        units, sep = str(text).split(), " "
    mid = (len(units) + 1) // 2
    return units[:mid], units[mid:], sep


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
    """Average chunk probabilities per part, weighted by each chunk's tokens."""
    out = np.zeros((n_parts, probs.shape[1]))
    weight = np.zeros(n_parts)
    np.add.at(out, owner, probs * np.asarray(tokens)[:, None])
    np.add.at(weight, owner, tokens)
    return out / np.maximum(weight, 1)[:, None]


def chunk_probabilities(model, tokenizer, chunks: list[str], max_length: int, batch_size: int = 64,
                        bf16: str = "auto") -> np.ndarray:
    logits = predict_logits(model, tokenizer, chunks, batch_size=batch_size, max_length=max_length,
                            bf16=use_bf16(bf16), progress=len(chunks) > 500)
    if model.config.problem_type == "multi_label_classification":
        return 1 / (1 + np.exp(-logits))
    return softmax(logits)


def score_texts(model_dir, texts: list[str], max_length: int | None = None, batch_size: int = 64) -> np.ndarray:
    """Emotion probabilities (n, num_labels) for free texts, chunked by line exactly like the lyrics.

    The model is loaded once and cached (recommend.py calls this for --text queries)."""
    model, tokenizer = load_emotion_model(str(model_dir))
    max_length = max_length or model.config.train_max_length
    parts = [([x.strip() for x in str(t).splitlines() if x.strip()] or [str(t)], "\n") for t in texts]
    chunks, owner, tokens = chunk_texts(tokenizer, parts, max_length)
    probs = chunk_probabilities(model, tokenizer, chunks, max_length, batch_size)
    return weighted_part_vectors(probs, owner, tokens, len(texts))


def emotion_columns(label_names: list[str]) -> tuple[list[str], list[str], np.ndarray]:
    """`emo:<major>/<sub>` columns, `major:<major>` columns and each label's major index (labels without
    a major, e.g. GoEmotions, give no major columns)."""
    emo = [f"emo:{n}" for n in label_names]
    if not all("/" in n for n in label_names):
        return emo, [], np.zeros(0, dtype=int)
    majors, major_of = major_classes(label_names)
    return emo, [f"major:{m}" for m in majors], major_of


def vectors_frame(vectors: np.ndarray, label_names: list[str]) -> pd.DataFrame:
    emo, major, major_of = emotion_columns(label_names)
    frame = pd.DataFrame(vectors.round(6), columns=emo)
    if major:
        frame[major] = major_probabilities(vectors, major_of).round(6)
    return frame


def read_lyrics(cfg: EmotionConfig) -> tuple[pd.DataFrame, Path]:
    data_dir = resolve_data_dir(cfg.data_dir)
    if cfg.lyrics:
        path = Path(cfg.lyrics)
    else:
        path = next((data_dir / f for f in LYRICS_FILES if (data_dir / f).is_file()), data_dir / LYRICS_FILES[0])
    songs = read_csv_checked(path, "crawl it with `python crawl_melon.py` or pass --lyrics CSV")
    require_columns(songs, ["song_id", "lyrics"], path)
    return (songs.head(cfg.max_songs) if cfg.max_songs else songs), path


def song_emotion_vectors(songs: pd.DataFrame, model_dir: str, max_length: int | None = None,
                         batch_size: int = 64, bf16: str = "auto") -> tuple[pd.DataFrame, pd.DataFrame, list]:
    """(one row per song, two rows per song for its halves, skipped song ids). Chunks never cross the
    middle of a song, so the halves cost nothing extra and song vectors do not depend on --halves."""
    model, tokenizer = load_emotion_model(model_dir)
    max_length = max_length or model.config.train_max_length
    lyrics = songs.lyrics.fillna("").astype(str)
    empty = lyrics.str.strip() == ""
    kept = songs[~empty].reset_index(drop=True)
    halves = [lyric_halves(t) for t in lyrics[~empty]]
    parts = [(units, sep) for a, b, sep in halves for units in (a, b)]  # part 2k = song k's first half
    chunks, owner, tokens = chunk_texts(tokenizer, parts, max_length)
    probs = chunk_probabilities(model, tokenizer, chunks, max_length, batch_size, bf16)
    owner_song = [k // 2 for k in owner]
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    meta = kept[[c for c in METADATA_COLUMNS if c in kept.columns]].reset_index(drop=True)
    song_rows = pd.concat([meta, pd.DataFrame({
        "n_chunks": np.bincount(owner_song, minlength=len(kept)),
        "n_tokens": np.bincount(owner_song, weights=tokens, minlength=len(kept)).astype(int)}),
        vectors_frame(weighted_part_vectors(probs, owner_song, tokens, len(kept)), labels)], axis=1)
    half_vectors = weighted_part_vectors(probs, owner, tokens, len(parts))
    has_both = np.array([bool(a) and bool(b) for a, b, _ in halves]).repeat(2)
    half_rows = pd.concat([pd.DataFrame({"song_id": kept.song_id.repeat(2).to_numpy(),
                                         "half": ["a", "b"] * len(kept)}),
                           vectors_frame(half_vectors, labels)], axis=1)[has_both].reset_index(drop=True)
    return song_rows, half_rows, songs.song_id[empty].tolist()


def score_songs(cfg: EmotionConfig) -> Path:
    """The scoring stage main.py calls: writes results/song_emotions.csv (and song_halves.csv)."""
    songs, path = read_lyrics(cfg)
    start = time.time()
    rows, halves, skipped = song_emotion_vectors(songs, cfg.model_dir, cfg.score_max_length, cfg.score_batch_size,
                                                 cfg.train.bf16)
    if skipped:
        log.warning("song emotions: %d songs have empty lyrics and were skipped (e.g. song_id %s)", len(skipped),
                    ", ".join(map(str, skipped[:5])))
    results = Path(cfg.out) / "results"
    out = write_csv_atomic(results / "song_emotions.csv", rows)
    if cfg.halves:
        write_csv_atomic(results / "song_halves.csv", halves)
    write_json_atomic(results / "song_emotions.json", {
        "lyrics": str(path), "model": cfg.model_dir, "songs_read": len(songs), "songs_scored": len(rows),
        "skipped_empty_lyrics": len(skipped), "skipped_song_ids": skipped, "chunks": int(rows.n_chunks.sum()),
        "halves_written": bool(cfg.halves), "seconds": round(time.time() - start, 1)})
    print(f"song emotions: {len(rows)} songs scored ({len(skipped)} with empty lyrics skipped) -> {out}")
    return out


# ----------------------------------------------------------------------------- command line

def defaults(name: str) -> str:
    """A training default for --help, per dataset when they differ."""
    values = {k: getattr(t, name) for k, t in TRAIN_DEFAULTS.items()}
    if len(set(values.values())) == 1:
        return str(values["aihub"])
    return ", ".join(f"{v} ({k})" for k, v in values.items())


def parse_args(argv: list[str] | None = None) -> tuple[str, EmotionConfig]:
    d = EmotionConfig()
    t = d.train
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="fine-tune the emotion classifier", description=__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    sc = sub.add_parser("score", help="score every song's lyrics with a trained model")
    for q in (tr, sc):
        q.add_argument("--data-dir", help="input folder (default: $DATA_DIR, else data/)")
        q.add_argument("--out", default=d.out, help="output root (default: .)")
        q.add_argument("--max-length", type=int, help=f"tokens per example/chunk (train default: "
                       f"{defaults('max_length')}; score default: the model's training max length)")
        q.add_argument("--bf16", default=t.bf16, choices=["auto", "yes", "no"],
                       help="bf16 autocast (auto: when the CPU supports it natively)")
    tr.add_argument("--dataset", default=d.dataset, choices=["aihub", "goemotions"],
                    help="aihub: Korean 60-label corpus; goemotions: English 28-label multi-label baseline")
    tr.add_argument("--head", choices=HEADS, help="classification head (default: arch2 for aihub, plain for "
                    "goemotions)")
    tr.add_argument("--compare", action="store_true", help="train plain, arch1 and arch2 on the same split; "
                    "keep the best on validation macro-F1 and write head_comparison.{json,md}")
    tr.add_argument("--unit", default=d.unit, choices=["dialogue", "sentence"],
                    help="one example per dialogue (human sentences joined) or per human sentence")
    tr.add_argument("--add-sentences", action=argparse.BooleanOptionalAction, default=d.add_sentences,
                    help="with --unit dialogue: also train on each human sentence alone; validation and test "
                    "stay dialogues (default: on)")
    tr.add_argument("--model", default=d.model, help="auto | hub id | local folder | bundled name (auto: "
                    "klue/bert-base, or roberta-base for goemotions, when reachable, else the bundled model)")
    tr.add_argument("--corpus", help=f"AI-Hub corpus file or folder (default: <data-dir>/{CORPUS_DIR})")
    tr.add_argument("--epochs", type=float, help=f"maximum epochs (default: {defaults('epochs')})")
    tr.add_argument("--batch-size", type=int, help=f"default: {defaults('batch_size')}")
    tr.add_argument("--lr", type=float, help=f"the encoder's learning rate (default: {defaults('learning_rate')})")
    tr.add_argument("--head-lr", type=float, help="learning rate of the new head (default: "
                    f"{defaults('head_learning_rate')}); a higher one than --lr lets a freshly initialised head "
                    "keep up with a gently tuned encoder")
    tr.add_argument("--warmup-ratio", type=float, default=t.warmup_ratio, help="share of steps for LR warm-up")
    tr.add_argument("--patience", type=int, help=f"early-stopping patience in epochs (default: "
                    f"{defaults('patience')})")
    tr.add_argument("--max-steps", type=int, default=t.max_steps, help="cap on optimizer steps (tests)")
    tr.add_argument("--class-weights", action="store_true", help="weight the loss by inverse class frequency")
    tr.add_argument("--dropout", type=float, default=d.dropout, help="dropout before the final linear layer")
    tr.add_argument("--freeze-embeddings", default=d.freeze_embeddings, choices=["auto", "yes", "no", "used"],
                    help="freeze the word-embedding matrix (auto: when it holds over 3/4 of the encoder's "
                         "parameters, as in multilingual-e5-small: 96M of 118M; used: frozen, but the rows "
                         "of the tokens in the training data are tuned)")
    tr.add_argument("--similarity-credit", type=float, default=d.similarity_credit,
                    help="weighted-F1 credit for a wrong sub label in the right major class")
    tr.add_argument("--max-train-rows", type=int, help="sample this many training dialogues/rows (quick runs)")
    tr.add_argument("--max-eval-rows", type=int, help="keep only this many validation/test rows (quick runs)")
    tr.add_argument("--lora", action="store_true", help="train LoRA adapters (peft) instead of the whole encoder")
    tr.add_argument("--qlora", action="store_true", help="LoRA on a 4-bit encoder (bitsandbytes; CUDA only)")
    tr.add_argument("--lora-r", type=int, default=d.lora_r, help=f"LoRA rank (default: {d.lora_r})")
    tr.add_argument("--lora-alpha", type=int, default=d.lora_alpha, help=f"LoRA alpha (default: {d.lora_alpha})")
    tr.add_argument("--lora-dropout", type=float, default=d.lora_dropout, help="LoRA dropout")
    tr.add_argument("--seed", type=int, default=t.seed, help=f"split and training seed (default: {t.seed})")
    sc.add_argument("--lyrics", help="songs CSV with song_id and lyrics (default: <data-dir>/"
                    f"{LYRICS_FILES[0]}, else <data-dir>/{LYRICS_FILES[1]})")
    sc.add_argument("--model", dest="model_dir", default=d.model_dir, help=f"trained model folder "
                    f"(default: {d.model_dir})")
    sc.add_argument("--halves", action="store_true", help="also write results/song_halves.csv (first and second "
                    "half of each song's lyrics)")
    sc.add_argument("--batch-size", type=int, default=d.score_batch_size, help="chunks per inference batch")
    sc.add_argument("--max-songs", type=int, help="score only the first N songs (quick runs)")
    a = p.parse_args(argv)
    if a.command == "score":
        return "score", EmotionConfig(data_dir=a.data_dir, out=a.out, lyrics=a.lyrics, model_dir=a.model_dir,
                                      halves=a.halves, score_batch_size=a.batch_size, max_songs=a.max_songs,
                                      score_max_length=a.max_length, train=TrainConfig(bf16=a.bf16))
    given = {"epochs": a.epochs, "batch_size": a.batch_size, "learning_rate": a.lr, "head_learning_rate": a.head_lr,
             "max_length": a.max_length, "patience": a.patience}
    train = replace(TRAIN_DEFAULTS[a.dataset], **{k: v for k, v in given.items() if v is not None},
                    warmup_ratio=a.warmup_ratio, max_steps=a.max_steps, bf16=a.bf16, class_weights=a.class_weights,
                    seed=a.seed)
    return "train", EmotionConfig(
        dataset=a.dataset, head=a.head, compare=a.compare, unit=a.unit, add_sentences=a.add_sentences,
        model=a.model, data_dir=a.data_dir, corpus=a.corpus, out=a.out, max_train_rows=a.max_train_rows,
        max_eval_rows=a.max_eval_rows,
        freeze_embeddings=a.freeze_embeddings, dropout=a.dropout, similarity_credit=a.similarity_credit,
        lora=a.lora, qlora=a.qlora, lora_r=a.lora_r, lora_alpha=a.lora_alpha, lora_dropout=a.lora_dropout,
        train=train)


def main(argv: list[str] | None = None):
    command, cfg = parse_args(argv)
    return score_songs(cfg) if command == "score" else train_emotion(cfg)


if __name__ == "__main__":
    run_cli(main)
