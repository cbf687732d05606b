"""Bad, broken and awkward inputs across the seven commands: each ends in one clear line and exit code 2, never a
traceback, a wrong answer or a silent success. Saved files are damaged in copies of the tiny --quick run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import write_reviews

import crawl_melon
import generate_graphs
import lyrics_emotion
import main as pipeline
import mobilebert_project
import predict_sample
import recommend
from moodpipe.cli import run_cli
from moodpipe.data import melon

COMMANDS = {"main": pipeline, "predict_sample": predict_sample, "lyrics_emotion": lyrics_emotion,
            "mobilebert_project": mobilebert_project, "recommend": recommend, "crawl_melon": crawl_melon,
            "generate_graphs": generate_graphs}


def fails(command, argv: list[str], capsys) -> str:
    """Run a command as its script does; it must exit 2 without a traceback. Returns what it printed on stderr."""
    with pytest.raises(SystemExit) as exit_info:
        run_cli(command.main, [str(a) for a in argv])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert "Traceback" not in err
    return err


def one_line(command, argv: list[str], capsys) -> str:
    err = fails(command, argv, capsys)
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    path.write_bytes({"truncate": data[:len(data) // 3], "empty": b"", "garbage": b"\x00not what was saved"}[how])


@pytest.fixture
def run_copy(quick_run, tmp_path) -> Path:
    """A copy of the quick run's outputs, free to damage."""
    return Path(shutil.copytree(quick_run[0], tmp_path / "out"))


def lyrics_of(quick_run) -> str:
    argv = quick_run[1]
    return argv[argv.index("--lyrics") + 1]


# ----------------------------------------------------------------------------- numbers, checked where parsed

@pytest.mark.parametrize("command, argv, option", [
    ("predict_sample", ["--batch-size", "-5", "hello"], "--batch-size"),
    ("predict_sample", ["--max-length", "0", "hello"], "--max-length"),
    ("lyrics_emotion", ["score", "--max-songs", "-1"], "--max-songs"),
    ("lyrics_emotion", ["score", "--batch-size", "0"], "--batch-size"),
    ("lyrics_emotion", ["train", "--max-length", "0"], "--max-length"),
    ("lyrics_emotion", ["train", "--epochs", "0"], "--epochs"),
    ("mobilebert_project", ["--batch-size", "0"], "--batch-size"),
    ("mobilebert_project", ["--max-rows", "-5"], "--max-rows"),
    ("mobilebert_project", ["--max-length", "0"], "--max-length"),
    ("recommend", ["--all", "--top", "0"], "--top"),
    ("recommend", ["--all", "--year-from", "1800"], "--year-from"),
    ("recommend", ["--all", "--year-from", "2010", "--year-to", "2000"], "--year-from/--year-to"),
    ("crawl_melon", ["--years", "1800"], "--years"),
    ("crawl_melon", ["--years", "2010-2000"], "--years"),
    ("crawl_melon", ["--top", "0"], "--top"),
    ("crawl_melon", ["--retries", "-1"], "--retries"),
    ("main", ["--seed", "-1"], "--seed"),
])
def test_out_of_range_numbers_are_refused_before_anything_runs(command, argv, option, capsys):
    err = fails(COMMANDS[command], argv, capsys)
    assert f"error: argument {option}" in err or f"error: {option}" in err, err


# ----------------------------------------------------------------------------- queries

@pytest.mark.parametrize("argv", [["--text", ""], ["--text", "   "], ["--emotion", "슬픔", "--emotion", ""],
                                  ["--song", ""], ["--song-id", " "], ["--song", "x", "--artist", " "]])
def test_empty_queries_are_errors(argv, capsys):
    assert "expected some text" in fails(recommend, argv, capsys)


def test_a_filter_that_leaves_no_song_is_an_error(run_copy, capsys):
    err = one_line(recommend, ["--song-id", "100", "--year-from", "2020", "--out", run_copy], capsys)
    assert "passes --year-from 2020" in err


# ----------------------------------------------------------------------------- damaged saved files

@pytest.mark.parametrize("name, how, runtime", [
    ("model.onnx", "truncate", "onnx"), ("config.json", "truncate", "onnx"), ("tokenizer.json", "truncate", "onnx"),
    ("model.safetensors", "truncate", "torch"), ("config.json", "empty", "torch"),
    ("tokenizer.json", "garbage", "torch"),
])
def test_a_damaged_sentiment_model_names_the_file_and_the_command(run_copy, name, how, runtime, capsys):
    folder = run_copy / "saved_model" / "sentiment"
    damage(folder / name, how)
    err = one_line(predict_sample, ["--model", folder, "--runtime", runtime, "--device", "cpu", "hello"], capsys)
    assert f"{folder / name} is damaged" in err and "python mobilebert_project.py" in err


@pytest.mark.parametrize("name, how", [("model.safetensors", "truncate"), ("config.json", "garbage"),
                                       ("tokenizer.json", "truncate"), ("blend.json", "empty")])
def test_a_damaged_emotion_model_names_the_file_and_the_command(quick_run, run_copy, name, how, capsys):
    folder = run_copy / "saved_model" / "emotion"
    damage(folder / name, how)
    err = one_line(lyrics_emotion, ["score", "--model", folder, "--lyrics", lyrics_of(quick_run), "--out", run_copy,
                                    "--no-embeddings", "--device", "cpu"], capsys)
    assert f"{folder / name} is damaged" in err and "python lyrics_emotion.py train" in err


@pytest.mark.parametrize("name, how, command", [
    ("results/song_emotions.csv", "empty", "lyrics_emotion.py score"),
    ("results/song_emotions.embeddings.npz", "truncate", "lyrics_emotion.py score"),
    ("results/representation.json", "garbage", "main.py --stages recommend"),
])
def test_damaged_song_vectors_name_the_file_and_the_command(run_copy, name, how, command, capsys):
    damage(run_copy / name, how)
    err = one_line(recommend, ["--song-id", "100", "--out", run_copy], capsys)
    assert str(run_copy / name) in err and command in err


@pytest.mark.parametrize("name, how", [("saved_model/sentiment/metrics.json", "garbage"),
                                       ("saved_model/sentiment/trainer_log.json", "truncate"),
                                       ("data/processed/train_data.csv", "empty")])
def test_damaged_figure_inputs_name_the_file(run_copy, name, how, capsys):
    damage(run_copy / name, how)
    err = one_line(generate_graphs, ["--out", run_copy], capsys)
    assert str(run_copy / name) in err and f"python mobilebert_project.py --out {run_copy}" in err


def test_a_failing_stage_still_writes_run_json_and_the_report(quick_run, run_copy, capsys):
    damage(run_copy / "saved_model" / "emotion" / "model.safetensors", "truncate")
    damage(run_copy / "saved_model" / "sentiment" / "metrics.json", "garbage")  # the report must cope too
    for name in ("run.json", "REPORT.md"):
        (run_copy / "results" / name).unlink()
    argv = [*quick_run[1], "--out", run_copy, "--stages", "score", "--force"]
    err = fails(pipeline, argv, capsys)
    assert "[score]" in err and "model.safetensors is damaged" in err
    run = json.loads((run_copy / "results" / "run.json").read_text())
    assert run["stages"]["score"]["status"] == "failed"
    assert "metrics.json is damaged" in (run_copy / "results" / "REPORT.md").read_text()


# ----------------------------------------------------------------------------- tables

def test_duplicate_song_ids_are_errors_naming_them(quick_run, run_copy, tmp_path, capsys):
    songs = pd.read_csv(lyrics_of(quick_run))
    lyrics = tmp_path / "songs.csv"
    pd.concat([songs, songs.head(2)]).to_csv(lyrics, index=False)
    err = one_line(lyrics_emotion, ["score", "--lyrics", lyrics, "--out", run_copy], capsys)
    assert "2 song_id value(s) appear more than once (100, 101)" in err
    vectors = pd.read_csv(run_copy / "results" / "song_emotions.csv")
    pd.concat([vectors, vectors.head(1)]).to_csv(run_copy / "results" / "song_emotions.csv", index=False)
    assert "(100)" in one_line(recommend, ["--song-id", "100", "--out", run_copy], capsys)


def test_lyrics_that_are_all_empty_are_an_error(run_copy, tmp_path, capsys):
    lyrics = tmp_path / "songs.csv"
    pd.DataFrame({"song_id": [1, 2, 3], "song_name": "x", "lyrics": ["", "  ", None]}).to_csv(lyrics, index=False)
    err = one_line(lyrics_emotion, ["score", "--lyrics", lyrics, "--out", run_copy], capsys)
    assert "none of its 3 songs has lyrics" in err


# ----------------------------------------------------------------------------- paths

def test_a_folder_given_as_file(tmp_path, capsys):
    assert "is a folder" in one_line(predict_sample, ["--file", tmp_path], capsys)


def test_graphs_from_a_mistyped_or_empty_root_are_an_error(tmp_path, capsys):
    assert "no such folder" in one_line(generate_graphs, ["--out", tmp_path / "typo"], capsys)
    assert not (tmp_path / "typo").exists()
    assert "no figure drawn" in one_line(generate_graphs, ["--out", tmp_path], capsys)


@pytest.fixture
def reviews_dir(tmp_path) -> Path:
    (tmp_path / "data" / "reviews").mkdir(parents=True)
    write_reviews(tmp_path / "data" / "reviews" / "spotify_googleplay_10k.csv", n_copies=6)
    return tmp_path / "data"


def test_an_unwritable_out_is_one_line(reviews_dir, tiny_mobilebert, capsys):
    err = one_line(mobilebert_project, ["--data-dir", reviews_dir, "--model", tiny_mobilebert, "--out", "/proc/foo"],
                   capsys)
    assert "cannot write /proc/foo/" in err


def test_a_bad_model_writes_no_split(reviews_dir, tmp_path, capsys):
    fails(mobilebert_project, ["--data-dir", reviews_dir, "--model", tmp_path / "no_model", "--out", tmp_path / "o"],
          capsys)
    assert not (tmp_path / "o" / "data").exists()


def test_a_named_reviews_file_that_is_missing_gets_no_download_hint(tmp_path, capsys):
    err = one_line(mobilebert_project, ["--data-dir", tmp_path, "--reviews", "nope.csv", "--out", tmp_path], capsys)
    assert "check the path given to --reviews" in err and "download" not in err


def test_offline_never_crawls_and_a_named_lyrics_file_is_never_crawled_into(tmp_path, monkeypatch, capsys):
    def no_crawl(*args, **kwargs):
        raise AssertionError("the crawler was started")
    monkeypatch.setattr(melon, "crawl", no_crawl)
    monkeypatch.setattr("moodpipe.stages.pipeline.crawl", no_crawl)
    common = ["--quick", "--data-dir", tmp_path / "data", "--out", tmp_path / "out"]
    err = fails(pipeline, [*common, "--offline", "--lyrics", tmp_path / "typo.csv", "--stages", "data,crawl,score"],
                capsys)
    assert f"--lyrics {tmp_path / 'typo.csv'}: no such file" in err
    assert "--offline forbids crawling" in fails(pipeline, [*common, "--offline", "--stages", "crawl"], capsys)
    assert "no such file" in fails(pipeline, [*common, "--lyrics", tmp_path / "typo.csv", "--stages", "crawl"], capsys)
    assert all((tmp_path / "out" / "results" / name).is_file() for name in ("run.json", "REPORT.md"))
    assert not (tmp_path / "typo.csv").exists()


def test_a_title_of_punctuation_alone_suggests_nothing(run_copy, capsys):
    assert one_line(recommend, ["--song", "!!", "--out", run_copy], capsys) == "error: no song titled '!!'\n"
