"""README.md's figures come from runs: every decimal number in it (outside code) appears, as a whole number, in a
committed results file written by a run, and each figure of the results table appears in the very row of the
results file it comes from (SOURCES), so a figure cannot drift from the run that made it.

    python -m pytest -q tests/test_readme.py
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The results documents runs write, committed: main.py's report (and its run on KOTE alone), recommend.py
# --evaluate's tables, lyrics_emotion.py train --compare's head comparison and bench/seeds.py's seed spread.
RESULTS_FILES = ("docs/results.md", "docs/retrieval_eval.md", "docs/head_comparison.md", "docs/results_kote.md",
                 "docs/seeds.md")
DECIMAL = re.compile(r"(?<![\w.])\d+\.\d+(?![\w.])")
NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?![\w]|\.\d)")
VERSION = re.compile(r"\b(?:Python|torch)[ =]+\d+\.\d+")
# Each row of README's results table (by the start of its first cell) -> the rows its figures come from:
# (results file, the start of that row's first cell there).
SOURCES = {
    "review sentiment": [("docs/results.md", "fine-tuned "), ("docs/results.md", "TF-IDF word 1-2 grams + LR"),
                         ("docs/seeds.md", "sentiment accuracy"), ("docs/seeds.md", "sentiment macro-F1"),
                         ("docs/seeds.md", "sentiment accuracy minus TF-IDF + LR")],
    "Korean emotion": [("docs/results.md", "arch2"), ("docs/results.md", "TF-IDF char 1-4 grams + LR")],
    "GoEmotions": [("docs/results.md", "28 labels, thresholds tuned on dev"),
                   ("docs/results.md", "majority label set"), ("docs/seeds.md", "GoEmotions macro-F1 (28, tuned)")],
    "songs: top-10 mood agreement": [("docs/retrieval_eval.md", "Held out (5 folds"),
                                     ("docs/seeds.md", "song moods (Korean): default, held out"),
                                     ("docs/retrieval_eval.md", "generic"), ("docs/retrieval_eval.md", "tfidf"),
                                     ("docs/retrieval_eval.md", "chance")],
    "songs: half-split recall@10": [("docs/retrieval_eval.md", "**hybrid 0.5 mood + 0.5 features**"),
                                    ("docs/retrieval_eval.md", "features")],
}


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


def numbers(text: str) -> set[str]:
    """Every whole number in a text, so that 0.45 is not found in 0.4510 nor 0.44 in 0.4428.

    >>> sorted(numbers("| x | 0.4510 / 0.4428 | 7,988 songs, 12.5% |"))
    ['0.4428', '0.4510', '12.5', '7,988']
    """
    return set(NUMBER.findall(text))


def table_rows(markdown: str) -> dict[str, str]:
    """{first cell: the whole row} for every markdown table row."""
    rows = {}
    for line in markdown.splitlines():
        if line.startswith("|") and not re.match(r"\|[-| ]+\|$", line):
            rows.setdefault(line.split("|")[1].strip(), line)
    return rows


def read(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def test_every_decimal_figure_in_the_readme_is_a_whole_number_in_a_committed_results_file():
    results = set().union(*(numbers(read(name)) for name in RESULTS_FILES if (ROOT / name).is_file()))
    missing = [f for f in decimal_figures(read("README.md")) if f not in results]
    assert not missing, f"README.md figures found in no results file ({', '.join(RESULTS_FILES)}): {missing}"


def readme_results_rows() -> dict[str, str]:
    text = read("README.md")
    table = text[text.index("## Results"):]
    return {cell: row for cell, row in table_rows(table).items() if cell != "task (test set)"}


def test_every_row_of_the_readme_results_table_has_a_source():
    rows = readme_results_rows()
    assert rows, "README.md has no results table"
    unsourced = [cell for cell in rows if not any(cell.startswith(key) for key in SOURCES)]
    assert not unsourced, f"README results rows with no source in SOURCES: {unsourced}"


@pytest.mark.parametrize("key", SOURCES)
def test_each_results_table_figure_is_in_the_row_it_comes_from(key):
    readme_row = next(row for cell, row in readme_results_rows().items() if cell.startswith(key))
    cells = readme_row.split("|")[2:]  # the figures, not the task's description
    source_rows = []
    for name, label in SOURCES[key]:
        text = read(name)  # a table row by its first cell, else a line of prose (the held-out song figure)
        found = ([row for cell, row in table_rows(text).items() if cell.startswith(label)]
                 or [line for line in text.splitlines() if line.startswith(label)])
        assert found, f"{name} has no row starting {label!r} (README row {key!r})"
        source_rows.append(found[0])
    figures = [f for f in DECIMAL.findall(" ".join(cells))]
    assert figures, key
    sourced = set().union(*(numbers(row) for row in source_rows))
    missing = [f for f in figures if f not in sourced]
    assert not missing, f"README row {key!r}: {missing} are in none of its source rows {SOURCES[key]}"


def test_the_results_files_say_how_they_were_made():
    for name in RESULTS_FILES:
        head = (ROOT / name).read_text(encoding="utf-8")[:2000]
        assert "- command: `python " in head and "- commit: `" in head, name


def test_the_readme_stays_a_guide():
    assert (ROOT / "README.md").stat().st_size <= 12_000
