"""One run context and one output contract: the device is resolved once per command, in one module, and
reaches every stage; metric keys, column prefixes and figure names are written in one module.

    python -m pytest -q tests/test_context.py
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

import main as pipeline
from moodpipe import contract, runtime
from moodpipe.context import RunContext, add_run_options, run_context
from moodpipe.report.figures import DRAW

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = ["main", "mobilebert_project", "predict_sample", "generate_graphs", "lyrics_emotion", "recommend",
           "crawl_melon"]
SOURCES = [*sorted((REPO / "moodpipe").rglob("*.py")), *(REPO / f"{s}.py" for s in SCRIPTS)]
METRIC_KEYS = {contract.ACCURACY, contract.MACRO_F1, contract.WEIGHTED_F1, contract.CONFUSION, contract.PER_CLASS,
               contract.BEST_VAL_MACRO_F1, contract.LABELS60, contract.LABELS28_TUNED, contract.LABELS28_AT_HALF,
               contract.EKMAN7_TUNED, contract.MAJORITY, contract.TFIDF_WORDS, contract.TFIDF_CHARS,
               contract.PRECISION_AT_K, contract.RECALL_AT_K, contract.SONG_MOODS_KOREAN, contract.SONG_MOODS_ENGLISH}


def code_strings(path: Path) -> list[tuple[int, str]]:
    """Every string constant in a file's code (f-string parts included), docstrings left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, ast.Module | ast.FunctionDef | ast.ClassDef) and n.body
                  and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


def calls_to(path: Path, name: str) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, "id", getattr(n.func, "attr", None)) == name]


def test_the_device_is_resolved_only_by_the_run_context():
    callers = {str(p.relative_to(REPO)): lines for p in SOURCES if (lines := calls_to(p, "resolve_runtime"))}
    assert set(callers) == {"moodpipe/context.py"}, callers


@pytest.mark.parametrize("key", sorted(METRIC_KEYS) + ["emo:", "major:"])
def test_metric_keys_and_column_prefixes_are_written_in_the_contract_alone(key):
    found = [f"{p.relative_to(REPO)}:{line}" for p in SOURCES if p.name != "contract.py"
             for line, text in code_strings(p) if text == key]
    assert not found, f"{key!r} written outside moodpipe/contract.py: {found}"


def test_every_registered_figure_has_a_drawing_and_nothing_else_does():
    assert set(DRAW) == {f.name for f in contract.FIGURES}
    assert len({f.name for f in contract.FIGURES}) == len(contract.FIGURES)


def test_the_shared_options_become_one_context(tmp_path, monkeypatch):
    import argparse
    monkeypatch.delenv("DATA_DIR", raising=False)
    p = argparse.ArgumentParser()
    add_run_options(p)
    ctx = run_context(p.parse_args(["--out", str(tmp_path), "--device", "cpu", "--precision", "fp32", "--seed", "7"]))
    assert ctx == RunContext(out=tmp_path, data_dir=Path("data"), runtime=runtime.Runtime("cpu", "fp32"), seed=7)
    assert ctx.settings() == {"data_dir": "data", "seed": 7, "device": "cpu", "precision": "fp32"}


def test_a_command_resolves_its_device_once_and_every_stage_runs_on_it(quick_run, tmp_path, monkeypatch):
    """main.py's evaluation and graphs stages on the quick run's outputs: one resolution, and the emotion model
    is scored on the device the context resolved (here a stand-in name the real policy never returns)."""
    out, argv, _ = quick_run
    copy = Path(shutil.copytree(out, tmp_path / "out"))
    asked: list[tuple[str, str]] = []

    def resolve(device: str, precision: str) -> runtime.Runtime:
        asked.append((device, precision))
        return runtime.Runtime("cpu", "fp32")

    monkeypatch.setattr("moodpipe.context.resolve_runtime", resolve)
    used: list[str] = []
    from moodpipe.models import emotion_predictor
    real = emotion_predictor.load_emotion_predictor
    monkeypatch.setattr(emotion_predictor, "load_emotion_predictor",
                        lambda folder, device="cpu": used.append(device) or real(folder, device))
    pipeline.main([*argv, "--out", str(copy), "--stages", "recommend,graphs", "--force", "--device", "cpu",
                   "--precision", "fp32"])
    assert asked == [("cpu", "fp32")]
    assert used and set(used) == {"cpu"}
