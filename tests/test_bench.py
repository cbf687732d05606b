"""The benchmarks' own arithmetic: the seed spread table, the neighbour agreement of two scorings, and the
padding count of length-grouped batches (the runs themselves are too long for the suite)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def bench_module(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_seed_table_gives_mean_sample_sd_range_and_every_seed():
    seeds = bench_module("seeds")
    lines = seeds.spread_table({42: {"acc": 0.90, "f1": 0.80}, 1: {"acc": 0.92, "f1": 0.80}, 2: {"acc": 0.94}})
    assert lines[0] == "| figure | mean | sd | min-max | seed 42 | seed 1 | seed 2 |"
    assert lines[2] == "| acc | 0.920 | 0.020 | 0.900-0.940 | 0.900 | 0.920 | 0.940 |"
    assert lines[3].startswith("| f1 | 0.800 | 0.000 | 0.800-0.800 |")  # a figure a seed lacks: over those with it


def test_a_finished_seed_is_reused_only_with_the_same_quick_setting(tmp_path):
    seeds = bench_module("seeds")
    assert seeds.finished_figures(tmp_path, quick=False) is None  # never ran
    (tmp_path / seeds.SEED_FIGURES).write_text(json.dumps({"seed": 1, "quick": True, "figures": {"acc": 0.9}}))
    assert seeds.finished_figures(tmp_path, quick=True) == {"acc": 0.9}
    assert seeds.finished_figures(tmp_path, quick=False) is None  # a smoke test's figures never stand in


def test_a_seed_gives_the_reviews_baseline_on_its_own_split_and_the_margin_over_it(tmp_path):
    """The seed draws the reviews' split, so the seed table reads TF-IDF + LR from the same run's metrics."""
    from moodpipe import paths
    from moodpipe.contract import ACCURACY, EKMAN7_TUNED, LABELS28_TUNED, MACRO_F1, TFIDF_WORDS
    seeds = bench_module("seeds")
    layout = paths.Layout(tmp_path)
    for folder, metrics in ((layout.sentiment_model, {"test": {ACCURACY: 0.91, MACRO_F1: 0.90},
                                                      "baselines": {TFIDF_WORDS: {ACCURACY: 0.88}}}),
                            (layout.goemotions_model, {"test": {LABELS28_TUNED: {MACRO_F1: 0.4},
                                                                EKMAN7_TUNED: {MACRO_F1: 0.6}}})):
        folder.mkdir(parents=True)
        (folder / paths.METRICS).write_text(json.dumps(metrics))
    figures = seeds.stage_figures(tmp_path)
    assert figures["sentiment accuracy, TF-IDF + LR on the same split"] == 0.88
    assert figures["sentiment accuracy minus TF-IDF + LR"] == pytest.approx(0.03)


def test_repeated_chunks_count_the_tokens_of_chunks_already_read(tmp_path):
    """A song listed twice repeats all its chunks; a new song repeats none."""
    from conftest import write_wordpiece_tokenizer
    from transformers import AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(write_wordpiece_tokenizer(tmp_path / "tok"))
    song = "i love this app\nit works fine\ngreat music\nbest playlist"
    waste = bench_module("padding_waste")
    chunks, distinct, share = waste.repeated_chunks(tokenizer, [song, song, "bad update\nslow app"], max_length=8)
    assert distinct < chunks
    assert 0.3 < share < 0.5  # the second copy's tokens, out of three songs' (the third is shorter)
    assert waste.repeated_chunks(tokenizer, [song], 8)[2] == 0


def test_neighbour_agreement_counts_overlap_and_identical_sets():
    score = bench_module("score_speed")
    reference = np.array([list(range(10)), list(range(10, 20))])
    other = np.array([list(range(10)), [*range(10, 15), *range(30, 35)]])
    assert score.agreement(reference, other) == (pytest.approx(0.75), pytest.approx(0.5))


def test_neighbours_are_found_among_the_other_songs_by_centred_cosine():
    score = bench_module("score_speed")
    rng = np.random.default_rng(0)
    chunks = rng.normal(size=(24, 4))
    owner, tokens = [i // 2 for i in range(24)], [1] * 24  # 12 songs of 2 chunks each
    top = score.neighbours(chunks, owner, tokens, 12)
    assert top.shape == (12, 10) and all(i not in row for i, row in enumerate(top))


def test_padding_counts_each_batch_at_its_longest_text_rounded_up():
    padding = bench_module("padding_waste")
    lengths = np.array([3, 5, 7, 9])
    assert padding.batch_tokens(lengths, batch=4, grouped=True, multiple=None) == 36
    assert padding.batch_tokens(lengths, batch=2, grouped=True, multiple=None) == 2 * 9 + 2 * 5
    assert padding.batch_tokens(lengths, batch=4, grouped=True, multiple=8) == 64


def test_the_mood_sweep_tunes_another_base_on_kote_and_goemotions(quick_run, tmp_path, capsys):
    """--base tunes the given encoder instead of the model's own, --texts both adds KOTE's comments, and
    --no-ceiling prints the table without the label-trained ceiling."""
    import shutil

    from test_kote import write_kote
    out, _, _ = quick_run
    data = shutil.copytree(out.parent / "data", tmp_path / "data")  # the shared run's data stays without KOTE
    write_kote(data)
    sweep = bench_module("mood_encoder_sweep")
    sweep.main(["--model-dir", str(out / "saved_model" / "emotion"), "--data-dir", str(data), "--texts", "both",
                "--base", str(out.parent / "encoder"), "--no-ceiling", "texts=64"])
    printed = capsys.readouterr().out
    assert f"base encoder {out.parent / 'encoder'}, tuned on both' texts" in printed
    row = next(line for line in printed.splitlines() if line.startswith("| texts=64 |"))
    mood, half_and_half, generic, chance = (float(x) for x in row.split("|")[2:6])
    assert 0 <= chance <= 1 and all(0 <= x <= 1 for x in (mood, half_and_half, generic))
    assert "Ceiling" not in printed


def test_the_mood_sweep_on_both_texts_without_kote_says_what_is_missing(quick_run):
    out, _, _ = quick_run
    with pytest.raises(SystemExit, match="--texts both needs KOTE"):
        bench_module("mood_encoder_sweep").main(["--model-dir", str(out / "saved_model" / "emotion"), "--data-dir",
                                                 str(out.parent / "data"), "--texts", "both", "default"])
