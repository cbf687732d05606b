"""Behaviour of the emotion stage on tiny fixtures: a 5-label codebook, a few dozen synthetic dialogues,
a character-level tokenizer and a randomly initialised 2-layer BERT (hidden 32)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import write_char_bert
from safetensors import safe_open
from sklearn.metrics import f1_score

import lyrics_emotion
import recommend
from moodpipe.context import RunContext
from moodpipe.data import aihub
from moodpipe.data.codebook import label_names
from moodpipe.files import InputError
from moodpipe.models import emotion_predictor, metrics, song_vectors
from moodpipe.models import tfidf as blend
from moodpipe.models.emotion_finetune import EmotionTrainConfig
from moodpipe.models.heads import (
    HEADS,
    EmotionClassifier,
    build_emotion_model,
    freeze_word_embeddings,
    merge_used_rows,
)
from moodpipe.models.inference import masked_mean
from moodpipe.models.saved_folder import weights_digest
from moodpipe.paths import Layout
from moodpipe.runtime import resolve_runtime
from moodpipe.stages import emotion

# e_code, major_code, major, sub (codebook), sub (xlsx): includes the two spellings that differ
CODEBOOK = [("E10", "E1", "분노", "분노", "분노"), ("E11", "E1", "분노", "툴툴대는", "툴툴대는"),
            ("E17", "E1", "분노", "구역질나는", "구역질 나는"), ("E43", "E4", "상처", "고립된", "고립된"),
            ("E51", "E5", "당황", "고립된(당황)", "고립된")]
PHRASES = {"E10": "화가 난다", "E11": "투덜 투덜", "E17": "역겨운 냄새", "E43": "혼자 남았다", "E51": "당황 스러워"}
LABELS = [f"{major}/{sub}" for _, _, major, sub, _ in CODEBOOK]
ALL_LABELS = label_names()  # the built-in E10-E69 codebook: what the corpus reader labels with
LYRICS = ["사랑 노래\n혼자 남았다\n화가 난다 오늘", "", "한 줄 뿐인 가사 투덜 투덜 당황 스러워"]


def corpus_rows(per_label: int = 10) -> list[dict]:
    rows = []
    for code, _, major, _, sub_xlsx in CODEBOOK:
        for i in range(per_label):
            rows.append({"연령": "청년", "성별": "남성", "상황키워드": "일", "신체질환": "해당없음",
                         "감정_대분류": major, "감정_소분류": sub_xlsx, "_code": code,
                         "사람문장1": f"{PHRASES[code]} 오늘 {i}", "시스템문장1": "그렇군요",
                         "사람문장2": f"정말 {PHRASES[code]}", "시스템문장2": "네",
                         "사람문장3": "" if i % 3 == 0 else f"그래서 {i} 번", "시스템문장3": ""})
    return rows


def write_json_corpus(rows: list[dict], path: Path) -> Path:
    """The released JSON shape: profile -> emotion -> type, talk -> content -> HS01..HS03."""
    records = [{"profile": {"persona-id": f"Pro_{i:05d}", "emotion": {"emotion-id": f"S06_D02_{r['_code']}",
                                                                        "type": r["_code"]}},
                "talk": {"id": {"profile-id": f"Pro_{i:05d}", "talk-id": f"Pro_{i:05d}_00001"},
                         "content": {"HS01": r["사람문장1"], "SS01": r["시스템문장1"], "HS02": r["사람문장2"],
                                     "SS02": r["시스템문장2"], "HS03": r["사람문장3"], "SS03": ""}}}
               for i, r in enumerate(rows)]
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def data_dir(tmp_path) -> Path:
    """<data>/emotion_corpus/{corpus.xlsx, codebook} in the layout of ../shared/data."""
    folder = tmp_path / "data" / "emotion_corpus"
    folder.mkdir(parents=True)
    pd.DataFrame(CODEBOOK, columns=["e_code", "major_code", "major_label", "sub_label_codebook",
                                    "sub_label_xlsx"]).to_csv(folder / "emotion_label_map_E10_E69.csv", index=False)
    pd.DataFrame(corpus_rows()).drop(columns="_code").to_excel(folder / "corpus.xlsx")
    return tmp_path / "data"


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory) -> Path:
    """A random 2-layer BERT (hidden 32) with a character-level WordPiece vocabulary over the fixtures."""
    texts = [r[k] for r in corpus_rows() for k in ("사람문장1", "사람문장2", "사람문장3")] + LYRICS
    return write_char_bert(tmp_path_factory.mktemp("tiny_encoder"), texts)


# ----------------------------------------------------------------------------- similarity-weighted F1

def test_weighted_f1_equals_macro_f1_with_identity():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 6, 200), rng.integers(0, 6, 200)
    y_pred[:3] = 5  # and a class that is never true nor predicted below
    y_true, y_pred = np.where(y_true == 4, 0, y_true), np.where(y_pred == 4, 1, y_pred)
    expected = f1_score(y_true, y_pred, labels=range(6), average="macro", zero_division=0)
    assert metrics.similarity_weighted_f1(y_true, y_pred, np.eye(6)) == pytest.approx(expected)


def test_weighted_f1_rises_when_errors_stay_in_the_major_class():
    s = metrics.hierarchy_similarity(LABELS, credit=0.5)  # labels 0-2 share the major 분노
    assert s[0, 1] == 0.5 and s[0, 3] == 0.0 and s[3, 4] == 0.0 and np.all(np.diag(s) == 1)
    y_true = [0, 1, 2, 3, 4] * 4
    within = [1, 2, 0, 3, 4] * 4  # 분노 errors stay in 분노
    across = [3, 4, 3, 3, 4] * 4  # the same number of errors, into other majors
    assert metrics.similarity_weighted_f1(y_true, within, s) > metrics.similarity_weighted_f1(y_true, across, s)
    assert metrics.similarity_weighted_f1(y_true, y_true, s) == pytest.approx(1.0)


# ----------------------------------------------------------------------------- heads

@pytest.mark.parametrize("head", ["arch1", "arch2"])
def test_pooling_ignores_pad_positions(tiny_encoder, head):
    model = build_emotion_model(str(tiny_encoder), head, LABELS).eval()
    ids = torch.tensor([[2, 7, 8, 9, 3, 0, 0, 0], [2, 10, 11, 12, 13, 14, 15, 3]])
    mask = (torch.arange(8) < torch.tensor([[5], [8]])).long()
    changed = ids.clone()
    changed[0, 5:] = torch.tensor([20, 21, 22])  # other token ids where attention_mask is 0
    with torch.no_grad():
        a, b = model(ids, mask).logits, model(changed, mask).logits
    assert torch.allclose(a, b, atol=1e-6)


def test_arch2_starts_as_the_average_of_its_three_vectors(tiny_encoder):
    model = build_emotion_model(str(tiny_encoder), "arch2", LABELS).eval()
    ids = torch.tensor([[2, 7, 8, 9, 3, 0], [2, 10, 11, 12, 13, 3]])
    mask = (ids != 0).long()
    with torch.no_grad():
        out = model.encoder(input_ids=ids, attention_mask=mask, output_hidden_states=True, return_dict=True)
        last = out.last_hidden_state
        earliest = out.hidden_states[0]  # a 2-layer encoder has no layer[-4]; features() falls back to this
        average = (last[:, 0] + earliest[:, 0] + masked_mean(last, mask)) / 3
        assert torch.allclose(model.features(out, mask), torch.relu(average), atol=1e-6)


@pytest.mark.parametrize("with_norm", [True, False])
def test_arch1_features_keep_differing_when_token_states_share_one_direction(tiny_encoder, with_norm):
    """multilingual-e5's token states share one large component; arch1's channels then collapsed (dead
    after ReLU, one vector for every input). The per-channel batch norm keeps them apart; without it
    (with_norm=False, the old arch1) this setting collapses, which shows the test can fail."""
    torch.manual_seed(0)
    model = build_emotion_model(str(tiny_encoder), "arch1", LABELS)
    if not with_norm:
        model.conv_norm = torch.nn.Identity()
    with torch.no_grad():  # the shared direction, added to every token before the embedding LayerNorm
        model.encoder.embeddings.word_embeddings.weight += 0.3 * torch.randn(32)
    ids = torch.arange(5, 21).unsqueeze(1).repeat(1, 6)  # example i: one token, repeated
    mask = torch.ones_like(ids)
    labels = torch.zeros(16, dtype=torch.long)  # the label prior is all there is to learn from these
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(30):
        model(ids, mask, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad()
    with torch.no_grad():  # batch statistics, as in training (30 steps leave the running ones near their init)
        out = model.encoder(input_ids=ids, attention_mask=mask, return_dict=True)
        channels = model.conv_channels(out.last_hidden_state, mask) if with_norm else torch.relu(
            model.conv(out.last_hidden_state.transpose(1, 2))).transpose(1, 2)
        features = model.features(out, mask) if with_norm else channels.mean(1)
    alive = int((channels > 0).flatten(0, 1).any(0).sum())
    spread = float(features.std(0).mean() / features.abs().mean().clamp(min=1e-9))
    if with_norm:  # measured: all 64 channels alive, spread 0.099
        assert alive > 48 and spread > 0.05, (alive, spread)
    else:  # measured: 28 alive, spread 0.003
        assert alive < 48 and spread < 0.02, (alive, spread)


@pytest.mark.parametrize("head", HEADS)
def test_every_head_saves_and_loads_with_identical_logits(tiny_encoder, tmp_path, head):
    model = build_emotion_model(str(tiny_encoder), head, LABELS, feature_norm=head == "arch2").eval()
    with torch.no_grad():  # weights and batch statistics no initialiser would produce, as after training
        for param in model.parameters():
            param.add_(0.05 * torch.randn_like(param))
        for buffer in model.norm.buffers() if head == "arch2" else []:
            buffer.add_(1)
    model.save_pretrained(tmp_path / head)
    loaded = EmotionClassifier.from_pretrained(tmp_path / head).eval()
    ids = torch.tensor([[2, 7, 8, 9, 3, 0], [2, 10, 11, 12, 13, 3]])
    mask = (ids != 0).long()
    with torch.no_grad():
        assert torch.equal(model(ids, mask).logits, loaded(ids, mask).logits)
    assert loaded.config.head == head and loaded.config.id2label[4] == "당황/고립된(당황)"
    assert loaded.config.feature_norm == (head == "arch2")
    out = loaded(ids, mask, labels=torch.tensor([0, 4]))
    assert out.loss is not None and out.logits.shape == (2, len(LABELS))


def test_used_rows_train_only_those_rows_and_merge_back(tiny_encoder):
    model = build_emotion_model(str(tiny_encoder), "plain", LABELS)
    before = model.encoder.get_input_embeddings().weight.detach().clone()
    facts = freeze_word_embeddings(model, "used", [2, 3, 7, 8])
    assert facts["tuned_rows"] == 4 and facts["trainable_params"] < sum(p.numel() for p in model.parameters())
    ids, mask = torch.tensor([[2, 7, 8, 3]]), torch.ones(1, 4, dtype=torch.long)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0)
    model(ids, mask, labels=torch.tensor([1])).loss.backward()
    optimizer.step()
    model.eval()
    with torch.no_grad():
        tuned = model(ids, mask).logits
        merge_used_rows(model)
        merged = model(ids, mask).logits
    after = model.encoder.get_input_embeddings()
    assert isinstance(after, torch.nn.Embedding) and torch.allclose(tuned, merged, atol=1e-5)
    changed = (after.weight != before).any(1).nonzero().flatten().tolist()
    assert changed == [2, 3, 7, 8]  # every other row is exactly as pretrained


# ----------------------------------------------------------------------------- corpus and split

def test_xlsx_json_and_csv_inputs_give_the_same_examples(data_dir, tmp_path):
    rows = corpus_rows()
    pd.DataFrame(rows).drop(columns="_code").to_csv(tmp_path / "corpus.csv", index=False)
    loaded = [aihub.load_emotion_corpus(p)[0] for p in
              (data_dir / "emotion_corpus", write_json_corpus(rows, tmp_path / "corpus.json"), tmp_path / "corpus.csv")]
    columns = ["s1", "s2", "s3", "label_id"]
    for other in loaded[1:]:
        pd.testing.assert_frame_equal(loaded[0][columns], other[columns])
    assert loaded[0].label_id.tolist()[-10:] == [41] * 10  # 당황/고립된 (E51) is not 상처/고립된 (E43)


def test_bad_rows_are_counted_not_silently_dropped(data_dir, tmp_path):
    rows = corpus_rows()
    rows[0].update({"사람문장1": "", "사람문장2": "", "사람문장3": ""})
    rows[1].update({"감정_소분류": "없는감정"})
    pd.DataFrame(rows).drop(columns="_code").to_csv(tmp_path / "bad.csv", index=False)
    dialogues, labels, report = aihub.load_emotion_corpus(tmp_path / "bad.csv")
    assert labels == ALL_LABELS
    assert (report["rows_read"], report["empty_text"], report["unknown_label"], report["rows_used"]) == (50, 1, 1, 48)
    assert report["unknown_label_examples"] == ["분노/없는감정"]


def test_dialogue_split_keeps_each_dialogue_on_one_side(data_dir):
    dialogues, labels, _ = aihub.load_emotion_corpus(data_dir / "emotion_corpus")
    parts, stratified = aihub.split_dialogues(dialogues, seed=42)
    assert stratified and sum(len(p) for p in parts.values()) == len(dialogues)
    units = {k: aihub.dialogue_units(v, "sentence", labels) for k, v in parts.items()}
    ids = {k: set(v.dialogue_id) for k, v in units.items()}
    assert not (ids["train"] & ids["val"]) and not (ids["train"] & ids["test"]) and not (ids["val"] & ids["test"])
    assert sum(len(u) for u in units.values()) == (dialogues[["s1", "s2", "s3"]] != "").sum().sum()
    assert set(units["test"].label) <= set(LABELS)


def test_add_sentences_grows_only_the_training_side(data_dir, tmp_path):
    def units(add: bool) -> dict:
        return aihub.prepare_aihub(data_dir / "emotion_corpus", "dialogue", add, 42, None, None,
                                   Layout(tmp_path / str(add)))[0]
    plain, added = units(False), units(True)
    for split in ("val", "test"):
        pd.testing.assert_frame_equal(plain[split], added[split])
    sentences = added["train"].iloc[len(plain["train"]):]
    pd.testing.assert_frame_equal(added["train"].head(len(plain["train"])), plain["train"])
    assert set(sentences.dialogue_id) == set(plain["train"].dialogue_id)  # no val/test dialogue enters training
    dialogue_length = plain["train"].set_index("dialogue_id").text.str.len()
    assert (sentences.text.str.len() <= sentences.dialogue_id.map(dialogue_length)).all()


def test_add_sentences_is_on_by_default_and_can_be_turned_off(data_dir, tiny_encoder, tmp_path):
    """train's training split: each training dialogue, then (unless --no-add-sentences) each of its non-empty
    sentences on its own; validation and test the same either way."""
    sentences_of = {}
    for r in corpus_rows():
        said = [r[k] for k in ("사람문장1", "사람문장2", "사람문장3") if r[k]]
        sentences_of[" ".join(said)] = said

    def split(*flag: str) -> dict[str, pd.DataFrame]:
        out = tmp_path / (flag[0] if flag else "default")
        metrics = lyrics_emotion.main(["train", "--data-dir", str(data_dir), "--model", str(tiny_encoder), "--out",
                                       str(out), "--head", "plain", "--max-steps", "1", "--batch-size", "8", *flag])
        assert metrics["data"]["add_sentences"] == (not flag)
        return {k: pd.read_csv(out / "data" / "processed" / f"emotion_{k}.csv") for k in ("train", "val", "test")}

    default, off = split(), split("--no-add-sentences")
    dialogues = off["train"].text.tolist()
    assert set(dialogues) <= set(sentences_of) and len(dialogues) == 40  # 50 dialogues, 40 in training
    assert default["train"].text.tolist() == dialogues + [s for d in dialogues for s in sentences_of[d]]
    assert len(default["train"]) == 40 + sum(map(len, map(sentences_of.get, dialogues))) > 80  # 2 or 3 each
    for name in ("val", "test"):
        pd.testing.assert_frame_equal(default[name], off[name])


# ----------------------------------------------------------------------------- end to end

def test_train_compare_then_score_lyrics(data_dir, tiny_encoder, tmp_path):
    out = tmp_path / "out"
    metrics = lyrics_emotion.main(["train", "--data-dir", str(data_dir), "--model", str(tiny_encoder),
                                   "--out", str(out), "--compare", "--epochs", "1", "--batch-size", "8",
                                   "--max-steps", "2", "--precision", "fp32"])
    model_dir = out / "saved_model" / "emotion"
    for name in ("metrics.json", "README.md", "trainer_log.json", "test_predictions.csv", "label_similarity.csv",
                 "head_comparison.json", "head_comparison.md", "config.json", "base_model.json", "blend.json"):
        assert (model_dir / name).is_file(), name
    blended = metrics["blend"]["used"]
    assert set(metrics["comparison"]) == {*HEADS, "ensemble", *(["blend"] if blended else [])}
    assert metrics["data"]["rows_used"] == 50 and (model_dir / "tfidf.joblib").is_file() == blended
    for head in HEADS:  # paired bootstrap against plain: plain's difference from itself is exactly 0
        row = metrics["comparison"][head]
        assert row["test_accuracy_ci95"][0] <= row["test_accuracy_60"] <= row["test_accuracy_ci95"][1]
    assert metrics["comparison"]["plain"]["minus_plain_ci95"] == [0.0, 0.0]
    assert len(metrics["test"]["labels60"]["confusion_matrix"]) == len(ALL_LABELS)
    assert len(metrics["test"]["major6"]["confusion_matrix"]) == 6
    assert "tfidf_char_logreg" in metrics["baselines"]
    for split in ("train", "val", "test"):
        assert (out / "data" / "processed" / f"emotion_{split}.csv").is_file()

    songs = pd.DataFrame({"song_id": [1, 2, 3], "song_name": ["가", "나", "다"], "artist": "x", "album": "y",
                          "release_date": "2001.01.01", "genre": "발라드", "lyrics": LYRICS})
    songs.to_csv(tmp_path / "songs.csv", index=False)
    lyrics_emotion.main(["score", "--lyrics", str(tmp_path / "songs.csv"), "--model", str(model_dir), "--out", str(out),
             "--halves", "--max-length", "8", "--precision", "fp32"])
    vectors = pd.read_csv(out / "results" / "song_emotions.csv")
    metadata = ["song_id", "song_name", "artist", "album", "release_date", "genre", "n_chunks", "n_tokens"]
    majors = ["major:분노", "major:슬픔", "major:불안", "major:상처", "major:당황", "major:기쁨"]
    assert list(vectors.columns) == [*metadata, *[f"emo:{n}" for n in ALL_LABELS], *majors]
    assert vectors.song_id.tolist() == [1, 3]  # the song with empty lyrics is skipped
    assert (vectors.n_chunks > 1).all()  # max length 8 forces several chunks
    emo = vectors.filter(like="emo:").to_numpy()
    assert np.allclose(emo.sum(1), 1, atol=1e-4)
    assert np.allclose(vectors.filter(like="major:").sum(axis=1), 1, atol=1e-4)
    halves = pd.read_csv(out / "results" / "song_halves.csv")
    assert halves[["song_id", "half"]].values.tolist() == [[1, "a"], [1, "b"], [3, "a"], [3, "b"]]
    assert list(halves.columns[2:]) == list(vectors.columns[8:])
    text_vectors = emotion_predictor.score_texts(model_dir, ["혼자 남았다", "화가 난다\n오늘"])
    assert text_vectors.shape == (2, len(ALL_LABELS)) and np.allclose(text_vectors.sum(1), 1, atol=1e-4)
    check_song_embeddings(out, model_dir, vectors, halves)
    # the saved test metrics are the loaded predictor's: its predictions on the test texts reproduce them
    test = pd.read_csv(model_dir / "test_predictions.csv")
    probs = emotion_predictor.score_texts(model_dir, test.text.tolist(), resolve_runtime(precision="fp32"))
    assert (probs.argmax(1) == test.label_id).mean() == pytest.approx(metrics["test"]["labels60"]["accuracy"])


def check_song_embeddings(out: Path, model_dir: Path, vectors: pd.DataFrame, halves: pd.DataFrame) -> None:
    """The .npz beside the vectors: documented shapes, rows in the CSVs' order, and a song's `features` equal
    to the token-weighted mean of its chunks' features (the vector the classifier sees)."""
    saved = np.load(out / "results" / "song_emotions.embeddings.npz")
    predictor = emotion_predictor.load_emotion_predictor(str(model_dir))
    assert saved["song_id"].tolist() == vectors.song_id.astype(str).tolist()
    assert saved["halves_song_id"].tolist() == halves.song_id.astype(str).tolist()
    # features: the classifier's input (hidden 32 for plain/arch2, 64 conv channels for arch1); generic: hidden
    for name, width in (("features", predictor.model.classifier.in_features), ("generic", 32)):
        assert saved[name].shape == (len(vectors), width) and saved[f"halves_{name}"].shape == (len(halves), width)
    a, b, sep = song_vectors.lyric_halves(LYRICS[0])
    chunks, _, tokens = emotion_predictor.chunk_texts(predictor.tokenizer, [(a, sep), (b, sep)], 8)
    chunk_features = predictor.chunk_outputs(chunks, 8, embeddings=True)["features"]
    expected = (chunk_features * np.array(tokens)[:, None]).sum(0) / sum(tokens)
    assert np.allclose(saved["features"][0], expected, atol=1e-4)


def test_blend_weight_is_chosen_on_validation_and_saved_predictor_uses_it(tmp_path):
    y = np.array([0, 1, 0, 1])
    model = np.array([[0.6, 0.4], [0.6, 0.4], [0.6, 0.4], [0.6, 0.4]])  # always class 0
    tfidf = np.array([[0.9, 0.1], [0.1, 0.9], [0.9, 0.1], [0.1, 0.9]])  # always right
    weight, curve = blend.choose_weight(model, tfidf, y)
    assert curve[1.0] < curve[weight] == 1.0 and weight == max(w for w, s in curve.items() if s == 1.0)
    assert blend.choose_weight(tfidf, model, y)[0] == 1.0  # the model alone wins: no TF-IDF part
    blend.save_blend(tmp_path, None, 1.0, curve)
    assert blend.load_blend(tmp_path) == (None, 1.0) and not (tmp_path / "tfidf.joblib").exists()


def test_training_with_used_rows_saves_an_ordinary_encoder(data_dir, tiny_encoder, tmp_path):
    metrics = lyrics_emotion.main(["train", "--data-dir", str(data_dir), "--model", str(tiny_encoder),
                                   "--out", str(tmp_path),
                       "--head", "plain", "--freeze-embeddings", "used", "--epochs", "1", "--batch-size", "8",
                       "--max-steps", "2", "--precision", "fp32"])
    vocabulary_size = metrics["frozen"]["word_embedding_params"] // 32  # the tiny encoder's hidden size is 32
    assert 10 < metrics["frozen"]["tuned_rows"] < vocabulary_size
    with safe_open(tmp_path / "saved_model" / "emotion" / "model.safetensors", "pt") as saved:
        embedding_keys = [k for k in saved.keys() if "word_embeddings" in k]  # noqa: SIM118 (not a dict)
    assert embedding_keys == ["encoder.embeddings.word_embeddings.weight"]  # the correction was merged in


def test_head_learning_rate_applies_to_the_head_only(tiny_encoder):
    from moodpipe.models.training import TrainConfig, parameter_groups
    model = build_emotion_model(str(tiny_encoder), "arch2", LABELS)
    model.encoder.get_input_embeddings().weight.requires_grad_(False)
    groups = parameter_groups(model, TrainConfig(learning_rate=1e-5, head_learning_rate=1e-3, weight_decay=0.01))
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            assert id(param) not in lr_of, name  # frozen weights stay out of the optimizer
        else:
            assert lr_of[id(param)] == (1e-5 if name.startswith("encoder.") else 1e-3), name
    assert {n for n, p in model.named_parameters() if lr_of.get(id(p)) == 1e-3} == {
        "mix.weight", "mix.bias", "classifier.weight", "classifier.bias"}


def test_pack_lengths_never_exceeds_the_budget_unless_one_line_does():
    assert emotion_predictor.pack_lengths([3, 4, 2, 9, 1], budget=8) == [[0, 1], [2], [3], [4]]
    assert emotion_predictor.pack_lengths([], budget=8) == []


# ----------------------------------------------------------------------------- GoEmotions pieces

def test_threshold_tuning_finds_each_labels_best_cut():
    probs = np.array([[0.9, 0.30], [0.6, 0.20], [0.4, 0.25], [0.1, 0.05]])
    y = np.array([[1, 1], [1, 1], [0, 0], [0, 0]])
    # label 0 separates at 0.5; label 1 cannot be separated (0.25 is negative): the lowest tying cut wins
    assert metrics.tune_thresholds(probs, y, grid=[0.1, 0.2, 0.5, 0.7]).tolist() == [0.5, 0.1]


def test_ekman_grouping_includes_neutral():
    groups, m = metrics.ekman_matrix(["anger", "joy", "love", "neutral"], {"anger": ["anger"], "joy": ["joy", "love"]})
    assert groups == ["anger", "joy", "neutral"]
    pred = np.array([[0, 0, 1, 0], [0, 0, 0, 1]])
    assert ((pred @ m) > 0).astype(int).tolist() == [[0, 1, 0], [0, 0, 1]]


def test_qlora_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(InputError, match="CUDA"):
        emotion.train_emotion(RunContext(), EmotionTrainConfig(dataset="goemotions", qlora=True))


def test_goemotions_multilabel_training_writes_thresholds(tiny_encoder, tmp_path):
    root = tmp_path / "data" / "goemotions"
    (root / "original").mkdir(parents=True)
    names = ["anger", "joy", "love", "neutral"]
    (root / "original" / "labels.txt").write_text("\n".join(names) + "\n")
    (root / "ekman_mapping.json").write_text(json.dumps({"anger": ["anger"], "joy": ["joy", "love"]}))
    rows = [f"text number {i}\t{i % 4}{',1' if i % 5 == 0 and i % 4 != 1 else ''}\tid{i}" for i in range(16)]
    for split in ("train", "dev", "test"):
        (root / "original" / f"{split}.tsv").write_text("\n".join(rows) + "\n")
    metrics = lyrics_emotion.main(["train", "--dataset", "goemotions", "--data-dir", str(tmp_path / "data"), "--model",
                       str(tiny_encoder), "--out", str(tmp_path / "out"), "--max-steps", "2", "--batch-size", "8",
                       "--precision", "fp32", "--head-lr", "1e-3"])
    model_dir = tmp_path / "out" / "saved_model" / "goemotions"
    thresholds = json.loads((model_dir / "thresholds.json").read_text())
    assert set(thresholds["thresholds"]) == set(names)
    assert thresholds["weights_sha256"] == weights_digest(model_dir)  # the weights they were tuned for
    assert metrics["test"]["ekman7_tuned"]["per_class"].keys() == {"anger", "joy", "neutral"}
    loaded = EmotionClassifier.from_pretrained(model_dir)
    assert loaded.config.problem_type == "multi_label_classification"
    # labelled retrieval with the English model: the parts without inputs are skipped and say why
    result = recommend.main(["--evaluate", "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "out")])
    scores = result["goemotions"]["precision_at_k"]
    assert {"raw", "log", "features", "generic", "hybrid", "tfidf", "chance"} <= set(scores)
    assert "major6" not in scores and set(result["skipped"]) == {"aihub", "halves", "song_moods"}
    assert "--song-moods" in result["skipped"]["song_moods"]
    # song moods, scored by the English model like the catalogue: every representation beside TF-IDF and chance
    moods = pd.DataFrame({"song_id": range(24), "mood": ["sad", "happy", "angry"] * 8,
                          "lyrics": [f"text number {i}\nline {i % 3}" for i in range(24)]})
    moods.to_csv(tmp_path / "moods.csv", index=False)
    result = recommend.main(["--evaluate", "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "out"),
                             "--song-moods", str(tmp_path / "moods.csv")])
    english = result["song_moods"]["English"]
    assert english["n_songs"] == 24 and english["moods"] == {"angry": 8, "happy": 8, "sad": 8}
    assert {"log", "features", "generic", "tfidf", "chance"} <= set(english["agreement_at_k"])
    assert english["agreement_at_k"]["chance"]["mood"] == pytest.approx(7 / 23)
    assert "song_moods_korean" in result["skipped"]
    assert "song moods top-10, English model" in (tmp_path / "out" / "results" / "retrieval_eval.md").read_text()
    assert all(0 <= s["any_label"] <= 1 for s in scores.values())
    assert (tmp_path / "out" / "results" / "retrieval_eval.md").is_file()


SHARED_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "emotion_corpus"


@pytest.mark.skipif(not any(SHARED_CORPUS.glob("*.xlsx")), reason="needs the AI-Hub xlsx in ../shared/data")
def test_the_builtin_codebook_maps_every_label_of_the_validation_xlsx():
    dialogues, names, report = aihub.load_emotion_corpus(SHARED_CORPUS)
    assert report["unknown_label"] == 0 and report["unknown_label_examples"] == []
    assert report["rows_used"] == report["rows_read"] - report["empty_text"]
    assert dialogues.label_id.nunique() == len(names) == 60  # every code occurs, none is left out
    assert report["codebooks_checked"]  # the codebook CSV beside it agrees with ours, row by row


def test_a_codebook_that_disagrees_is_an_error_naming_the_rows(tmp_path):
    from moodpipe.data.codebook import check_codebook_file
    pd.DataFrame([("E10", "분노", "분노"), ("E51", "상처", "고립된")],
                 columns=["e_code", "major_label", "sub_label_codebook"]).to_csv(tmp_path / "book.csv", index=False)
    with pytest.raises(InputError, match=r"1 row\(s\): E51: 상처/고립된 \(ours: 당황/고립된\)"):
        check_codebook_file(tmp_path / "book.csv")


def test_score_reads_the_model_under_its_own_out(tmp_path):
    """--out X means the same for every command: score looks for X/saved_model/emotion, as recommend.py --text."""
    pd.DataFrame({"song_id": [1], "lyrics": ["혼자 남았다"]}).to_csv(tmp_path / "songs.csv", index=False)
    with pytest.raises(InputError, match=str(tmp_path / "elsewhere" / "saved_model" / "emotion")):
        lyrics_emotion.main(["score", "--lyrics", str(tmp_path / "songs.csv"), "--out", str(tmp_path / "elsewhere")])


# ----------------------------------------------------------------------------- the mood encoder

def write_goemotions(root: Path, names: list[str], rows: list[str]) -> Path:
    """A GoEmotions release in miniature: labels.txt, ekman_mapping.json and the three splits."""
    folder = root / "goemotions"
    (folder / "original").mkdir(parents=True)
    (folder / "original" / "labels.txt").write_text("\n".join(names) + "\n")
    (folder / "ekman_mapping.json").write_text(json.dumps({"joy": ["joy"]}))
    for split in ("train", "dev", "test"):
        (folder / "original" / f"{split}.tsv").write_text("\n".join(rows) + "\n")
    return root


def test_balanced_batches_hold_a_few_labels_a_few_texts_each():
    from random import Random

    from moodpipe.models.mood_encoder import MoodEncoderConfig, balanced_batches
    groups = {"+V+A": ["a1", "a2"], "-V+A": ["b1"], "-V-A": ["c1", "c2", "c3"], "+V-A": ["d1"]}
    cfg = MoodEncoderConfig(texts=40, labels_per_batch=2, per_label=3)
    batches = list(balanced_batches(groups, cfg, Random(0)))
    assert sum(len(b) for b, _ in batches) == 42 and all(len(b) == 6 for b, _ in batches)
    for texts, labels in batches:
        assert len(set(labels)) == 2 and all(labels.count(x) == 3 for x in set(labels))
        assert all(t in groups[label] for t, label in zip(texts, labels, strict=True))


def test_mood_encoder_is_tuned_saved_and_scored_into_mood_vectors(data_dir, tiny_encoder, tmp_path):
    out = tmp_path / "out"
    lyrics_emotion.main(["train", "--data-dir", str(data_dir), "--model", str(tiny_encoder), "--out", str(out),
                         "--head", "plain", "--no-add-sentences", "--max-steps", "1", "--precision", "fp32"])
    names = ["anger", "joy", "relief", "sadness", "neutral"]
    rows = [f"화가 난다 {i}\t{i % 5}\tid{i}" for i in range(40)] + ["둘 다\t0,1\tboth"]
    gdata = write_goemotions(tmp_path / "g", names, rows)
    made = lyrics_emotion.main(["mood", "--data-dir", str(gdata), "--out", str(out), "--texts", "64",
                                "--precision", "fp32"])
    mood_dir = out / "saved_model" / "emotion" / "mood_encoder"
    assert made == [mood_dir] and (mood_dir / "config.json").is_file()
    tuned_on = json.loads((mood_dir / "tuned_on.json").read_text())  # no KOTE here: the fallback is on record
    assert tuned_on["texts"] == "GoEmotions' English comments (KOTE not in the data directory)"
    assert tuned_on["texts_per_quadrant"] == {"+V+A": 8, "+V-A": 8, "-V+A": 8, "-V-A": 8}
    with safe_open(str(mood_dir / "model.safetensors"), "pt") as tuned, \
            safe_open(str(tiny_encoder / "model.safetensors"), "pt") as base:
        key = next(k for k in tuned.keys() if "attention" in k and k.endswith("weight"))
        assert not torch.equal(tuned.get_tensor(key), base.get_tensor(next(k for k in base.keys()
                                                                             if k.endswith(key))))
    songs = pd.DataFrame({"song_id": [1, 2, 3], "song_name": ["가", "나", "다"], "artist": "x", "lyrics": LYRICS})
    songs.to_csv(tmp_path / "songs.csv", index=False)
    lyrics_emotion.main(["score", "--lyrics", str(tmp_path / "songs.csv"), "--out", str(out), "--halves",
                         "--max-length", "8", "--precision", "fp32"])
    saved = np.load(out / "results" / "song_emotions.embeddings.npz")
    assert saved["mood"].shape == (2, 32) and saved["halves_mood"].shape == (4, 32)
    # a song's mood vector is the token-weighted mean of its chunks' mood-encoder embeddings
    predictor = emotion_predictor.load_emotion_predictor(str(out / "saved_model" / "emotion"))
    a, b, sep = song_vectors.lyric_halves(LYRICS[0])
    chunks, _, tokens = emotion_predictor.chunk_texts(predictor.tokenizer, [(a, sep), (b, sep)], 8)
    chunk_mood = predictor.chunk_outputs(chunks, 8, embeddings=("mood",))["mood"]
    assert np.allclose(saved["mood"][0], (chunk_mood * np.array(tokens)[:, None]).sum(0) / sum(tokens), atol=1e-4)
    result = recommend.main(["--song-id", "1", "--out", str(out), "--representation", "mood", "--top", "1"])
    assert result["representation"] == "mood" and result["table"].song_id.tolist() == ["3"]


def test_a_mood_encoder_saved_anew_is_loaded_anew(tmp_path):
    # a retuned mood encoder keeps its folder: a process that loaded the old one must not keep using it
    folder = write_char_bert(tmp_path / "mood_encoder", ["가나다"])
    old, _ = emotion_predictor.base_encoder(str(folder), "cpu")
    assert emotion_predictor.base_encoder(str(folder), "cpu")[0] is old  # unchanged: loaded once
    write_char_bert(folder, ["가나다"])
    config = folder / "config.json"
    later = config.stat().st_mtime_ns + 10**9
    os.utime(config, ns=(later, later))
    assert emotion_predictor.base_encoder(str(folder), "cpu")[0] is not old
