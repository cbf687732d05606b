"""Fault injection on copies of the tiny --quick run: for each kind of file the commands read, generated corruptions
(cut at several points, emptied, the wrong kind of file, NaN and out-of-range values), a full disk raised through
the writer, Ctrl-C, kill -9 in the middle of a training stage and a second run on the same --out. Each ends in one
line and exit code 2 (130 for Ctrl-C), never a traceback or a wrong answer, and nothing that existed before the
command is lost or changed."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_crawl_melon import melon  # noqa: F401 (the local Melon server, a fixture)

import crawl_melon
import generate_graphs
import lyrics_emotion
import main as pipeline
import mobilebert_project
import predict_sample
import recommend
from moodpipe import files
from moodpipe.cli import INTERRUPTED, run_cli
from moodpipe.paths import RUN_LOCK
from moodpipe.stages.pipeline import clean_up_interrupted

REPO = Path(__file__).resolve().parents[1]
SENTENCE = "this app keeps crashing"


# ----------------------------------------------------------------------------- helpers

def snapshot(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """{relative path: SHA-256} of every file under root (the lock file and `skip` prefixes aside)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != RUN_LOCK and not str(p.relative_to(root)).startswith(skip)}


def ends(command, argv: list, capsys, code: int = 2, prefix: str = "error: ") -> str:
    """Run a command as its script does: it must exit with `code` and end in one `prefix` line, no traceback."""
    with pytest.raises(SystemExit) as exit_info:
        run_cli(command.main, [str(a) for a in argv])
    err = capsys.readouterr().err
    assert exit_info.value.code == code, err
    assert "Traceback" not in err, err
    last = err.rstrip("\n").split("\n")[-1]
    assert last.startswith(prefix) and len(last) < 1000, err
    return last


def corruptions(data: bytes) -> dict[str, bytes]:
    """A saved file as a crash, a full disk or a wrong copy leaves it."""
    return {"cut at 1/3": data[:len(data) // 3], "cut at 1/2": data[:len(data) // 2],
            "cut at 9/10": data[:len(data) * 9 // 10], "emptied": b"",
            "another kind of file": b"\x89PNG\r\n\x1a\n" + bytes(64)}


CUTS = list(corruptions(b"0123456789"))


@pytest.fixture
def run_copy(quick_run, tmp_path) -> Path:
    return Path(shutil.copytree(quick_run[0], tmp_path / "out"))


def sentiment_answer(model_dir: Path, capsys, runtime: str = "auto") -> list[dict]:
    results = predict_sample.main(["--model", str(model_dir), "--runtime", runtime, "--device", "cpu", "--json",
                                   SENTENCE])
    capsys.readouterr()
    return results


# ----------------------------------------------------------------------------- saved models

@pytest.mark.parametrize("cut", CUTS)
@pytest.mark.parametrize("name, runtime", [("model.onnx", "onnx"), ("model.safetensors", "torch"),
                                           ("config.json", "auto")])
def test_a_damaged_sentiment_model_is_one_line(run_copy, name, runtime, cut, capsys):
    folder = run_copy / "saved_model" / "sentiment"
    (folder / name).write_bytes(corruptions((folder / name).read_bytes())[cut])
    before = snapshot(run_copy)
    last = ends(predict_sample, ["--model", folder, "--runtime", runtime, "--device", "cpu", SENTENCE], capsys)
    assert "python mobilebert_project.py" in last
    assert snapshot(run_copy) == before


def test_an_onnx_export_of_other_weights_is_an_error_not_an_answer(run_copy, capsys):
    """What a kill during the export used to leave: new weights beside the old model.onnx."""
    folder = run_copy / "saved_model" / "sentiment"
    assert sentiment_answer(folder, capsys, "onnx")  # the run's own export answers
    weights = bytearray((folder / "model.safetensors").read_bytes())
    weights[-3] ^= 0x01  # other weights, same size
    (folder / "model.safetensors").write_bytes(bytes(weights))
    last = ends(predict_sample, ["--model", folder, "--device", "cpu", SENTENCE], capsys)
    assert f"{folder / 'model.onnx'} was made from other weights" in last


@pytest.mark.parametrize("id2label, why", [({"a": "negative", "b": "positive"}, "keys not numbers"),
                                           ({"0": "positive"}, "one label"), ({"0": "x", "2": "y"}, "a gap")])
def test_a_config_whose_labels_make_no_sense_is_one_line(run_copy, id2label, why, capsys):
    folder = run_copy / "saved_model" / "sentiment"
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "id2label": id2label}))
    last = ends(predict_sample, ["--model", folder, "--device", "cpu", SENTENCE], capsys)
    assert "id2label" in last, why


def test_max_length_beyond_the_models_positions_is_refused(run_copy, capsys):
    folder = run_copy / "saved_model" / "sentiment"
    limit = json.loads((folder / "config.json").read_text())["max_position_embeddings"]
    last = ends(predict_sample, ["--model", folder, "--max-length", limit + 1, SENTENCE], capsys)
    assert f"--max-length {limit + 1}" in last and f"{limit} or less" in last


@pytest.mark.parametrize("edit", ["other weights", "no hash", "weight 7.0"])
def test_a_blend_that_does_not_match_its_model_is_an_error(run_copy, edit, capsys):
    blend_file = run_copy / "saved_model" / "emotion" / "blend.json"
    blend = json.loads(blend_file.read_text())
    blend = {"other weights": {**blend, "weights_sha256": "0" * 64},
             "no hash": {k: v for k, v in blend.items() if k != "weights_sha256"},
             "weight 7.0": {**blend, "model_weight": 7.0}}[edit]
    blend_file.write_text(json.dumps(blend))
    last = ends(recommend, ["--text", "비 오는 날", "--out", run_copy], capsys)
    assert str(blend_file) in last


# ----------------------------------------------------------------------------- song vectors and saved choices

def recommend_all(out: Path, capsys) -> str:
    before = snapshot(out)
    last = ends(recommend, ["--all", "--out", out], capsys)
    assert snapshot(out) == before
    return last


@pytest.mark.parametrize("cut", CUTS)
@pytest.mark.parametrize("name", ["song_emotions.csv", "song_emotions.embeddings.npz"])
def test_damaged_song_vectors_are_one_line(run_copy, name, cut, capsys):
    path = run_copy / "results" / name
    path.write_bytes(corruptions(path.read_bytes())[cut])
    last = recommend_all(run_copy, capsys)
    assert "song_emotions" in last and "lyrics_emotion.py score" in last


@pytest.mark.parametrize("value", ["nan", "-5", "1e308", "lots", "inf"])
def test_a_value_that_is_not_a_probability_names_the_song(run_copy, value, capsys):
    path = run_copy / "results" / "song_emotions.csv"
    table = pd.read_csv(path, dtype=str)
    column = next(c for c in table.columns if c.startswith("emo:"))
    table.loc[1, column] = value
    table.to_csv(path, index=False)
    last = recommend_all(run_copy, capsys)
    assert str(path) in last and str(table.song_id[1]) in last


def test_a_song_without_an_id_is_an_error(run_copy, capsys):
    path = run_copy / "results" / "song_emotions.csv"
    table = pd.read_csv(path, dtype=str)
    table.loc[2, "song_id"] = ""
    table.to_csv(path, index=False)
    assert "empty song_id" in recommend_all(run_copy, capsys)


@pytest.mark.parametrize("fault", ["nan", "inf", "shape"])
def test_embeddings_that_are_not_finite_rows_name_the_file_and_songs(run_copy, fault, capsys):
    npz = run_copy / "results" / "song_emotions.embeddings.npz"
    with np.load(npz) as saved:
        arrays = {k: saved[k] for k in saved.files}
    name = next(k for k in arrays if k != "song_id" and arrays[k].ndim == 2)
    x = arrays[name].astype(float)
    if fault == "shape":
        x = x[:, :1].ravel()
    else:
        x[0, 0] = np.nan if fault == "nan" else np.inf
    np.savez(npz, **{**arrays, name: x})
    last = recommend_all(run_copy, capsys)
    assert str(npz) in last and name in last


@pytest.mark.parametrize("choice", [
    {"representation": "no-such-thing"}, "features", ["features"],
    {"representation": "hybrid", "hybrid": {"part": "features", "weight": 7.0, "rest": "log"}},
    {"representation": "hybrid", "hybrid": {"part": "features", "weight": 0.5, "rest": "log", "extra": 1}},
    {"representation": "hybrid", "hybrid": "features"},
])
def test_a_hand_edited_representation_choice_is_one_line(run_copy, choice, capsys):
    path = run_copy / "results" / "representation.json"
    path.write_text(json.dumps(choice))
    assert str(path) in recommend_all(run_copy, capsys)


# ----------------------------------------------------------------------------- figures

@pytest.mark.parametrize("name, content", [
    ("results/heatmap_songs.csv", "half"), ("results/heatmap_songs.csv", "nan row"),
    ("saved_model/sentiment/trainer_log.json", "[]"), ("saved_model/sentiment/trainer_log.json", "half"),
])
def test_figures_are_never_drawn_from_cut_inputs(run_copy, name, content, capsys):
    path = run_copy / name
    data = path.read_text(encoding="utf-8")
    if content == "nan row":
        lines = data.splitlines()
        lines[2] = ",".join(lines[2].split(",")[:2] + [""] * (len(lines[2].split(",")) - 2))
        data = "\n".join(lines) + "\n"
    path.write_text({"half": data[:len(data) // 2]}.get(content, content if content != "nan row" else data))
    before = snapshot(run_copy, skip=("sample_graphs",))
    last = ends(generate_graphs, ["--out", run_copy], capsys)
    assert str(path) in last or "cannot draw" in last
    assert snapshot(run_copy, skip=("sample_graphs",)) == before


# ----------------------------------------------------------------------------- a full disk

def disk_fills_up(monkeypatch, after: int = 0) -> None:
    """Every atomic write from the (after+1)-th on writes a little, then fails as a full disk does."""
    real, calls = files._atomic, [0]

    def full(path, write):
        calls[0] += 1
        if calls[0] <= after:
            return real(path, write)

        def half_then_enospc(tmp):
            Path(tmp).write_bytes(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
        return real(path, half_then_enospc)
    monkeypatch.setattr(files, "_atomic", full)


def no_temp_files(root: Path) -> bool:
    return not [p for p in root.rglob("*") if p.name.startswith(".") and files.TMP_SUFFIX in p.name]


def test_a_full_disk_during_recommend_all_keeps_the_old_tables(run_copy, monkeypatch, capsys):
    before = snapshot(run_copy)
    disk_fills_up(monkeypatch)
    last = ends(recommend, ["--all", "--out", run_copy], capsys)
    assert last.startswith("error: no space left on device writing")
    assert snapshot(run_copy) == before and no_temp_files(run_copy)


def test_a_full_disk_during_main_keeps_every_output(quick_run, run_copy, monkeypatch, capsys):
    before = snapshot(run_copy, skip=("results/stages",))  # the stage's record goes at its start, by design
    disk_fills_up(monkeypatch)
    last = ends(pipeline, [*quick_run[1], "--out", run_copy, "--stages", "recommend", "--force"], capsys)
    assert "no space left on device writing" in last
    assert snapshot(run_copy, skip=("results/stages",)) == before and no_temp_files(run_copy)


def test_a_full_disk_during_a_crawl_keeps_the_old_csv(melon, tmp_path, monkeypatch, capsys):  # noqa: F811
    out = tmp_path / "songs.csv"
    out.write_text("song_id,lyrics\n1,old words\n", encoding="utf-8")
    disk_fills_up(monkeypatch)
    last = ends(crawl_melon, ["--song-ids", "30001", "--delay", "0", "--no-progress", "--base-url", melon.base_url,
                              "--data-dir", tmp_path, "--lyrics", out], capsys)
    assert last == f"error: no space left on device writing {out}; earlier outputs are kept, free some space and " \
                   "re-run the same command"
    assert out.read_text(encoding="utf-8") == "song_id,lyrics\n1,old words\n" and no_temp_files(tmp_path)


# ----------------------------------------------------------------------------- the crawler's guard

@pytest.mark.parametrize("variant", ["cp949", "utf-16", "Lyrics column", "semicolons"])
def test_a_lyrics_csv_it_cannot_read_is_never_replaced(tmp_path, variant, capsys):
    table = pd.DataFrame({"song_id": range(146), "lyrics": ["비가 내리는 밤"] * 146})
    out = tmp_path / "songs.csv"
    if variant in ("cp949", "utf-16"):
        table.to_csv(out, index=False, encoding=variant)
    else:
        table.rename(columns={"lyrics": "Lyrics"} if variant == "Lyrics column" else {}).to_csv(
            out, index=False, sep=";" if variant == "semicolons" else ",")
    before = out.read_bytes()
    last = ends(crawl_melon, ["--song-ids", "30001", "--base-url", "http://127.0.0.1:9", "--data-dir", tmp_path,
                              "--lyrics", out, "--no-progress"], capsys)
    assert last.startswith(f"error: not replacing {out}") and "--replace" in last
    assert out.read_bytes() == before


def test_crawl_output_and_cache_paths_of_the_wrong_kind(tmp_path, capsys):
    base = ["--song-ids", "30001", "--base-url", "http://127.0.0.1:9", "--data-dir", tmp_path, "--no-progress"]
    (tmp_path / "a_folder").mkdir()
    assert "is a folder" in ends(crawl_melon, [*base, "--lyrics", tmp_path / "a_folder"], capsys)
    (tmp_path / "a_file").write_text("x")
    assert "is a file" in ends(crawl_melon, [*base, "--cache-dir", tmp_path / "a_file"], capsys)


def test_a_corrupt_page_cache_is_set_aside_and_rebuilt(tmp_path, capsys):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "pages.sqlite").write_bytes(b"SQLite format 3\x00" + os.urandom(3000))
    ends(crawl_melon, ["--song-ids", "30001", "--base-url", "http://127.0.0.1:9", "--data-dir", tmp_path,
                       "--cache-dir", cache, "--retries", "0", "--no-progress"], capsys)  # offline: exit 2
    assert [p.name.split("-")[0] for p in cache.iterdir() if "damaged" in p.name] == ["pages.sqlite.damaged"]


# ----------------------------------------------------------------------------- blank and out-of-range options

@pytest.mark.parametrize("command, argv", [
    (crawl_melon, ["--song-ids", ""]), (crawl_melon, ["--song-ids", " , "]),
    (recommend, ["--song-id", "1", "--toward", ""]), (recommend, ["--serve", "--port", "70000"]),
    (recommend, ["--serve", "--port", "-1"]), (recommend, ["--text", "x", "--toward", "기쁨", "--steps", "0"]),
    (predict_sample, ["--max-length", "0", "x"]),
])
def test_blank_and_out_of_range_options_are_refused_before_any_work(command, argv, capsys):
    ends(command, argv, capsys, prefix="")  # argparse's usage and its one error line


# ----------------------------------------------------------------------------- Ctrl-C, kill -9, two runs

def test_ctrl_c_anywhere_is_one_line_and_exit_130(run_copy, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(recommend, "recommend", interrupted)
    before = snapshot(run_copy)
    last = ends(recommend, ["--all", "--out", run_copy], capsys, code=INTERRUPTED, prefix="interrupted: ")
    assert "kept" in last and snapshot(run_copy) == before


def test_ctrl_c_during_a_crawl_says_where_the_pages_are(tmp_path, monkeypatch, capsys):
    from moodpipe.data import melon_fetch

    def interrupted(self, url):
        raise KeyboardInterrupt
    monkeypatch.setattr(melon_fetch.PoliteFetcher, "get", interrupted)
    last = ends(crawl_melon, ["--song-ids", "30001", "--data-dir", tmp_path, "--no-progress"], capsys,
                code=INTERRUPTED, prefix="interrupted: ")
    assert "cached in" in last and "re-run" in last


def test_a_second_run_on_one_out_is_refused_and_touches_nothing(quick_run, run_copy, capsys):
    live = run_copy / "saved_model" / ".checkpoints-sentiment"  # the first run's live checkpoints
    live.mkdir()
    (live / "optimizer.pt").write_bytes(b"live")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(run_copy / RUN_LOCK)!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, b'pid 4242, `python main.py`, since 10:00:00')\n"
        "print('held', flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = snapshot(run_copy)
        last = ends(pipeline, [*quick_run[1], "--out", run_copy, "--force"], capsys)
        assert "is in use by another run (pid 4242, `python main.py`" in last
        assert snapshot(run_copy) == before
    finally:
        holder.kill()
        holder.wait()
    fd = os.open(run_copy / RUN_LOCK, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(fd)


def sentiment_command(quick_run, out: Path, epochs: int = 1) -> list[str]:
    argv = quick_run[1]
    option = {a: argv[i + 1] for i, a in enumerate(argv[:-1]) if a.startswith("--")}
    return [sys.executable, "mobilebert_project.py", "--data-dir", option["--data-dir"], "--model",
            option["--sentiment-model"], "--out", str(out), "--max-rows", "200", "--epochs", str(epochs),
            "--max-length", "32", "--device", "cpu"]


def wait_for(condition, process: subprocess.Popen, seconds: float = 120) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_kill_9_while_the_model_is_saved_leaves_the_old_model_answering(quick_run, run_copy, capsys):
    folder = run_copy / "saved_model" / "sentiment"
    old_answer, old_files = sentiment_answer(folder, capsys), snapshot(folder)
    trainer = subprocess.Popen(sentiment_command(quick_run, run_copy), cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:  # the moment the new folder is being filled beside the old one
        saving = wait_for(lambda: any(folder.parent.glob(".sentiment.*.tmp")), trainer)
        trainer.send_signal(signal.SIGKILL)
    finally:
        trainer.wait()
    assert saving, "the run ended before its model folder was being saved"
    assert snapshot(folder) == old_files  # killed mid-save: the old model, whole, answering as before
    assert sentiment_answer(folder, capsys) == old_answer
    clean_up_interrupted(pipeline.parse_args(["--out", str(run_copy)]))  # what the next run does first
    assert not list(folder.parent.glob(".*.tmp")) and snapshot(folder) == old_files


def test_ctrl_c_during_training_is_one_line_130_and_keeps_the_model(quick_run, run_copy):
    old_files = snapshot(run_copy)
    # Enough epochs that the interrupt lands in training: one epoch of 200 short rows can end before it arrives.
    # The child gets Ctrl-C's default disposition: an ignored SIGINT (inherited from whatever ran the suite) would
    # stay ignored across exec, and Python would then install no KeyboardInterrupt handler.
    trainer = subprocess.Popen(sentiment_command(quick_run, run_copy, epochs=30), cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        seen = []
        while trainer.poll() is None and not any("training:" in line for line in seen):
            seen.append(trainer.stderr.readline())  # up to the line that says training has started
        trainer.send_signal(signal.SIGINT)
        err = "".join(seen) + trainer.communicate(timeout=120)[1]
    finally:
        trainer.kill()
    assert trainer.returncode == INTERRUPTED, err
    assert "Traceback" not in err and err.rstrip().split("\n")[-1].startswith("interrupted: ")
    assert snapshot(run_copy, skip=("saved_model/.checkpoints",)) == old_files


def test_a_model_that_does_not_load_writes_nothing(quick_run, run_copy, tmp_path, capsys):
    not_a_model = tmp_path / "not_a_model"
    not_a_model.mkdir()
    (not_a_model / "config.json").write_text("{}")
    before = snapshot(run_copy)
    command = sentiment_command(quick_run, run_copy)[2:]
    command[command.index("--model") + 1] = str(not_a_model)
    ends(mobilebert_project, command, capsys)
    assert snapshot(run_copy) == before


def test_outputs_are_readable_by_others(quick_run):
    private = [p for p in quick_run[0].rglob("*") if p.is_file() and p.name != RUN_LOCK and p.stat().st_mode & 0o044
               != 0o044]
    assert not private, private[:5]


def test_a_lyrics_row_without_a_song_id_is_never_scored(quick_run, run_copy, tmp_path, capsys):
    argv = quick_run[1]
    lyrics = pd.read_csv(argv[argv.index("--lyrics") + 1], dtype=str)
    lyrics.loc[1, "song_id"] = " "
    lyrics.to_csv(tmp_path / "songs.csv", index=False)
    before = snapshot(run_copy)
    last = ends(lyrics_emotion, ["score", "--lyrics", tmp_path / "songs.csv", "--out", run_copy], capsys)
    assert "empty song_id" in last and snapshot(run_copy) == before


def test_a_failed_onnx_export_leaves_no_stale_export_beside_new_weights(run_copy, monkeypatch, capsys):
    """The new folder is built apart: an export that fails leaves no model.onnx at all (PyTorch answers), never
    the previous run's file beside the new weights."""
    from moodpipe.models import sentiment_predictor
    folder = run_copy / "saved_model" / "sentiment"
    assert (folder / "model.onnx").is_file()

    def exporter_fails(model_dir):
        raise RuntimeError("the exporter cannot trace this model")
    monkeypatch.setattr(sentiment_predictor, "_export_onnx", exporter_fails)
    with files.atomic_folder(folder) as new:
        for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
            shutil.copy(folder / name, new / name)
        assert sentiment_predictor.export_onnx(new) is None  # logged, not fatal
    assert not (folder / "model.onnx").exists()
    assert sentiment_answer(folder, capsys)[0]["label"] in ("negative", "positive")


def test_a_folder_whose_filling_fails_leaves_the_old_one_and_no_temp(tmp_path):
    old = tmp_path / "model"
    old.mkdir()
    (old / "weights").write_text("old")
    with pytest.raises(OSError), files.atomic_folder(old) as new:
        (new / "weights").write_text("half")
        raise OSError(errno.EIO, "disk error")
    assert [p.name for p in tmp_path.iterdir()] == ["model"] and (old / "weights").read_text() == "old"
