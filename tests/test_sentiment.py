"""The review-sentiment stage and predict_sample.py, on fixture reviews and a tiny MobileBERT."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import write_reviews

import mobilebert_project
import predict_sample
from moodpipe.cli import run_cli
from moodpipe.data import reviews
from moodpipe.files import InputError
from moodpipe.models.sentiment_predictor import load_predictor, predict_sentences
from moodpipe.models.weights import resolve_model
from moodpipe.runtime import Runtime


def test_load_reviews_maps_stars_and_drops_neutral_empty_and_duplicates(tmp_path):
    write_reviews(tmp_path / "r.csv")
    df, counts = reviews.load_reviews(tmp_path / "r.csv", None, None, None)
    assert counts == {"rows_read": 83, "empty_text": 1, "neutral_or_missing_rating": 1, "duplicate_texts": 1,
                      "rows_used": 80}
    assert df.text.is_unique
    assert df.label.tolist().count(1) == 40
    assert set(df[df.text.str.startswith("too many ads")].label) == {0}


def test_split_has_no_shared_texts_and_keeps_label_ratio(tmp_path):
    write_reviews(tmp_path / "r.csv", n_copies=10)
    df, _ = reviews.load_reviews(tmp_path / "r.csv", None, None, None)
    splits = reviews.split_reviews(df, seed=42)
    sides = [set(part.text) for part in splits.values()]
    assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])
    assert sum(map(len, sides)) == len(df)
    assert [len(p) for p in splits.values()] == [160, 20, 20]
    for part in splits.values():
        assert part.label.mean() == pytest.approx(df.label.mean(), abs=0.05)
    again = reviews.split_reviews(df, seed=42)
    assert again["test"].text.tolist() == splits["test"].text.tolist()


def test_other_layouts_kaggle_columns_and_label_column(tmp_path):
    pd.DataFrame({"Review": ["good app", "bad app", "ok"], "Rating": [5, 1, 3]}).to_csv(tmp_path / "k.csv")
    with pytest.raises(InputError, match="2 usable reviews \\(1 negative, 1 positive\\).*at least 10 of each class"):
        reviews.load_reviews(tmp_path / "k.csv", None, None, None)
    rows = pd.DataFrame({"body": [f"text {i}" for i in range(20)], "y": [i % 2 for i in range(20)]})
    rows.to_csv(tmp_path / "l.csv", index=False)
    df, counts = reviews.load_reviews(tmp_path / "l.csv", "body", None, "y")
    assert counts["rows_used"] == 20 and df.label.sum() == 10


@pytest.mark.parametrize("content, message", [
    (None, "missing input"),
    ("", "is empty"),
    ("content,score\n", "no data rows"),
    ("text_body,score\nhello,5\n", "no text column"),
    ("content,stars_given\nhello,5\n", "no rating column"),
    ("content,score\nhello,five\n", "row 2 holds 'five'"),
    ("content,score\nhello,7\n", "outside 1-5"),
    (b"content,score\n\xff\xfe bad bytes,5\n", "not UTF-8"),
])
def test_bad_inputs_give_one_line_errors(tmp_path, capsys, content, message):
    path = tmp_path / "reviews.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(SystemExit) as exit_info:
        run_cli(mobilebert_project.main, ["--reviews", str(path), "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_offline_auto_picks_the_bundled_model_and_says_why(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", "/nonexistent-hf-home")
    resolved = resolve_model("auto", "en")
    assert resolved.source == "bundled" and resolved.substituted
    assert "google/mobilebert-uncased" in resolved.reason
    assert "all-MiniLM-L6-v2" in resolved.name
    goemotions = resolve_model("auto", "en", seed="roberta-base")  # GoEmotions' own seed model
    assert goemotions.substituted and "roberta-base" in goemotions.reason and goemotions.path == resolved.path


def test_auto_picks_the_seed_model_when_the_hub_answers(hub):
    """hub: the stand-in of tests/hub_standin.py (tests/test_online_path.py drives every stage through it)."""
    resolved = resolve_model("auto", "en", timeout=2)
    assert (resolved.name, resolved.source, resolved.substituted) == ("google/mobilebert-uncased", "hub", False)
    assert (Path(resolved.path) / "config.json").is_file()  # downloaded before any stage loads it
    with pytest.raises(InputError, match="answered HTTP 404"):
        resolve_model("someone/missing-model", "en", timeout=2)


def test_tiny_mobilebert_trains_saves_and_answers_predict_sample(tmp_path, tiny_mobilebert, capsys, monkeypatch):
    write_reviews(tmp_path / "reviews.csv", n_copies=4)
    out = tmp_path / "out"
    metrics = mobilebert_project.main(["--data-dir", str(tmp_path), "--reviews", "reviews.csv",
                                       "--model", str(tiny_mobilebert), "--out", str(out), "--epochs", "1",
                                       "--batch-size", "8", "--precision", "fp32"])
    model_dir = out / "saved_model" / "sentiment"
    for name in ["config.json", "model.safetensors", "tokenizer.json", "metrics.json", "trainer_log.json",
                 "test_predictions.csv", "README.md"]:
        assert (model_dir / name).is_file(), name
    for name in ["train", "val", "test"]:
        assert (out / "data" / "processed" / f"{name}_data.csv").is_file()
    saved = json.loads((model_dir / "metrics.json").read_text())
    assert saved["base_model"]["source"] == "local" and saved["base_model"]["path"] == str(tiny_mobilebert)
    assert set(saved["baselines"]) == {"majority", "tfidf_logreg"}
    assert saved["test"]["accuracy"] == metrics["test"]["accuracy"]
    assert sum(map(sum, saved["test"]["confusion_matrix"])) == saved["data"]["split_sizes"]["test"] == 8
    log_history = json.loads((model_dir / "trainer_log.json").read_text())
    assert any("loss" in entry for entry in log_history) and any("eval_macro_f1" in e for e in log_history)

    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO("too many ads\n\nlove this app\n"))
    results = predict_sample.main(["app keeps crashing", "--file", "-", "--model", str(model_dir), "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert [r["text"] for r in printed] == ["app keeps crashing", "too many ads", "love this app"]
    assert printed == results
    # each answer is the saved classifier's softmax, read here with transformers alone, and its argmax
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    classifier = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    with torch.no_grad():
        batch = tokenizer([r["text"] for r in results], padding=True, return_tensors="pt")
        probs = classifier(**batch).logits.softmax(-1)
    names = classifier.config.id2label
    assert [names[0], names[1]] == ["negative", "positive"]
    for r, p in zip(results, probs, strict=True):
        assert r["probabilities"] == pytest.approx({names[i]: float(v) for i, v in enumerate(p)}, abs=1e-4)
        assert r["label"] == names[int(p.argmax())] and r["probability"] == round(float(p.max()), 4)

    # The ONNX export gives the PyTorch model's answers, with no torch at start-up.
    assert (model_dir / "model.onnx").is_file()
    texts = ["app keeps crashing", "love this app", "too many ads and it crashes always, really annoying"]
    onnx = predict_sentences(load_predictor(model_dir, engine="onnx"), texts)
    torch_fp32 = predict_sentences(load_predictor(model_dir, Runtime("cpu", "fp32"), engine="torch"), texts)
    assert [r["label"] for r in onnx] == [r["label"] for r in torch_fp32]
    for a, b in zip(onnx, torch_fp32, strict=True):
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=2e-4)
        assert a["probability"] == max(a["probabilities"].values())
        assert sum(a["probabilities"].values()) == pytest.approx(1, abs=1e-3)


def test_predict_sample_refuses_empty_sentences_and_missing_models(tmp_path, capsys):
    for argv, message in [(["", "--model", str(tmp_path)], "sentence 1 is empty"),
                          (["hello", "--model", str(tmp_path / "none")], "run `python mobilebert_project.py`"),
                          (["--model", str(tmp_path)], "nothing to predict"),
                          (["--file", str(tmp_path / "no.txt")], "no such file")]:
        with pytest.raises(SystemExit) as exit_info:
            run_cli(predict_sample.main, argv)
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
