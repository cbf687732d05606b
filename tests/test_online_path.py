"""The path online users take: `--model auto` against a hub (the stand-in of hub_standin.py, serving tiny
models in the layouts of google/mobilebert-uncased, klue/bert-base and roberta-base) downloads the seed
models, trains every stage, exports and serves the sentiment model, scores songs and answers queries; a
second run uses the cache with the hub gone. And every way the hub can fail ends in one line."""

from __future__ import annotations

import json
import logging
import socket
import time
from pathlib import Path

import pytest
from hub_standin import Faults
from test_main import write_data_dir, write_lyrics

import lyrics_emotion
import mobilebert_project
import predict_sample
import recommend
from moodpipe.cli import run_cli
from moodpipe.files import InputError
from moodpipe.models.weights import resolve_model

TRAIN = ["--epochs", "1", "--batch-size", "8", "--max-steps", "2", "--precision", "fp32"]
SEEDS = [("en", None, "google/mobilebert-uncased"), ("ko", None, "klue/bert-base"),
         ("en", "roberta-base", "roberta-base")]  # (language, seed, the model `auto` must use)


def base_model(out: Path, stage: str) -> dict:
    return json.loads((out / "saved_model" / stage / "metrics.json").read_text())["base_model"]


def test_auto_downloads_the_seed_models_and_every_stage_runs_then_the_cache_serves_a_second_run(
        hub, tmp_path, caplog, capsys):
    caplog.set_level(logging.INFO, logger="pipeline")
    data, out = write_data_dir(tmp_path / "data"), tmp_path / "out"

    mobilebert_project.main(["--data-dir", str(data), "--model", "auto", "--out", str(out), *TRAIN])
    lyrics_emotion.main(["train", "--data-dir", str(data), "--model", "auto", "--out", str(out), *TRAIN])
    lyrics_emotion.main(["train", "--dataset", "goemotions", "--data-dir", str(data), "--model", "auto", "--out",
                         str(out), *TRAIN])
    assert "SUBSTITUTION" not in caplog.text
    for stage, seed in [("sentiment", "google/mobilebert-uncased"), ("emotion", "klue/bert-base"),
                        ("goemotions", "roberta-base")]:
        used = base_model(out, stage)
        assert (used["name"], used["source"], used["substituted"]) == (seed, "hub", False), stage
        assert Path(used["path"], "config.json").is_file() and str(tmp_path / "hf-home") in used["path"]
    # one weights format each, never the TF/Flax/Rust copies; mobilebert-uncased has only vocab.txt and a .bin
    assert hub.fetched("google/mobilebert-uncased") == {"config.json", "vocab.txt", "pytorch_model.bin"}
    assert hub.fetched("klue/bert-base") == {"config.json", "tokenizer.json", "tokenizer_config.json",
                                             "model.safetensors"}
    assert hub.fetched("roberta-base") == {"config.json", "tokenizer.json", "tokenizer_config.json", "vocab.json",
                                           "merges.txt", "model.safetensors"}

    # everything after the downloads is local: serving, scoring and queries make no request
    requests_so_far = len(hub.requests)
    sentiment = out / "saved_model" / "sentiment"
    assert (sentiment / "model.onnx").is_file()
    capsys.readouterr()
    answers = predict_sample.main(["love this app", "too many ads", "--model", str(sentiment), "--json"])
    assert [a["label"] in ("negative", "positive") for a in answers] == [True, True]
    lyrics_emotion.main(["score", "--lyrics", str(write_lyrics(tmp_path / "songs.csv")), "--model",
                         str(out / "saved_model" / "emotion"), "--out", str(out), "--precision", "fp32"])
    result = recommend.main(["--text", "혼자 남았다 화가 난다", "--out", str(out), "--top", "3"])
    assert len(result["table"]) == 3
    assert len(hub.requests) == requests_so_far

    # a second run, the hub gone: the cache answers, with no request and no wait
    hub.stop()
    start = time.perf_counter()
    for language, seed, name in SEEDS:
        again = resolve_model("auto", language, seed=seed)
        assert (again.name, again.source, again.substituted) == (name, "hf-cache", False)
    assert time.perf_counter() - start < 2
    mobilebert_project.main(["--data-dir", str(data), "--model", "auto", "--out", str(tmp_path / "out2"), *TRAIN])
    assert base_model(tmp_path / "out2", "sentiment")["source"] == "hf-cache"
    assert len(hub.requests) == requests_so_far


# Every way the hub fails: all requests answered 500 (hub down) or 404 (repo gone), the weights' GET answered
# 500 after the file's metadata came back fine, and the connection cut mid-file with the server going away.
FAULTS = {
    "500": (Faults(status=500), "answered HTTP 500"),
    "404": (Faults(status=404), "answered HTTP 404"),
    "500 mid-download": (Faults(file_status={"pytorch_model.bin": 500}), "download from the hub failed"),
    "gone mid-download": (Faults(cut={"pytorch_model.bin"}, stop_after_cut=True), "download from the hub failed"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_auto_falls_back_to_the_bundled_model_in_one_line_when_the_hub_fails(hub, fault, caplog):
    hub.faults, expected = FAULTS[fault]
    caplog.set_level(logging.INFO, logger="pipeline")
    resolved = resolve_model("auto", "en")
    assert (resolved.source, resolved.substituted) == ("bundled", True)
    assert "google/mobilebert-uncased" in resolved.reason and expected in resolved.reason
    substitution = [r.getMessage() for r in caplog.records if "SUBSTITUTION" in r.getMessage()]
    assert len(substitution) == 1 and "\n" not in substitution[0] and "all-MiniLM-L6-v2" in substitution[0]


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_named_hub_model_that_fails_stops_with_one_line_and_no_model_folder(hub, fault, tmp_path, capsys):
    hub.faults, expected = FAULTS[fault]
    data, out = write_data_dir(tmp_path / "data"), tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        run_cli(mobilebert_project.main, ["--data-dir", str(data), "--model", "google/mobilebert-uncased",
                                          "--out", str(out), *TRAIN])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "--model google/mobilebert-uncased" in lines[0] and expected in lines[0], err
    assert "Traceback" not in err
    assert not (out / "saved_model").exists()


def test_a_half_downloaded_model_is_not_taken_for_a_cached_one_and_the_next_download_completes_it(hub):
    hub.faults = Faults(file_status={"pytorch_model.bin": 500})
    assert resolve_model("auto", "en").substituted  # config.json and vocab.txt are cached, the weights are not
    hub.faults = Faults(status=503)
    down = resolve_model("auto", "en")
    assert down.substituted and "answered HTTP 503" in down.reason  # not the incomplete snapshot
    hub.faults = Faults()
    healed = resolve_model("auto", "en")
    assert (healed.source, healed.substituted) == ("hub", False)
    assert Path(healed.path, "pytorch_model.bin").is_file()


def test_a_cut_connection_resumes_where_it_stopped(hub, hub_repos):
    hub.faults = Faults(cut={"model.safetensors"})
    resolved = resolve_model("auto", "ko")
    assert (resolved.source, resolved.substituted) == ("hub", False) and hub.cuts_done == 1
    weights = [r for r in hub.requests if r.startswith("GET /klue/bert-base/") and r.endswith("model.safetensors")]
    assert len(weights) == 2  # the cut request, then the rest of the file
    original = hub_repos["klue/bert-base"][0] / "model.safetensors"
    assert Path(resolved.path, "model.safetensors").read_bytes() == original.read_bytes()


def test_without_a_network_auto_gives_up_at_once_with_no_retries(hub, monkeypatch):
    hub.stop()  # connection refused
    start = time.perf_counter()
    assert resolve_model("auto", "en").substituted
    assert time.perf_counter() - start < 2
    with socket.socket() as silent:  # accepts connections (the kernel does) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}")
        start = time.perf_counter()
        resolved = resolve_model("auto", "en", timeout=1)
        assert resolved.substituted and "did not answer within 1 s" in resolved.reason
        assert time.perf_counter() - start < 3  # one try of 1 s, not huggingface_hub's retries
    with pytest.raises(InputError, match="did not answer"):
        resolve_model("klue/bert-base", "ko", timeout=1)
