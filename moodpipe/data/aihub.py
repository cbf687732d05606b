"""The AI-Hub emotional dialogue corpus (감성 대화 말뭉치): read its files, label each dialogue with the
built-in codebook, split by dialogue, and cut dialogues into training units.

Every xlsx and json file in the corpus folder (the Training and the Validation split, in either format)
is pooled; a dialogue that appears in two files (the same split shipped as xlsx and json) is kept once.
A folder with neither holds CSV files of the xlsx's columns (used by tests and hand-made corpora).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from moodpipe.data.codebook import check_codebook_file, label_index, label_key, label_names
from moodpipe.files import InputError, read_csv_checked, require_columns, write_csv_atomic
from moodpipe.paths import HOW_TO_GET_CORPUS, Layout

log = logging.getLogger("pipeline")

HUMAN_COLUMNS = ["사람문장1", "사람문장2", "사람문장3"]
MAJOR_COLUMN, SUB_COLUMN = "감정_대분류", "감정_소분류"
SENTENCES = ["s1", "s2", "s3"]
CODEBOOK_FILE_PREFIX = "emotion_label_map"  # a codebook CSV beside the corpus is checked, never read as data


def corpus_files(corpus: Path) -> list[Path]:
    """The corpus file itself, or every xlsx and json file in the corpus folder (else its csv files)."""
    if corpus.is_file():
        return [corpus]
    if not corpus.is_dir():
        raise InputError(f"missing emotion corpus {corpus}: {HOW_TO_GET_CORPUS}")
    found = sorted(p for pattern in ("*.xlsx", "*.json") for p in corpus.glob(pattern) if _is_corpus(p))
    found = found or sorted(p for p in corpus.glob("*.csv") if _is_corpus(p))
    if not found:
        raise InputError(f"no .xlsx, .json or .csv corpus file in {corpus}: {HOW_TO_GET_CORPUS}")
    return found


def _is_corpus(path: Path) -> bool:
    return not path.name.startswith(("~$", ".", CODEBOOK_FILE_PREFIX))


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
    for name, col in zip(SENTENCES, HUMAN_COLUMNS, strict=True):
        table[name] = df[col].str.strip() if col in df else ""
    return table


def read_corpus_json(path: Path) -> pd.DataFrame:
    """The released JSON: a list of {profile: {emotion: {type: E18}}, talk: {id, content: {HS01.., SS01..}}}."""
    try:
        records = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path} is not readable JSON ({e}); {HOW_TO_GET_CORPUS}") from None
    rows = [json_dialogue(rec, path, i) for i, rec in enumerate(records if isinstance(records, list) else [])]
    if not rows:
        raise InputError(f"{path} holds no dialogues (expected a JSON list of profile/talk records)")
    return pd.DataFrame(rows)


def json_dialogue(rec: object, path: Path, i: int) -> dict:
    rec = rec if isinstance(rec, dict) else {}
    talk = rec.get("talk", {})
    content = talk.get("content", {})
    code = str(rec.get("profile", {}).get("emotion", {}).get("type", ""))
    return {"dialogue_id": f"{path.stem}:{talk.get('id', {}).get('talk-id', i + 1)}", "major": "", "sub": "",
            "e_code": code.strip(), **{f"s{k}": str(content.get(f"HS0{k}") or "").strip() for k in (1, 2, 3)}}


def label_dialogues(table: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Attach label ids; count (never silently drop) rows with no text or a label outside the codebook."""
    by_code, by_pair = label_index()
    ids = [by_code.get(c) if c else by_pair.get(label_key(m, s))
           for c, m, s in zip(table.e_code, table.major, table["sub"], strict=True)]
    table = table.assign(label_id=pd.array(ids, dtype="Int64"))
    empty = (table[SENTENCES] == "").all(axis=1)
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


def load_emotion_corpus(corpus: Path) -> tuple[pd.DataFrame, list[str], dict]:
    """Dialogues with label ids, the 60 label names, and a data report (files, counts, bad rows)."""
    files = corpus_files(corpus)
    codebooks = sorted(corpus.glob(f"{CODEBOOK_FILE_PREFIX}*.csv")) if corpus.is_dir() else []
    for book in codebooks:
        check_codebook_file(book)
    tables = [read_corpus_table(p) for p in files]
    dialogues, bad = label_dialogues(pd.concat(tables, ignore_index=True))
    before = len(dialogues)
    dialogues = dialogues.drop_duplicates([*SENTENCES, "label_id"]).reset_index(drop=True)
    report = {"files": [str(p) for p in files], "dialogues_per_file": {str(p): len(t) for p, t in zip(files, tables,
                                                                                                       strict=True)},
              "codebook": "built-in E10-E69", "codebooks_checked": [str(p) for p in codebooks], **bad,
              "duplicate_dialogues": before - len(dialogues)}
    report["rows_used"] = len(dialogues)
    return dialogues, label_names(), report


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
    sentences = dialogues[SENTENCES].to_numpy().tolist()
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


def limit_rows(parts: dict[str, pd.DataFrame], max_train: int | None, max_eval: int | None,
               seed: int) -> dict[str, pd.DataFrame]:
    """A seeded sample of the training side and the first rows of the others (quick runs)."""
    parts = dict(parts)
    if max_train:
        parts["train"] = parts["train"].sample(min(max_train, len(parts["train"])), random_state=seed)
    if max_eval:
        parts = {k: v if k == "train" else v.head(max_eval) for k, v in parts.items()}
    return parts


ONE_PER_MAJOR = "one-per-major"  # --only-labels value: each major class's most frequent label


def keep_labels(dialogues: pd.DataFrame, names: list[str], only: tuple[str, ...]) -> pd.DataFrame:
    """The dialogues of the given labels only (quick runs: a few, clearly distinct labels). `one-per-major`
    keeps each major class's most frequent label (ties: code order), so every major class stays."""
    if only == (ONE_PER_MAJOR,):
        counts = dialogues.label_id.value_counts().reindex(range(len(names)), fill_value=0)
        majors = pd.Series([n.split("/", 1)[0] for n in names])
        only = tuple(names[int(counts[majors == m].idxmax())] for m in majors.unique() if counts[majors == m].any())
    unknown = sorted(set(only) - set(names))
    if unknown:
        raise InputError(f"--only-labels: unknown label {', '.join(unknown)}; labels are <major>/<sub> names "
                         f"such as {names[0]}")
    return dialogues[dialogues.label_id.isin([names.index(n) for n in only])].reset_index(drop=True)


def prepare_aihub(corpus: Path, unit: str, add_sentences: bool, seed: int, max_train_rows: int | None,
                  max_eval_rows: int | None, layout: Layout, write: bool = True,
                  only_labels: tuple[str, ...] = ()) -> tuple[dict[str, pd.DataFrame], list[str], dict]:
    """Read, split by dialogue, cut into units, and write the split exactly as used."""
    dialogues, names, report = load_emotion_corpus(corpus)
    if only_labels:
        dialogues = keep_labels(dialogues, names, only_labels)
    parts, stratified = split_dialogues(dialogues, seed)
    parts = limit_rows(parts, max_train_rows, max_eval_rows, seed)
    units = {k: dialogue_units(v, unit, names) for k, v in parts.items()}
    if add_sentences and unit == "dialogue":  # more views of each training dialogue; eval unchanged
        units["train"] = pd.concat([units["train"], dialogue_units(parts["train"], "sentence", names)],
                                   ignore_index=True)
    if write:
        for name, part in units.items():
            write_csv_atomic(layout.emotion_split(name), part)
    report.update(unit=unit, add_sentences=add_sentences, stratified=stratified, split_seed=seed,
                  only_labels=list(only_labels),
                  split_dialogues={k: len(v) for k, v in parts.items()},
                  split_units={k: len(v) for k, v in units.items()})
    return units, names, report
