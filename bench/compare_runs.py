"""Compare two output roots file by file: which files are byte-identical, and for the JSON files that are not,
every value that differs apart from timings, output paths and provenance. Used to show that a refactor or a
re-run changes no result.

    python main.py --quick --offline --out /tmp/before   # at one commit
    python main.py --quick --offline --out /tmp/after    # at another (or the same, to check determinism)
    python bench/compare_runs.py /tmp/before /tmp/after
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

# Keys whose values legitimately differ between two runs of the same code: clocks, speeds, the commit, the
# machine, and where the run wrote its files.
VOLATILE = ("runtime", "seconds", "per_second", "started", "finished", "provenance", "generated", "commit",
            "versions")


def files(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*")) if p.is_file()}


def leaves(value: object, prefix: str = "") -> dict[str, object]:
    """{'.a.b[0]': leaf} for every leaf of a JSON value."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in leaves(item, f"{prefix}.{key}").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in leaves(item, f"{prefix}[{i}]").items()}
    return {prefix: value}


def json_differences(a: Path, b: Path, roots: tuple[Path, Path]) -> list[str]:
    """The leaves that differ, timings and the two output roots left out."""
    try:
        left, right = (leaves(json.loads(p.read_text(encoding="utf-8"))) for p in (a, b))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return [f"unreadable: {e}"]
    same_root = lambda v: str(v).replace(str(roots[0]), "<out>").replace(str(roots[1]), "<out>")  # noqa: E731
    return [f"{key}: {left.get(key, '<absent>')} -> {right.get(key, '<absent>')}"
            for key in sorted(set(left) | set(right))
            if not any(word in key.lower() for word in VOLATILE)
            and same_root(left.get(key, "<absent>")) != same_root(right.get(key, "<absent>"))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    a = p.parse_args()
    left, right = files(a.before), files(a.after)
    identical = [n for n in left if n in right and left[n].read_bytes() == right[n].read_bytes()]
    print(f"byte-identical: {len(identical)} of {len(set(left) | set(right))} files")
    for name in sorted(set(left) | set(right)):
        if name in identical:
            continue
        if name not in left or name not in right:
            print(f"  only in {'after' if name not in left else 'before'}: {name}")
            continue
        diffs = json_differences(left[name], right[name], (a.before, a.after)) if name.endswith(".json") else []
        print(f"  differs: {name}" + (f" ({len(diffs)} values besides timings and paths)" if name.endswith(".json")
                                      else ""))
        for line in diffs:
            print(f"      {line}")


if __name__ == "__main__":
    main()
