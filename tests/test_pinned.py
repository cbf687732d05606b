"""Behaviour pinned to values worked out independently, as minbpe's tests pin tokens against a reference:
Architecture 2's pooled vector against one computed by hand from an encoder deep enough to have a
hidden_states[-4], and the neighbours, scores and shared emotions of a four-song catalogue whose cosines can
be worked out on paper.

    python -m pytest -q tests/test_pinned.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import BertConfig, BertModel

import recommend
from moodpipe.models.heads import build_emotion_model
from moodpipe.recommend.topk import topk_cosine

# ----------------------------------------------------------------------------- Architecture 2 on a deep encoder

DEEP_LAYERS = 6  # hidden_states: the embeddings and 6 layers, so [-4] is the output of layer 3, not a fallback
LABELS = ["기쁨/기쁨", "분노/분노", "슬픔/슬픔"]
MIX = (0.9, -0.4, 0.7)  # unequal weights: swapping two of the three vectors changes the pooled vector
MIX_BIAS = 0.05


@pytest.fixture(scope="module")
def deep_encoder(tmp_path_factory) -> Path:
    """A random 6-layer BERT (hidden 16), seeded, saved like a pretrained one. Its weights are drawn wider than
    BERT's default (std 0.2, not 0.02), so that, as in a trained encoder, each layer's states differ from the
    next one's; at 0.02 every layer adds almost nothing and all layers' CLS vectors nearly coincide."""
    folder = tmp_path_factory.mktemp("deep_bert")
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=DEEP_LAYERS, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=32,
                         initializer_range=0.2)).save_pretrained(folder)
    return folder


def arch2_model(encoder: Path):
    model = build_emotion_model(str(encoder), "arch2", LABELS).eval()
    with torch.no_grad():
        model.mix.weight.copy_(torch.tensor(MIX).view(1, 3, 1))
        model.mix.bias.fill_(MIX_BIAS)
    return model


def hidden_states(encoder: Path, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Every layer's token states from the saved encoder, loaded on its own (not through the head)."""
    bert = BertModel.from_pretrained(encoder).eval()
    with torch.no_grad():
        return bert(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states


def arch2_by_hand(states: tuple[torch.Tensor, ...], mask: torch.Tensor, layer: int = -4) -> torch.Tensor:
    """ReLU(w0 * last-layer CLS + w1 * CLS of hidden_states[layer] + w2 * mean of the last layer over the
    real tokens + b)."""
    last = states[-1]
    real = mask.unsqueeze(-1).to(last.dtype)
    mean = (last * real).sum(dim=1) / real.sum(dim=1)
    return torch.relu(MIX[0] * last[:, 0] + MIX[1] * states[layer][:, 0] + MIX[2] * mean + MIX_BIAS)


BATCH = torch.tensor([[2, 7, 8, 9, 3, 0, 0, 0], [2, 10, 11, 12, 13, 14, 15, 3]])
BATCH_MASK = (torch.arange(8) < torch.tensor([[5], [8]])).long()


def test_arch2_reads_the_cls_of_hidden_states_minus_4_on_a_deep_encoder(deep_encoder):
    model = arch2_model(deep_encoder)
    with torch.no_grad():
        logits, features = model.logits_and_features(BATCH, BATCH_MASK)
    states = hidden_states(deep_encoder, BATCH, BATCH_MASK)
    assert len(states) == DEEP_LAYERS + 1
    expected = arch2_by_hand(states, BATCH_MASK)
    torch.testing.assert_close(features, expected)
    torch.testing.assert_close(logits, expected @ model.classifier.weight.T + model.classifier.bias)
    # the reference tells the layers apart: any other layer's CLS gives another pooled vector
    for other in (-1, -2, -3, -5, 0):
        assert (arch2_by_hand(states, BATCH_MASK, other) - expected).abs().max() > 0.1, other


def test_arch2_on_a_deep_encoder_ignores_pad_positions(deep_encoder):
    model = arch2_model(deep_encoder)
    changed = BATCH.clone()
    changed[0, 5:] = torch.tensor([20, 21, 22])  # other token ids where attention_mask is 0
    with torch.no_grad():
        (a_logits, a), (b_logits, b) = (model.logits_and_features(ids, BATCH_MASK) for ids in (BATCH, changed))
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    torch.testing.assert_close(a_logits, b_logits, rtol=0, atol=1e-6)
    torch.testing.assert_close(a, arch2_by_hand(hidden_states(deep_encoder, changed, BATCH_MASK), BATCH_MASK))


# ----------------------------------------------------------------------------- a four-song catalogue

# Four emotions of three major classes; each row sums to 1. The query is 비; by hand, in the raw space:
#   |비| = sqrt(0.5),  비 . 눈물 = 0.4,  비 . 봄날 = 0.05,  비 . 분노의 밤 = 0.1
#   cos(비, 눈물)      = 0.4  / (sqrt(0.5) sqrt(0.44))  = 0.852803
#   cos(비, 분노의 밤) = 0.1  / (sqrt(0.5) sqrt(0.425)) = 0.216930
#   cos(비, 봄날)      = 0.05 / (sqrt(0.5) sqrt(0.82))  = 0.078087
# so 분노의 밤 ranks above 봄날, against catalogue order. Shares of the cosine: 눈물 gets 0.3 of its 0.4 from
# 슬픔 (75%) and 0.1 from 외로운 (25%); 분노의 밤 0.075 of 0.1 from 외로운, 0.025 from 슬픔; 봄날 all from 슬픔.
EMOTIONS = ["emo:슬픔/슬픔", "emo:슬픔/외로운", "emo:기쁨/기쁨", "emo:분노/분노"]
SONGS = {"비": [0.5, 0.5, 0.0, 0.0], "눈물": [0.6, 0.2, 0.2, 0.0], "봄날": [0.1, 0.0, 0.9, 0.0],
         "분노의 밤": [0.05, 0.15, 0.2, 0.6]}
EXPECTED = {  # representation -> [(song, shared emotions)], best first
    "raw": [("눈물", "슬픔 75%, 슬픔/외로운 25%"), ("분노의 밤", "슬픔/외로운 75%, 슬픔 25%"), ("봄날", "슬픔 100%")],
    # centred on the catalogue mean (0.3125, 0.2125, 0.325, 0.15): 비 sits below it in 기쁨 and 분노, and so do
    # 눈물 (both), 분노의 밤 (기쁨) and 봄날 (분노); shares 46.06%, 34.71%, 19.23% for 눈물
    "centered": [("눈물", "슬픔 46%, low 기쁨 35%, low 분노 19%"), ("분노의 밤", "low 기쁨 100%"),
                 ("봄날", "low 분노 100%")],
}


def write_four_songs(out: Path) -> np.ndarray:
    """<out>/results/song_emotions.csv in the score stage's format: metadata, emo: columns, major: sums."""
    probs = np.array(list(SONGS.values()))
    df = pd.DataFrame({"song_id": [11, 12, 13, 14], "song_name": list(SONGS), "artist": ["가수 A", "가수 B", "가수 C",
                                                                                          "가수 D"],
                       "album": "앨범", "release_date": ["2001.03.01", "2002.05.01", "2003.07.01", "2004.09.01"],
                       "genre": "발라드", "n_chunks": 2, "n_tokens": 40})
    for j, column in enumerate(EMOTIONS):
        df[column] = probs[:, j]
    for major in ("슬픔", "기쁨", "분노"):  # sums the ranking must not count a second time
        df[f"major:{major}"] = df[[c for c in EMOTIONS if c.startswith(f"emo:{major}/")]].sum(axis=1)
    (out / "results").mkdir(parents=True)
    df.to_csv(out / "results" / "song_emotions.csv", index=False)
    return probs


def cosines_by_hand(x: np.ndarray, query: int) -> np.ndarray:
    unit = x / np.sqrt((x * x).sum(axis=1, keepdims=True))
    return unit @ unit[query]


@pytest.mark.parametrize("representation", ["raw", "centered"])
def test_four_song_catalogue_neighbours_scores_and_shared_emotions(tmp_path, representation):
    probs = write_four_songs(tmp_path)
    space = probs if representation == "raw" else probs - probs.mean(axis=0)
    cos = cosines_by_hand(space, 0)
    if representation == "raw":  # the paper values above
        assert cos[1:].tolist() == pytest.approx([0.852803, 0.078087, 0.216930], abs=1e-6)
    titles = list(SONGS)
    result = recommend.main(["--song", "비", "--out", str(tmp_path), "--representation", representation, "--top", "3"])
    rows = result["table"]
    assert list(zip(rows.song, rows.shared_emotions, strict=True)) == EXPECTED[representation]
    assert rows["rank"].tolist() == [1, 2, 3]
    assert rows.song_id.tolist() == [str(11 + titles.index(song)) for song, _ in EXPECTED[representation]]
    expected_scores = [cos[titles.index(song)] for song, _ in EXPECTED[representation]]
    assert rows.similarity.tolist() == pytest.approx(np.round(expected_scores, 4).tolist(), abs=1e-9)  # shown to 4 dp
    # the search itself, unrounded
    units = space / np.linalg.norm(space, axis=1, keepdims=True)
    idx, sims = topk_cosine(units[:1], units, 4)
    assert idx.tolist() == [[0, *(titles.index(song) for song, _ in EXPECTED[representation])]]
    np.testing.assert_allclose(sims[0], [1.0, *expected_scores], rtol=0, atol=1e-6)
    # with the query itself allowed, it comes first with similarity 1 and the rest keep their order
    with_self = recommend.main(["--song", "비", "--out", str(tmp_path), "--representation", representation,
                                "--include-self"])["table"]
    assert with_self.song.tolist() == ["비", *(song for song, _ in EXPECTED[representation])]
    assert with_self.similarity.iloc[0] == 1.0
