"""What a finished stage leaves behind to be trusted later, and what an interrupted one leaves to be cleaned up.

A stage's record (results/stages/<name>.json) holds the fingerprint of its settings and every file it produced
with its size (and SHA-256 when the file is small), relative to the output root. The record is removed when
the stage starts and written when it finishes, so a run killed in the middle of a stage leaves none; a file
cut short or changed afterwards no longer matches it. Either way the stage reruns instead of being trusted.

    >>> fingerprint({"seed": 42})
    '1e5792df46fc8663'
    >>> fingerprint({"out": "/runs/a", "model": "/runs/a/saved_model"}, "/runs/a") == fingerprint(
    ...     {"out": "/tmp/b", "model": "/tmp/b/saved_model"}, "/tmp/b")
    True
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from moodpipe.files import TMP_SUFFIX, write_json_atomic
from moodpipe.provenance import code_commit

HASHED_UP_TO = 1 << 20  # files up to 1 MiB are hashed too (metrics, configs, tokenizers); weights by size only
CHECKPOINTS = ".checkpoints-*"  # the Trainer's work folders (moodpipe.models), removed when training ends


def fingerprint(settings: object, root: str | Path | None = None) -> str:
    """A short hash of a stage's settings. Paths under the output root count relative to it, so a run folder
    that is moved or copied stays fresh (its records live inside it)."""
    portable = json.dumps(relative_to_root(settings, str(root)) if root is not None else settings,
                          sort_keys=True, default=str)
    return hashlib.sha256(portable.encode()).hexdigest()[:16]


def relative_to_root(value: object, root: str) -> object:
    if isinstance(value, dict):
        return {k: relative_to_root(v, root) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [relative_to_root(v, root) for v in value]
    if isinstance(value, str | Path) and (str(value) == root or str(value).startswith(root.rstrip("/") + "/")):
        return "<out>" + str(value)[len(root.rstrip("/")):]
    return value


def file_facts(path: Path) -> dict:
    size = path.stat().st_size
    facts: dict = {"size": size}
    if size <= HASHED_UP_TO:
        facts["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return facts


def produced_files(root: Path, candidates: list[Path]) -> dict[str, dict]:
    """{path relative to root: facts} of the candidates that exist; a folder stands for its visible files."""
    files = []
    for path in candidates:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        elif path.is_file():
            files.append(path)
    return {relative(p, root): file_facts(p) for p in files}


def relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:  # an output outside the root (e.g. the crawler's CSV in the data directory)
        return str(path.resolve())


def write_record(path: Path, settings: object, root: Path, candidates: list[Path], seconds: float,
                 finished: str) -> None:
    write_json_atomic(path, {"settings": fingerprint(settings, root), "finished": finished, "seconds": seconds,
                             "commit": code_commit(), "files": produced_files(root, candidates)})


def last_run(path: Path) -> dict:
    """When a skipped stage last ran here, for the report: {seconds, finished, commit}, from its record."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: record[k] for k in ("seconds", "finished", "commit") if k in record}


def record_problem(path: Path, settings: object, root: Path) -> str | None:
    """Why the record at path cannot vouch for the stage's outputs (None: it can)."""
    if not path.is_file():
        return "never finished here"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        settings_seen, files = record["settings"], record.get("files", {})
    except (ValueError, KeyError, TypeError):
        return f"its record {path} is unreadable"
    if settings_seen != fingerprint(settings, root):
        return "settings changed"
    for name, facts in files.items():
        problem = file_problem(Path(name) if Path(name).is_absolute() else root / name, facts)
        if problem:
            return problem
    return None


def file_problem(path: Path, facts: dict) -> str | None:
    """A cheap integrity check of one produced file against its recorded facts."""
    if not path.is_file():
        return f"{path} is missing"
    size = path.stat().st_size
    if size != facts.get("size"):
        return f"{path} is {size} bytes, not the {facts.get('size')} it had when the stage finished (cut short?)"
    if "sha256" in facts and hashlib.sha256(path.read_bytes()).hexdigest() != facts["sha256"]:
        return f"{path} changed since the stage finished"
    return None


def remove_orphans(root: Path, folders: list[Path], extra: list[Path] = ()) -> list[tuple[Path, int]]:
    """Delete what killed writes leave: `.<name>.<random>.tmp` files (moodpipe.files) and `.*.tmp*` files of other
    savers and `.<name>.<random>.tmp` folders (moodpipe.files.atomic_folder) in the given folders, the
    Trainer's `.checkpoints-*` folders under the root and its saved_model/, and
    the extra paths that exist. Returns (path, bytes) of what was removed. Only call it before a run's stages
    start: a running save's temporary file looks the same."""
    found = [p for folder in (root, root / "saved_model") if folder.is_dir() for p in folder.glob(CHECKPOINTS)]
    found += [p for folder in folders if folder.is_dir() for p in folder.iterdir()
              if p.name.startswith(".") and (p.is_file() and TMP_SUFFIX in p.name or p.name.endswith(TMP_SUFFIX))]
    found += [p for p in extra if p.exists()]
    removed = []
    for path in found:
        removed.append((path, sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir()
                        else path.stat().st_size))
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    return removed


def describe_removed(removed: list[tuple[Path, int]]) -> str:
    """One line: how many, how big, and which (the first few)."""
    names = ", ".join(str(p) for p, _ in removed[:3]) + (f" and {len(removed) - 3} more" if len(removed) > 3 else "")
    return (f"removed {len(removed)} leftover(s) of an interrupted run "
            f"({sum(n for _, n in removed) / 1e6:.1f} MB): {names}")


def earlier_stage_times(records: Path) -> dict[str, float]:
    """Seconds each stage took when it last finished in this output folder (its record), for the estimates."""
    times = {}
    for path in Path(records).glob("*.json"):
        try:
            times[path.stem] = float(json.loads(path.read_text(encoding="utf-8"))["seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return times


def progress_line(selected: list[str], finished: str, elapsed: float, earlier: dict[str, float]) -> str:
    """`[progress] 3/9 stages, 12 min so far; about 40 min left (...)`: what remains is estimated from the
    stages' times in this folder's previous run, when there was one.

    >>> progress_line(["data", "crawl"], "data", 90, {"crawl": 600})
    '[progress] 1/2 stages, 2 min so far; about 10 min left (the last run here took that long for them)'
    """
    left = selected[selected.index(finished) + 1:]
    line = f"[progress] {len(selected) - len(left)}/{len(selected)} stages, {elapsed / 60:.0f} min so far"
    if not left:
        return line + "; done"
    if any(s not in earlier for s in left):
        return line + f"; next: {left[0]} (no estimate: no earlier run of every remaining stage here)"
    minutes = sum(earlier[s] for s in left) / 60
    return line + f"; about {minutes:.0f} min left (the last run here took that long for them)"
