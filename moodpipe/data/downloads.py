"""The data step: check every input the selected stages need and, when online, download the public ones
(the reviews and GoEmotions) with a progress bar and a SHA-256 check. The AI-Hub corpus is distributed to
registered users only, so for it the step says where to register and where to put the files.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from moodpipe import paths
from moodpipe.data.aihub import corpus_files
from moodpipe.files import InputError

GITHUB = "https://raw.githubusercontent.com"
GOEMOTIONS_REPO = f"{GITHUB}/monologg/GoEmotions-pytorch/b75f9d3a8b76bc1060687925b04ca98a1b8ea66b/data"
# Public sources (pinned commits) and the SHA-256 of each file as downloaded.
DOWNLOADS = {
    paths.REVIEWS: (f"{GITHUB}/kieutrinhtran/spotify_sentiment_analysis/3d040893f67800652e5d0043be58b5ad4c99567f/"
              "data-test/spotify_reviews_ggplay_20250514_165549.csv",
              "647370f858187ff29848f6b221c6c36d86152270050d8352a588a11cf3a81fb0"),
    "goemotions/original/train.tsv": (f"{GOEMOTIONS_REPO}/original/train.tsv",
                                      "1c254a142be5c00e80d819b9ae1bbd36d94b2eeb8f4b1271846508d57e57d9c5"),
    "goemotions/original/dev.tsv": (f"{GOEMOTIONS_REPO}/original/dev.tsv",
                                    "575489c079c9de1097062a01738f998590d6b7ead66dd1c9fd1d2ba01fd8bc62"),
    "goemotions/original/test.tsv": (f"{GOEMOTIONS_REPO}/original/test.tsv",
                                     "0587b2dd8b27b97352adbfc3fb083d46005c8946657fdc2b1ca8b1cc7f1f8be4"),
    "goemotions/original/labels.txt": (f"{GOEMOTIONS_REPO}/original/labels.txt",
                                       "45c3ef86782d2a4d7fedcd6d8c111aa0d0e94720689bd164fac94fefb4495a89"),
    "goemotions/ekman_mapping.json": (f"{GITHUB}/google-research/google-research/master/goemotions/data/"
                                      "ekman_mapping.json",
                                      "d6b1fea382917c1685c42e1324a0344106be9390f52a3850ce032656d103a328"),
}
HOW_TO_GET = {paths.CORPUS_DIR: f"AI-Hub corpus: {paths.HOW_TO_GET_CORPUS}"}


def download(url: str, sha256: str, dest: Path, timeout: float = 30) -> None:
    """Stream url to dest with a progress bar; keep it only if its SHA-256 matches. The bytes go to a temporary
    file beside dest, renamed to dest only when complete and checked, and removed on any failure (a connection
    cut mid-file raises requests' ChunkedEncodingError), so dest is either the whole checked file or absent."""
    import tempfile
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(name)
    try:
        digest = _stream_to(url, tmp, dest.name, timeout)
        if digest != sha256:
            raise InputError(f"{dest.name}: downloaded from {url}, but its SHA-256 is {digest}, not {sha256}: "
                             "not used")
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)


def _stream_to(url: str, path: Path, label: str, timeout: float) -> str:
    """Write url's body to path with a progress bar; return its SHA-256."""
    import requests
    from tqdm.auto import tqdm
    digest = hashlib.sha256()
    with requests.get(url, stream=True, timeout=timeout) as reply:
        reply.raise_for_status()
        total = int(reply.headers.get("content-length") or 0) or None
        with path.open("wb") as out, tqdm(total=total, unit="B", unit_scale=True, desc=label) as bar:
            for chunk in reply.iter_content(1 << 16):
                out.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
    return digest.hexdigest()


def missing_inputs(data_dir: Path, needed: list[str]) -> list[str]:
    """The needed inputs that are not there; the corpus counts as there when its folder has a corpus file."""
    missing = []
    for name in needed:
        if name == paths.CORPUS_DIR:
            try:
                corpus_files(data_dir / paths.CORPUS_DIR)
            except InputError:
                missing.append(name)
        elif not (data_dir / name).is_file():
            missing.append(name)
    return missing


def ensure_inputs(data_dir: Path, needed: list[str], allow_download: bool = True) -> dict:
    """Download the missing public inputs; stop at once, listing every missing input and how to get it."""
    import requests
    missing = missing_inputs(data_dir, needed)
    downloaded, problems = [], []
    for name in missing:
        if name in DOWNLOADS and allow_download and not problems:
            try:
                download(*DOWNLOADS[name], data_dir / name)
                downloaded.append(name)
                continue
            except requests.RequestException as e:
                why = " ".join(str(e).split())[:160]  # e.g. "500 Server Error", "IncompleteRead(... bytes read"
                problems.append(f"{name}: download failed ({type(e).__name__}: {why}); fetch {DOWNLOADS[name][0]}")
                continue
        how = f"download {DOWNLOADS[name][0]}" if name in DOWNLOADS else HOW_TO_GET.get(name, "see docs/data.md")
        problems.append(f"{name}: {how}")
    if problems:
        raise InputError(f"missing inputs in {data_dir} (set --data-dir or DATA_DIR):\n  - " + "\n  - ".join(problems))
    return {"inputs": needed, "downloaded": downloaded}


def needed_inputs(stages: list[str]) -> list[str]:
    """The inputs in the data directory that the selected stages read."""
    per_stage = {"sentiment": [paths.REVIEWS], "emotion": [paths.CORPUS_DIR], "goemotions": paths.GOEMOTIONS_FILES,
                 "mood": paths.GOEMOTIONS_FILES}
    return list(dict.fromkeys(name for stage in stages for name in per_stage.get(stage, [])))
