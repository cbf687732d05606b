"""main.py end to end on fixtures written here and tiny models: every promised file, run.json,
skipping fresh stages, --force, and a clean stop when an input is missing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from conftest import write_reviews
from test_lyrics_emotion import CODEBOOK, PHRASES, corpus_rows

import main as pipeline
from moodpipe.cli import run_cli
from moodpipe.contract import FIGURES, HEAD_COMPARISON_FIGURE
from moodpipe.data import downloads
from moodpipe.data.downloads import ensure_inputs
from moodpipe.files import InputError
from moodpipe.recommend.representations import DEFAULT_REPRESENTATION
from moodpipe.report.documents import emotion_learned_nothing, goemotions_learned_nothing, sentiment_learned_nothing
from moodpipe.stages.pipeline import STAGES
from recommend import main as recommend_main

PROMISED = [
    "data/processed/train_data.csv", "data/processed/val_data.csv", "data/processed/test_data.csv",
    "saved_model/sentiment/model.safetensors", "saved_model/sentiment/metrics.json",
    "saved_model/sentiment/README.md", "saved_model/sentiment/trainer_log.json",
    "saved_model/sentiment/test_predictions.csv",
    "saved_model/emotion/model.safetensors", "saved_model/emotion/metrics.json", "saved_model/emotion/README.md",
    "saved_model/emotion/label_similarity.csv",
    "saved_model/goemotions/metrics.json", "saved_model/goemotions/thresholds.json",
    "saved_model/emotion/mood_encoder/model.safetensors", "saved_model/goemotions/mood_encoder/model.safetensors",
    "results/song_emotions.csv", "results/song_halves.csv", "results/representation_eval.json",
    "results/recommendations.csv", "results/recommendations.md", "results/heatmap_songs.csv",
    "results/run.json", "results/REPORT.md", "results/representation.json", "results/retrieval_eval.md",
]
QUICK_SKIPS = {HEAD_COMPARISON_FIGURE}  # --quick trains one head: there is no comparison to draw


def write_data_dir(root: Path) -> Path:
    """Reviews, a 5-label AI-Hub corpus with its codebook, GoEmotions files, in ../shared/data's layout."""
    (root / "reviews").mkdir(parents=True)
    write_reviews(root / "reviews" / "spotify_googleplay_10k.csv", n_copies=6)
    corpus = root / "emotion_corpus"
    corpus.mkdir()
    pd.DataFrame(CODEBOOK, columns=["e_code", "major_code", "major_label", "sub_label_codebook",
                                    "sub_label_xlsx"]).to_csv(corpus / "emotion_label_map_E10_E69.csv", index=False)
    pd.DataFrame(corpus_rows()).drop(columns="_code").to_csv(corpus / "dialogues.csv", index=False)
    go = root / "goemotions" / "original"
    go.mkdir(parents=True)
    (go / "labels.txt").write_text("anger\njoy\nneutral\n")
    (root / "goemotions" / "ekman_mapping.json").write_text(json.dumps({"anger": ["anger"], "joy": ["joy"]}))
    rows = [f"{'so angry' if i % 3 == 0 else 'so happy'} {i}\t{i % 3}\tid{i}" for i in range(24)]
    for split in ("train", "dev", "test"):
        (go / f"{split}.tsv").write_text("\n".join(rows) + "\n")
    (root / "song_moods").mkdir()  # songs people labelled: the default is chosen on them
    phrases = list(PHRASES.values())
    pd.DataFrame({"song_id": range(24), "mood": ["sad", "happy", "angry"] * 8,
                  "lyrics": ["\n".join(phrases[(i + j) % len(phrases)] for j in range(3)) for i in range(24)]}
                 ).to_csv(root / "song_moods" / "moods.csv", index=False)
    return root


def write_lyrics(path: Path, n_songs: int = 14) -> Path:
    phrases = list(PHRASES.values())
    songs = [{"song_id": 100 + i, "song_name": f"노래 {i}", "artist": f"가수 {i % 4}", "album": "앨범",
              "release_date": f"{2000 + i}.01.01", "genre": "발라드",
              "lyrics": "\n".join(phrases[(i + j) % len(phrases)] for j in range(4 + i % 3))}
             for i in range(n_songs)]
    pd.DataFrame(songs).to_csv(path, index=False)
    return path


def test_quick_run_writes_every_promised_file_and_figure(quick_run):
    out, _, run = quick_run
    for name in PROMISED:
        assert (out / name).is_file(), name
    for name in (f.name for f in FIGURES):
        if name not in QUICK_SKIPS:
            assert (out / "sample_graphs" / name).stat().st_size > 10_000, name
    report = (out / "results" / "REPORT.md").read_text()
    assert "Quick run" in report and "![song_similarity_heatmap.png]" in report
    # the header says how it was made: the command, the commit of this checkout, the machine
    assert "- command: `python " in report and "--quick" in report.split("- commit:")[0]
    commit = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert f"- commit: `{commit}" in report and "CPU cores" in report
    emotion = json.loads((out / "saved_model" / "emotion" / "metrics.json").read_text())
    # recommendations are shown only when the emotion model learned more than the label prior
    assert ("| Rank | Song |" in report) != emotion_learned_nothing(emotion)
    assert ("WARNING" in report) == any(check(json.loads((out / "saved_model" / m / "metrics.json").read_text()))
                                        for m, check in [("sentiment", sentiment_learned_nothing),
                                                         ("emotion", emotion_learned_nothing),
                                                         ("goemotions", goemotions_learned_nothing)])


def test_report_and_cli_rank_the_same_neighbours(quick_run):
    out, _, _ = quick_run
    table = pd.read_csv(out / "results" / "recommendations.csv", dtype={"query_song_id": str, "song_id": str})
    first = table[table.query_song_id == table.query_song_id.iloc[0]]
    cli = recommend_main(["--song-id", first.query_song_id.iloc[0], "--out", str(out)])["table"]
    assert cli.similarity.tolist() == pytest.approx(first.similarity.tolist(), abs=1e-4)
    # the same songs in the same order, up to ties (a batch of every song and a single query may differ in
    # the last float32 bit, which reorders exactly tied songs)
    sims = first.similarity.to_numpy()
    untied = [i for i in range(len(sims)) if (abs(sims - sims[i]) < 1e-5).sum() == 1]
    assert [cli.song_id.astype(str).iloc[i] for i in untied] == [first.song_id.iloc[i] for i in untied]
    for value in set(sims.round(4)):
        assert set(cli.song_id.astype(str)[cli.similarity.round(4) == value]) <= set(first.song_id) | {""}
    saved = json.loads((out / "results" / "representation.json").read_text())
    evaluation = json.loads((out / "results" / "retrieval_eval.json").read_text())
    # the default is chosen on the labelled songs when a candidate keeps both floors, else the built-in one
    assert saved["representation"] == (evaluation["choice"] or {}).get("representation", DEFAULT_REPRESENTATION)
    assert set(evaluation["song_moods"]) == {"English", "Korean"}
    assert evaluation["halves"]["candidates"].keys() <= evaluation["song_moods"]["Korean"]["candidates"].keys()
    assert "hybrid 0.3 mood + 0.7 features" in evaluation["aihub"]["candidates_validation_major"]


def test_run_json_lists_every_stage(quick_run):
    out, _, run = quick_run
    saved = json.loads((out / "results" / "run.json").read_text())
    assert list(saved["stages"]) == STAGES
    assert saved["stages"]["crawl"]["status"] == "skipped"  # --lyrics was given
    assert all(saved["stages"][s]["status"] == "ran" for s in STAGES if s not in ("crawl", "data"))
    assert saved["quick"] is True and saved["stages"]["sentiment"]["base_model"] is not None


def test_second_run_skips_everything_and_force_reruns(quick_run, capsys):
    out, argv, _ = quick_run
    again = pipeline.main(argv)
    assert {s["status"] for s in again["stages"].values()} == {"skipped"}
    printed = capsys.readouterr().out  # a progress line after every stage, with what remains from the records
    assert [f"[progress] {i}/{len(STAGES)} stages" in printed for i in range(1, len(STAGES) + 1)] == [True] * 9
    assert f"[progress] 1/{len(STAGES)} stages" in printed and "min left (the last run here" in printed
    # a resumed run's report still says what each output cost and which commit made it
    commit = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], capture_output=True, text=True).stdout.strip()
    sentiment_row = next(line for line in (out / "results" / "REPORT.md").read_text().splitlines()
                         if line.startswith("| sentiment |"))
    assert "| skipped |" in sentiment_row and f"commit `{commit}" in sentiment_row
    assert again["stages"]["sentiment"]["last_ran"]["seconds"] > 0
    forced = pipeline.main([*argv, "--stages", "recommend,graphs", "--force"])
    assert [forced["stages"][s]["status"] for s in ("recommend", "graphs")] == ["ran", "ran"]
    assert forced["stages"]["sentiment"]["status"] == "not selected"
    assert "[recommend] running (--force)" in capsys.readouterr().out


def test_a_missing_input_stops_the_run_before_training(tmp_path, capsys):
    data = write_data_dir(tmp_path / "data")
    (data / "reviews" / "spotify_googleplay_10k.csv").unlink()
    (data / "emotion_corpus" / "dialogues.csv").unlink()
    with pytest.raises(SystemExit) as exit_info:
        run_cli(pipeline.main, ["--offline", "--data-dir", str(data), "--out", str(tmp_path / "out"),
                                         "--lyrics", str(write_lyrics(tmp_path / "songs.csv"))])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "reviews/spotify_googleplay_10k.csv" in err and "aihub.or.kr" in err and "Traceback" not in err
    run = json.loads((tmp_path / "out" / "results" / "run.json").read_text())
    assert run["stages"]["data"]["status"] == "failed" and "sentiment" not in run["stages"]
    assert not (tmp_path / "out" / "saved_model").exists()


def test_missing_public_inputs_are_downloaded_and_checksummed(tmp_path, monkeypatch):
    import hashlib
    import http.server
    import threading
    served = tmp_path / "served"
    served.mkdir()
    (served / "good.csv").write_text("content,score\nok,5\n")
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(served), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/good.csv"
    good = hashlib.sha256((served / "good.csv").read_bytes()).hexdigest()
    try:
        monkeypatch.setattr(downloads, "DOWNLOADS", {"reviews/a.csv": (url, good), "reviews/b.csv": (url, "0" * 64)})
        info = ensure_inputs(tmp_path / "data", ["reviews/a.csv"])
        assert info["downloaded"] == ["reviews/a.csv"]
        assert (tmp_path / "data" / "reviews" / "a.csv").read_bytes() == (served / "good.csv").read_bytes()
        with pytest.raises(InputError, match="SHA-256"):
            ensure_inputs(tmp_path / "data", ["reviews/b.csv"])
        assert not (tmp_path / "data" / "reviews" / "b.csv").exists()
        assert [p.name for p in (tmp_path / "data" / "reviews").iterdir()] == ["a.csv"]  # no temp files left
    finally:
        server.shutdown()


def test_loading_and_saving_a_model_prints_no_library_bars(tiny_mobilebert, tmp_path, capfd):
    """transformers draws a bar for every model it loads or saves; the commands' output has our lines only."""
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    from moodpipe.logs import quiet_transformers
    hf_logging.set_tqdm_hook(None)  # as a command starts: the library's own bars on
    AutoModel.from_pretrained(tiny_mobilebert)
    assert "Loading weights" in capfd.readouterr().err
    quiet_transformers()
    AutoModel.from_pretrained(tiny_mobilebert).save_pretrained(tmp_path / "copy")
    printed = capfd.readouterr()
    assert "Loading weights" not in printed.err + printed.out
    assert "Writing model shards" not in printed.err + printed.out
    assert (tmp_path / "copy" / "config.json").is_file()
