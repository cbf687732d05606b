"""GoEmotions (Reddit comments, 27 emotions + neutral, multi-label) as the release ships it.

Files (no header): `<data-dir>/goemotions/original/{train,dev,test}.tsv` = text<TAB>label ids<TAB>comment id,
`original/labels.txt`, and `ekman_mapping.json`.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd

from moodpipe import paths
from moodpipe.files import require_file


def read_goemotions(data_dir: Path) -> tuple[dict[str, pd.DataFrame], list[str], dict]:
    """The original 28-label release: text<TAB>ids<TAB>comment id, no header; and the Ekman grouping."""
    root = Path(data_dir) / paths.GOEMOTIONS_DIR
    labels_path = require_file(root / "original" / "labels.txt", paths.HOW_TO_GET_GOEMOTIONS)
    names = [x.strip() for x in labels_path.read_text(encoding="utf-8").splitlines() if x.strip()]
    parts = {}
    for split in ("train", "dev", "test"):
        path = require_file(root / "original" / f"{split}.tsv", paths.HOW_TO_GET_GOEMOTIONS)
        df = pd.read_csv(path, sep="\t", header=None, names=["text", "ids", "comment_id"], dtype=str,
                         quoting=csv.QUOTE_NONE, keep_default_na=False)
        y = np.zeros((len(df), len(names)), dtype=np.float32)
        for i, ids in enumerate(df.ids):
            y[i, [int(k) for k in ids.split(",") if k]] = 1.0
        parts[split] = df.assign(y=list(y))
    mapping = require_file(root / "ekman_mapping.json", paths.HOW_TO_GET_GOEMOTIONS)
    return parts, names, json.loads(mapping.read_text(encoding="utf-8"))
