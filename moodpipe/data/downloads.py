"""The data step: check every input the selected stages need and, when online, download the public ones
(the reviews, GoEmotions and KOTE) with a progress bar and a SHA-256 check. The AI-Hub corpus is distributed to
registered users only, so for it the step says where to register and where to put the files.

KOTE's train.tsv (40,000 rows) has no pinned SHA-256 (no copy of it was at hand to take one from): it is fetched
when online and used when present, never required, and its download keeps the SHA-256 of what arrived in
`train.tsv.sha256` beside it and says so, so that a later change of the file upstream can be seen.
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
KOTE_REPO = f"{GITHUB}/searle-j/KOTE/cafd2c3f54a6f4b25ac74eaa02a2e76c3ef8c977"
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
    paths.KOTE_VAL: (f"{KOTE_REPO}/val.tsv", "c7d686ee1d63be7f57ec939f372ebdc4ada8eac1c9eeeeac207774976ab69a6e"),
    paths.KOTE_TEST: (f"{KOTE_REPO}/test.tsv", "8d8e11c5adf374f552cfbe6f2d7b9967e7335cc86c205beeefb6fd8c6ed9deb0"),
    paths.KOTE_TRAIN: (f"{KOTE_REPO}/train.tsv", None),  # not pinned: see the module's docstring
}
OPTIONAL = {paths.KOTE_TRAIN: [paths.KOTE_VAL]}  # fetched when online and its partners are needed; never required
UNPINNED_SUFFIX = ".sha256"  # beside a file downloaded without a pinned checksum: the SHA-256 of what arrived
# The public sources, by the first folder of their files: what the first-run screen names.
SOURCES = {"reviews": "Spotify app reviews, github.com/kieutrinhtran/spotify_sentiment_analysis",
           paths.GOEMOTIONS_DIR: "GoEmotions, github.com/monologg/GoEmotions-pytorch (+ google-research)",
           paths.KOTE_DIR: "KOTE, github.com/searle-j/KOTE (the public Korean corpus, used without AI-Hub's)"}
FETCH_COMMAND = "python main.py --stages data"  # online: downloads every missing public input
HOW_TO_GET = {paths.CORPUS_DIR: f"AI-Hub corpus: {paths.HOW_TO_GET_CORPUS}"}


def download(url: str, sha256: str | None, dest: Path, timeout: float = 30) -> None:
    """Stream url to dest with a progress bar; keep it only if its SHA-256 matches (None: not pinned, so keep it
    and write the SHA-256 it had to `<dest>.sha256`, saying so). The bytes go to a temporary
    file beside dest, renamed to dest only when complete and checked, and removed on any failure (a connection
    cut mid-file raises requests' ChunkedEncodingError), so dest is either the whole checked file or absent."""
    import tempfile
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(name)
    try:
        digest = _stream_to(url, tmp, dest.name, timeout)
        if sha256 is not None and digest != sha256:
            raise InputError(f"{dest.name}: downloaded from {url}, but its SHA-256 is {digest}, not {sha256}: "
                             "not used")
        tmp.replace(dest)
        if sha256 is None:
            record = dest.with_name(dest.name + UNPINNED_SUFFIX)
            record.write_text(f"{digest}  {dest.name}\n", encoding="utf-8")
            print(f"{dest.name}: no pinned SHA-256 to check it against; the downloaded file's is {digest} "
                  f"(kept in {record})")
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


def ensure_inputs(data_dir: Path, needed: list[str], allow_download: bool = True,
                  also_missing: list[str] = ()) -> dict:
    """Download the missing public inputs; stop at once, listing every missing input and how to get it
    (also_missing: the caller's own, e.g. the lyrics). Offline, the list is the first-run screen."""
    import requests
    missing = missing_inputs(data_dir, needed)
    if not allow_download:
        if missing or also_missing:
            raise InputError(first_run_screen(data_dir, missing, also_missing))
        return {"inputs": needed, "downloaded": []}
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
    problems += list(also_missing)
    if problems:
        raise InputError(f"missing inputs in {data_dir} (set --data-dir or DATA_DIR):\n  - " + "\n  - ".join(problems))
    return {"inputs": needed, "downloaded": downloaded + fetch_optional(data_dir, needed)}


def fetch_optional(data_dir: Path, needed: list[str]) -> list[str]:
    """Online, the optional inputs whose partners are needed (KOTE's train split): a failure is a warning."""
    import requests
    fetched = []
    for name, partners in OPTIONAL.items():
        if set(partners) <= set(needed) and not (data_dir / name).is_file():
            try:
                download(*DOWNLOADS[name], data_dir / name)
                fetched.append(name)
            except (requests.RequestException, InputError) as e:
                print(f"note: {name} (optional) was not downloaded ({type(e).__name__}); going on without it")
    return fetched


def first_run_screen(data_dir: Path, missing: list[str], also_missing: list[str]) -> str:
    """What is missing, grouped by where it comes from, and the one command that fetches the public part."""
    public = {folder: [n.split("/", 1)[1] for n in missing if n in DOWNLOADS and n.split("/")[0] == folder]
              for folder in SOURCES}
    public = {folder: files for folder, files in public.items() if files}
    lines = [f"missing inputs in {data_dir} (set --data-dir or DATA_DIR):"]
    listed = {folder: files[0] if len(files) == 1 else "{" + ",".join(files) + "}" for folder, files in public.items()}
    lines += [f"  - {folder}/{names}: public, from {SOURCES[folder]}" for folder, names in listed.items()]
    lines += [f"  - {HOW_TO_GET.get(n, n + ': see docs/data.md')}" for n in missing if n not in DOWNLOADS]
    lines += [f"  - {problem}" for problem in also_missing]
    if paths.CORPUS_DIR not in missing:  # AI-Hub's corpus is optional: say where it goes, once
        lines.append(f"  - optional, AI-Hub 감성 대화 말뭉치 instead of KOTE: {paths.HOW_TO_GET_CORPUS}")
    if public:
        lines.append(f"fetch the public ones (online): {FETCH_COMMAND} --data-dir {data_dir}")
    return "\n".join(lines)


def needed_inputs(stages: list[str], korean: str = "aihub") -> list[str]:
    """The inputs in the data directory that the selected stages read (the emotion stage's: AI-Hub's corpus, or
    with korean="kote" KOTE's splits)."""
    korean_files = [paths.CORPUS_DIR] if korean == "aihub" else paths.KOTE_FILES
    per_stage = {"sentiment": [paths.REVIEWS], "emotion": korean_files, "goemotions": paths.GOEMOTIONS_FILES,
                 "mood": paths.GOEMOTIONS_FILES}
    return list(dict.fromkeys(name for stage in stages for name in per_stage.get(stage, [])))
