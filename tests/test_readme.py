"""README.md's figures come from runs: every decimal number in it (outside code) appears in a committed results
file written by a run, so a figure cannot drift from the run that made it.

    python -m pytest -q tests/test_readme.py
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The results documents runs write, committed: main.py's report, recommend.py --evaluate's tables and
# lyrics_emotion.py train --compare's head comparison.
RESULTS_FILES = ("docs/results.md", "docs/retrieval_eval.md", "docs/head_comparison.md")
DECIMAL = re.compile(r"(?<![\w.])\d+\.\d+(?![\w.])")
VERSION = re.compile(r"\b(?:Python|torch)[ =]+\d+\.\d+")


def prose(markdown: str) -> str:
    """The text a reader takes figures from: code blocks, inline code, links' targets and versions removed."""
    text = re.sub(r"```.*?```", " ", markdown, flags=re.S)
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return VERSION.sub(" ", text)


def decimal_figures(markdown: str) -> list[str]:
    """
    >>> decimal_figures("accuracy **0.465** (`torch==2.13.0`), Python 3.11, [x](docs/a.1.md) 12.5 min")
    ['0.465', '12.5']
    """
    return DECIMAL.findall(prose(markdown))


def test_every_decimal_figure_in_the_readme_is_in_a_committed_results_file():
    results = "\n".join((ROOT / name).read_text(encoding="utf-8") for name in RESULTS_FILES
                        if (ROOT / name).is_file())
    missing = [f for f in decimal_figures((ROOT / "README.md").read_text(encoding="utf-8")) if f not in results]
    assert not missing, f"README.md figures found in no results file ({', '.join(RESULTS_FILES)}): {missing}"


def test_the_results_files_say_how_they_were_made():
    for name in RESULTS_FILES:
        head = (ROOT / name).read_text(encoding="utf-8")[:2000]
        assert "- command: `python " in head and "- commit: `" in head, name


def test_the_readme_stays_a_guide():
    assert (ROOT / "README.md").stat().st_size <= 12_000
