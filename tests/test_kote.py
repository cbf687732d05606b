"""KOTE, the public Korean corpus: reading its splits (a dev slice of val when train.tsv is absent), the multi-label
stage on a tiny model, the pipeline on KOTE alone (no AI-Hub corpus) to recommendations, page and figures, its
downloads (one without a pinned checksum) and the first-run screen of a fresh clone."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_char_bert
from hub_standin import HubStandin
from test_main import write_data_dir, write_lyrics

import main as pipeline
from moodpipe import paths
from moodpipe.cli import run_cli
from moodpipe.context import RunContext
from moodpipe.contract import AIHUB_ONLY, FIGURES
from moodpipe.data import downloads
from moodpipe.data.downloads import ensure_inputs
from moodpipe.data.kote import GROUPS, LABELS, read_kote
from moodpipe.files import InputError
from moodpipe.models.emotion_predictor import score_texts
from recommend import main as recommend_main

# Texts and their KOTE labels (indices into LABELS): joy, anger, nothing.
KINDS = [("좋아요 정말 행복해", [LABELS.index("기쁨"), LABELS.index("행복")]),
         ("화가 난다 짜증 나", [LABELS.index("화남/분노"), LABELS.index("짜증")]),
         ("그냥 그렇다 보통", [LABELS.index("없음")])]


def kote_rows(n: int, start: int = 0) -> list[str]:
    return [f"{start + i}\t{KINDS[i % 3][0]} {i}\t{','.join(map(str, KINDS[i % 3][1]))}" for i in range(n)]


def write_kote(root: Path, n_val: int = 60, n_test: int = 30, n_train: int = 0) -> Path:
    folder = root / paths.KOTE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for name, n, start in (("val.tsv", n_val, 0), ("test.tsv", n_test, 10_000), ("train.tsv", n_train, 20_000)):
        if n:
            (folder / name).write_text("\n".join(kote_rows(n, start)) + "\n", encoding="utf-8")
    return root


def kote_texts() -> list[str]:
    return [t for t, _ in KINDS] + [str(i) for i in range(10)]


def test_without_train_a_seeded_dev_slice_of_val_is_held_out(tmp_path):
    parts, names, how = read_kote(write_kote(tmp_path), seed=1)
    assert len(names) == 44 and names[LABELS.index("기쁨")] == "긍정/기쁨" and "no train.tsv" in how
    assert {k: len(v) for k, v in parts.items()} == {"train": 30, "dev": 30, "test": 30}
    assert not set(parts["train"].comment_id) & set(parts["dev"].comment_id)  # no comment on both sides
    assert parts["dev"].comment_id.tolist() == read_kote(tmp_path, seed=1)[0]["dev"].comment_id.tolist()
    assert parts["dev"].comment_id.tolist() != read_kote(tmp_path, seed=2)[0]["dev"].comment_id.tolist()
    first = parts["test"].iloc[0]
    assert np.flatnonzero(first.y).tolist() == sorted(KINDS[0][1])


def test_with_train_the_official_splits_are_used(tmp_path):
    parts, _, how = read_kote(write_kote(tmp_path, n_train=12), seed=1)
    assert {k: len(v) for k, v in parts.items()} == {"train": 12, "dev": 60, "test": 30} and "train.tsv" in how


def test_a_labels_file_in_another_order_is_refused(tmp_path):
    write_kote(tmp_path)
    (tmp_path / paths.KOTE_LABELS).write_text("\n".join(LABELS[::-1]) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 1"):
        read_kote(tmp_path, seed=1)
    (tmp_path / paths.KOTE_LABELS).write_text("\n".join(LABELS) + "\n", encoding="utf-8")
    assert len(read_kote(tmp_path, seed=1)[1]) == 44


def test_every_label_has_one_group():
    grouped = [x for members in GROUPS.values() for x in members]
    assert sorted(grouped) == sorted(LABELS) and len(grouped) == len(set(grouped)) == 44


# ----------------------------------------------------------------------------- the stage

def test_kote_training_saves_a_multilabel_model_with_baselines(tmp_path):
    import lyrics_emotion
    data = write_kote(tmp_path / "data", n_val=90)
    encoder = write_char_bert(tmp_path / "encoder", kote_texts())
    metrics = lyrics_emotion.main(["train", "--dataset", "kote", "--data-dir", str(data), "--out", str(tmp_path / "o"),
                                   "--model", str(encoder), "--epochs", "2", "--max-length", "32"])
    folder = tmp_path / "o" / "saved_model" / "kote"
    saved = json.loads((folder / "metrics.json").read_text())
    assert saved["test"]["labels_tuned"]["macro_f1"] == metrics["test"]["labels_tuned"]["macro_f1"]
    assert set(saved["baselines"]) == {"tfidf_char_ovr_logreg", "majority"}
    assert saved["data"]["rows"] == {"train": 45, "dev": 45, "test": 30}
    # the TF-IDF baseline separates these three kinds of comment perfectly on the labels they use
    used = [n for n in saved["labels"] if saved["test"]["labels_tuned"]["per_class"][n]["support"]]
    assert all(saved["baselines"]["tfidf_char_ovr_logreg"]["tuned"]["per_class"][n]["f1"] == 1.0 for n in used)
    assert len(json.loads((folder / "thresholds.json").read_text())["thresholds"]) == 44
    card = (folder / "README.md").read_text()
    assert "0.56" in card and "40,000" in card and "45" in card
    probs = score_texts(folder, ["좋아요 정말 행복해", "화가 난다"])
    assert probs.shape == (2, 44) and ((probs > 0) & (probs < 1)).all()  # sigmoid, not a softmax row
    assert abs(probs.sum(1) - 1).max() > 0.5


# ----------------------------------------------------------------------------- the pipeline on KOTE alone

@pytest.fixture(scope="module")
def kote_run(tmp_path_factory, tiny_mobilebert):
    """main.py --quick --offline on a data directory with KOTE and no emotion_corpus/."""
    root = tmp_path_factory.mktemp("kote_pipeline")
    data = write_data_dir(root / "data")
    shutil.rmtree(data / paths.CORPUS_DIR)
    write_kote(data, n_val=120, n_test=40)
    encoder = write_char_bert(root / "encoder", kote_texts() + ["화가 난다", "투덜 투덜", "역겨운 냄새", "혼자 남았다"])
    argv = ["--quick", "--offline", "--data-dir", str(data), "--out", str(root / "out"), "--lyrics",
            str(write_lyrics(root / "songs.csv")), "--sentiment-model", str(tiny_mobilebert),
            "--emotion-model", str(encoder), "--english-model", str(encoder)]
    return root / "out", pipeline.main(argv)


def test_without_aihub_the_pipeline_runs_on_kote_to_the_end(kote_run, capsys):
    out, run = kote_run
    assert run["stages"]["emotion"]["dataset"] == "kote"
    assert all(s["status"] == "ran" for n, s in run["stages"].items() if n not in ("data", "crawl"))
    assert (out / "saved_model" / "kote" / "metrics.json").is_file()
    assert not (out / "saved_model" / "emotion").exists()
    assert (out / "saved_model" / "kote" / "mood_encoder" / "model.safetensors").is_file()
    songs = pd.read_csv(out / "results" / "song_emotions.csv")
    assert "emo:긍정/기쁨" in songs.columns and {"major:긍정", "major:부정", "major:중립"} <= set(songs.columns)
    assert len([c for c in songs.columns if c.startswith("emo:")]) == 44
    assert (out / "results" / "recommendations.csv").is_file() and (out / "results" / "explorer.html").is_file()
    drawn = {p.name for p in (out / "sample_graphs").glob("*.png")}
    assert drawn == {f.name for f in FIGURES} - set(AIHUB_ONLY)
    report = (out / "results" / "REPORT.md").read_text()
    assert "## Korean emotion (KOTE, 44 labels" in report and "AI-Hub" not in report.split("## Figures")[0]
    assert "Korean emotion, KOTE multi-label (test set)" in (out / "results" / "explorer.html").read_text()


def test_a_group_of_kote_labels_is_an_emotion_query(kote_run):
    out, _ = kote_run
    table = recommend_main(["--emotion", "긍정", "--out", str(out)])["table"]
    assert len(table) > 0
    with pytest.raises(InputError, match="긍정"):  # the error lists the groups the model has
        recommend_main(["--emotion", "기쁨없음", "--out", str(out)])


def test_the_run_on_kote_says_so_once_and_where_aihub_goes(kote_run, capsys):
    out, _ = kote_run
    argv = json.loads((out / "results" / "run.json").read_text())["provenance"]["command"].split()[2:]
    pipeline.main(argv)
    printed = capsys.readouterr().out
    assert printed.count("KOTE (public, 44 emotions) is used") == 1 and "emotion_corpus" in printed


# ----------------------------------------------------------------------------- downloads and the first run

def test_kote_is_downloaded_checked_and_train_without_a_pin_is_recorded(tmp_path, monkeypatch, capsys):
    server = HubStandin().start()
    val, test, train = ("\n".join(kote_rows(n)).encode() for n in (6, 4, 8))
    try:
        monkeypatch.setattr(downloads, "DOWNLOADS", {
            paths.KOTE_VAL: (server.add_file("/val.tsv", val), hashlib.sha256(val).hexdigest()),
            paths.KOTE_TEST: (server.add_file("/test.tsv", test), hashlib.sha256(test).hexdigest()),
            paths.KOTE_TRAIN: (server.add_file("/train.tsv", train), None)})
        info = ensure_inputs(tmp_path, downloads.needed_inputs(["emotion"], korean="kote"))
    finally:
        server.stop()
    assert info["downloaded"] == [paths.KOTE_VAL, paths.KOTE_TEST, paths.KOTE_TRAIN]
    record = (tmp_path / (paths.KOTE_TRAIN + ".sha256")).read_text()
    assert record.split()[0] == hashlib.sha256(train).hexdigest()
    assert "no pinned SHA-256" in capsys.readouterr().out
    assert len(read_kote(tmp_path, seed=0)[0]["train"]) == 8  # then trained on


def test_the_real_sources_are_pinned_except_kote_train():
    for name, (url, sha) in downloads.DOWNLOADS.items():
        assert url.startswith("https://"), name
        assert (sha is None) == (name == paths.KOTE_TRAIN), name
    assert "cafd2c3f54a6f4b25ac74eaa02a2e76c3ef8c977" in downloads.DOWNLOADS[paths.KOTE_VAL][0]


def test_a_fresh_clone_offline_gets_one_short_screen(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no data/ here
    monkeypatch.delenv("DATA_DIR", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        run_cli(pipeline.main, ["--quick", "--offline", "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.splitlines()) <= 12
    for needed in ("reviews/", "goemotions/", "kote/{val.tsv,test.tsv}", "github.com/searle-j/KOTE", "crawl_melon.py",
                   "aihub.or.kr", "python main.py --stages data --data-dir data"):
        assert needed in err, needed
    assert not (tmp_path / "out" / "saved_model").exists()


def test_with_both_corpora_aihub_scores_the_songs_and_kote_is_an_extra_row(tmp_path, quick_run, kote_run):
    from moodpipe.report.documents import write_report
    from moodpipe.stages import korean
    data = write_kote(write_data_dir(tmp_path / "data"))
    assert korean.datasets(data) == ["aihub", "kote"] and korean.dataset(data) == "aihub"
    assert korean.model_dir(data, tmp_path / "o") == tmp_path / "o" / "saved_model" / "emotion"
    assert korean.datasets(tmp_path / "nothing") == ["kote"]  # neither: KOTE's, which the data step asks for
    aihub_out, _, run = quick_run
    both = tmp_path / "both"
    shutil.copytree(aihub_out / "saved_model", both / "saved_model")
    shutil.copytree(kote_run[0] / "saved_model" / "kote", both / "saved_model" / "kote", dirs_exist_ok=True)
    report = write_report(both, run, []).read_text()
    assert "## Korean emotion (AI-Hub, 60 labels" in report and "## Korean emotion (KOTE, 44 labels" in report
    assert paths.Layout(both).korean_model == both / "saved_model" / "emotion"  # what songs are scored with


def test_the_mood_stage_tunes_the_korean_model_the_songs_are_scored_with(tmp_path, quick_run, kote_run):
    """An AI-Hub model left by an earlier run does not take the KOTE run's mood encoder (scoring reads KOTE's)."""
    from moodpipe.stages import korean
    from moodpipe.stages.mood import trained_models
    both = tmp_path / "both"
    shutil.copytree(quick_run[0] / "saved_model", both / "saved_model")
    shutil.copytree(kote_run[0] / "saved_model" / "kote", both / "saved_model" / "kote", dirs_exist_ok=True)
    kote_only = write_kote(tmp_path / "kote_only")
    ctx = RunContext(both, data_dir=kote_only)
    assert trained_models(ctx) == [both / "saved_model" / "kote", both / "saved_model" / "goemotions"]
    assert trained_models(ctx)[0] == korean.model_dir(kote_only, both)
    with_aihub = write_data_dir(tmp_path / "with_aihub")
    assert trained_models(RunContext(both, data_dir=with_aihub))[0] == both / "saved_model" / "emotion"


def test_the_app_takes_its_emotions_and_groups_from_the_kote_model(kote_run):
    from moodpipe.report.app import App
    out, _ = kote_run
    app = App(RunContext(out))
    info = app.info()
    assert sorted(info["majors"]) == sorted(GROUPS) and len(info["emotions"]) == 44 and info["text_model"]
    assert "긍정/기쁨" in info["emotions"] and "부정/불평/불만" in info["emotions"]  # a KOTE name with its own /
    profile = app.answer({"text": ["좋아요 정말 행복해"]})["profile"]
    assert sum(share for _, share, _ in profile["majors"]) == pytest.approx(1.0)  # shares, though sigmoids
    assert app.answer({"emotion": ["부정"]})["rows"]


def test_dense_labels_are_selected_on_tuned_thresholds_not_at_half():
    """Early in training no probability passes 0.5: macro-F1 at 0.5 is 0 and cannot tell epochs apart."""
    from moodpipe.models.metrics import multilabel_macro_f1, multilabel_tuned_macro_f1
    logits, y = np.array([[-1.0, -2.0], [-1.5, -3.0], [-2.0, -2.5]]), np.array([[1, 0], [0, 1], [0, 0]])
    assert multilabel_macro_f1((logits, y))["macro_f1"] == 0
    assert multilabel_tuned_macro_f1((logits, y))["macro_f1"] == pytest.approx((1 + 0.5) / 2)


def test_kote_comments_are_grouped_by_the_mean_mood_of_their_labels(tmp_path):
    """joy+happiness -> +V+A, anger+irritation -> -V+A; 'nothing' alone has no mood and is left out."""
    from moodpipe.stages.mood import kote_texts_by_quadrant
    groups = kote_texts_by_quadrant(write_kote(tmp_path), seed=1)
    parts = read_kote(tmp_path, seed=1)[0]["train"]
    expected = {"+V+A": [t for t in parts.text if t.startswith("좋아요")],
                "-V+A": [t for t in parts.text if t.startswith("화가")]}
    assert groups == expected and all(expected.values())


def test_the_korean_mood_encoder_reads_kote_and_goemotions_together(tmp_path):
    """`both` puts every comment of both sources in its quadrant; `kote` needs KOTE; `goemotions` ignores it."""
    from moodpipe.files import InputError
    from moodpipe.stages.mood import korean_texts, kote_texts_by_quadrant
    english = {"+V+A": ["happy 1", "happy 2"], "+V-A": ["calm 1"]}
    ctx = RunContext(tmp_path, data_dir=write_kote(tmp_path))
    kote = kote_texts_by_quadrant(tmp_path, seed=ctx.seed)
    groups, what = korean_texts(ctx, "both", english)
    assert what == "KOTE's Korean and GoEmotions' English comments"
    assert groups == {"+V+A": kote["+V+A"] + ["happy 1", "happy 2"], "-V+A": kote["-V+A"], "+V-A": ["calm 1"]}
    assert korean_texts(ctx, "kote", english) == (kote, "KOTE's Korean comments")
    assert korean_texts(ctx, "goemotions", english)[0] is english
    with pytest.raises(InputError, match="--korean-texts kote needs KOTE"):
        korean_texts(RunContext(tmp_path, data_dir=tmp_path / "empty"), "kote", english)
