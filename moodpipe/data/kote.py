"""KOTE (Korean Online That-gul Emotions, MIT): 50,000 Korean online comments, each labelled by 5 people with
any of 44 emotions; the public Korean corpus anyone can download (AI-Hub's needs registration).

Files (no header): `<data-dir>/kote/{train,val,test}.tsv` = id<TAB>text<TAB>comma-separated label indices
(0-43, in the order of LABELS, the order of the dataset's README; the release ships no label file, so the names
are built in, and a `labels.txt` beside the splits, when there is one, must list the same).

With train.tsv, the stage trains on it and tunes on val; without it (the
40,000-row file is a large download), it trains on val less a seeded dev slice and tunes on that slice. Test is
always the official test split.

KOTE has no major classes. So that song vectors, recommendations and pages can group its labels as they group
AI-Hub's, each label is named `<group>/<label>` with the valence group of GROUPS (긍정 positive, 부정 negative,
중립 neutral); the grouping is ours, not the dataset's.

    >>> kote_label_names(["기쁨", "슬픔", "없음"])
    ['긍정/기쁨', '부정/슬픔', '중립/없음']
    >>> sorted(GROUP_OF) == sorted(LABELS)  # every label in exactly one group
    True
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from moodpipe import paths
from moodpipe.files import InputError, require_file

DEV_ROWS = 500  # without train.tsv: the slice of val kept aside to tune thresholds and stop early

LABELS = ["불평/불만", "환영/호의", "감동/감탄", "지긋지긋", "고마움", "슬픔", "화남/분노", "존경", "기대감",
          "우쭐댐/무시함", "안타까움/실망", "비장함", "의심/불신", "뿌듯함", "편안/쾌적", "신기함/관심", "아껴주는",
          "부끄러움", "공포/무서움", "절망", "한심함", "역겨움/징그러움", "짜증", "어이없음", "없음", "패배/자기혐오",
          "귀찮음", "힘듦/지침", "즐거움/신남", "깨달음", "죄책감", "증오/혐오", "흐뭇함(귀여움/예쁨)", "당황/난처",
          "경악", "부담/안_내킴", "서러움", "재미없음", "불쌍함/연민", "놀람", "행복", "불안/걱정", "기쁨", "안심/신뢰"]
# Our valence grouping of KOTE's 44 labels (every label in exactly one group; checked on reading).
GROUPS = {
    "긍정": ["환영/호의", "감동/감탄", "고마움", "존경", "기대감", "뿌듯함", "편안/쾌적", "아껴주는", "즐거움/신남",
           "흐뭇함(귀여움/예쁨)", "행복", "기쁨", "안심/신뢰"],
    "부정": ["불평/불만", "지긋지긋", "슬픔", "화남/분노", "우쭐댐/무시함", "안타까움/실망", "의심/불신",
           "부끄러움", "공포/무서움", "절망", "한심함", "역겨움/징그러움", "짜증", "어이없음", "패배/자기혐오",
           "귀찮음", "힘듦/지침", "죄책감", "증오/혐오", "당황/난처", "경악", "부담/안_내킴", "서러움", "재미없음",
           "불쌍함/연민", "불안/걱정"],
    "중립": ["없음", "비장함", "신기함/관심", "깨달음", "놀람"],
}
GROUP_OF = {label: group for group, labels in GROUPS.items() for label in labels}


def kote_label_names(raw: list[str] = LABELS) -> list[str]:
    """KOTE's own label names -> `<group>/<label>`."""
    return [f"{GROUP_OF[x]}/{x}" for x in raw]


def check_labels_file(path: Path) -> None:
    """A labels.txt beside the splits must list LABELS in their order (the indices in the splits refer to it)."""
    listed = [x.strip() for x in Path(path).read_text(encoding="utf-8").splitlines() if x.strip()]
    if listed != LABELS:
        differ = next((i for i, (a, b) in enumerate(zip(listed, LABELS, strict=False)) if a != b), min(len(listed),
                                                                                                    len(LABELS)))
        raise InputError(f"{path} does not list KOTE's {len(LABELS)} labels in their order (first difference at "
                         f"line {differ + 1}); remove it or fix it: the built-in list is moodpipe.data.kote.LABELS")


def kote_present(data_dir: Path) -> bool:
    """Whether the data directory holds what the KOTE stage needs (train.tsv is optional)."""
    root = Path(data_dir)
    return all((root / name).is_file() for name in paths.KOTE_FILES)


def read_kote_split(path: Path, n_labels: int) -> pd.DataFrame:
    """One split: columns comment_id, text, y (a 0/1 vector of n_labels per row)."""
    df = pd.read_csv(path, sep="\t", header=None, names=["comment_id", "text", "ids"], dtype=str,
                     quoting=csv.QUOTE_NONE, keep_default_na=False)
    y = np.zeros((len(df), n_labels), dtype=np.float32)
    for i, ids in enumerate(df.ids):
        y[i, [int(k) for k in ids.split(",") if k.strip()]] = 1.0
    return df.drop(columns="ids").assign(y=list(y))


def read_kote(data_dir: Path, seed: int, dev_rows: int = DEV_ROWS) -> tuple[dict[str, pd.DataFrame], list[str], str]:
    """({train, dev, test}, label names `<group>/<label>`, how train and dev were made)."""
    root = Path(data_dir)
    if (root / paths.KOTE_LABELS).is_file():
        check_labels_file(root / paths.KOTE_LABELS)
    names = kote_label_names()
    read = lambda name: read_kote_split(require_file(root / name, paths.HOW_TO_GET_KOTE), len(names))  # noqa: E731
    test = read(paths.KOTE_TEST)
    if (root / paths.KOTE_TRAIN).is_file():
        return {"train": read(paths.KOTE_TRAIN), "dev": read(paths.KOTE_VAL), "test": test}, names, \
            "train.tsv to train, val.tsv to tune (the official splits)"
    val = read(paths.KOTE_VAL)
    dev = val.sample(n=min(dev_rows, len(val) // 2), random_state=seed)
    train = val.drop(index=dev.index)
    how = (f"no train.tsv: val.tsv less a seeded slice of {len(dev)} rows to train, that slice to tune "
           f"(seed {seed})")
    return {"train": train.reset_index(drop=True), "dev": dev.reset_index(drop=True), "test": test}, names, how
