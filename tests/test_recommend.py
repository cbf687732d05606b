"""Behaviour of recommend.py on small synthetic catalogues: python -m pytest -q tests/test_recommend.py"""

import json
import sys
import types
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import COLUMNS, write_song_vectors

from moodpipe.cli import run_cli
from moodpipe.context import RunContext
from moodpipe.files import InputError
from moodpipe.recommend import catalogue, representations, retrieval_scores
from moodpipe.recommend.evaluation import half_split_recall_at_k
from moodpipe.recommend.queries import RecommendConfig, recommend
from moodpipe.recommend.topk import normalize_rows, topk_cosine, topk_cosine_faiss
from recommend import main

TITLES = ["눈물", "눈물의 바다", "봄날", "사랑했지만", "비", "밤편지", "좋은 날", "Tell Me", "거짓말", "Gee",
          "벚꽃 엔딩", "너의 의미", "첫눈처럼", "이별택시", "소주 한 잔", "여수 밤바다", "점점", "하루", "바람", "꽃"]


def write_songs(folder: Path, probs: np.ndarray | None = None, artists: list[str] | None = None) -> Path:
    """A song_emotions.csv like lyrics_emotion.py writes: metadata, emo: columns, major: sums."""
    return write_song_vectors(folder, TITLES, artists or [f"가수{i % 7}" for i in range(len(TITLES))], probs)


def records(result: dict) -> list[dict]:
    return result["table"].to_dict("records")


@pytest.fixture
def out(tmp_path: Path) -> Path:
    write_songs(tmp_path)
    return tmp_path


def test_song_itself_comes_first_with_similarity_1(out):
    rows = records(recommend(RunContext(out), RecommendConfig(song="봄날", include_self=True)))
    assert rows[0]["song"] == "봄날" and rows[0]["similarity"] == pytest.approx(1.0)
    rows = records(recommend(RunContext(out), RecommendConfig(song="봄날")))
    assert "봄날" not in [r["song"] for r in rows] and len(rows) == 10


@pytest.mark.parametrize("representation", ["raw", "centered", "zscore", "log", "major6"])
def test_results_are_ranked_by_cosine(out, representation):
    rows = records(recommend(RunContext(out), RecommendConfig(song="비", representation=representation, top=19)))
    sims = [r["similarity"] for r in rows]
    assert sims == sorted(sims, reverse=True)
    if representation == "centered":  # against a by-hand cosine of mean-centred vectors
        x = pd.read_csv(out / "results" / "song_emotions.csv")[COLUMNS].to_numpy()
        x = x - x.mean(axis=0)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        cos = x @ x[TITLES.index("비")]
        expected = [TITLES[j] for j in np.argsort(-cos, kind="stable") if TITLES[j] != "비"]
        assert [r["song"] for r in rows] == expected
        assert np.allclose(sims, np.sort(cos)[::-1][1:], atol=1e-4)
    assert all(r["shared_emotions"] for r in rows[:3])  # every top match says which emotions it shares


def test_identical_vectors_tie_stably():
    rng = np.random.default_rng(1)
    items = rng.random((30, 5))
    items[[4, 9, 17, 25]] = items[2]  # five copies of one vector
    for block_items in (None, 1, 6, 10):  # ties inside one chunk and across chunks
        idx, sims = topk_cosine(items[[2]], items, 3, block_items=block_items)
        assert idx.tolist() == [[2, 4, 9]] and np.allclose(sims, 1.0)
        idx, _ = topk_cosine(items[[2]], items, 6, block_items=block_items)
        assert idx[0, :5].tolist() == [2, 4, 9, 17, 25]


@pytest.mark.parametrize("bad", ["zero", "nan"])
def test_zero_or_nan_vector_is_rejected_naming_the_song(tmp_path, bad):
    probs = np.random.default_rng(0).dirichlet(np.ones(len(COLUMNS)), size=len(TITLES))
    probs[TITLES.index("밤편지")] = 0.0 if bad == "zero" else np.nan
    write_songs(tmp_path, probs)
    with pytest.raises(InputError, match="밤편지"):
        recommend(RunContext(tmp_path), RecommendConfig(song="봄날"))


def test_unknown_title_suggests_close_titles_and_exits_2(out, capsys):
    with pytest.raises(SystemExit) as e:
        run_cli(main, ["--song", "눈믈의 바다", "--out", str(out)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "no song titled" in err and "눈물의 바다" in err


def test_title_match_ignores_case_and_spaces(out):
    rows = records(recommend(RunContext(out), RecommendConfig(song="tell me", include_self=True)))
    assert rows[0]["song"] == "Tell Me"


def test_blocked_topk_equals_brute_force():
    rng = np.random.default_rng(2)
    queries, items = rng.normal(size=(40, 8)), rng.normal(size=(300, 8))
    cos = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ \
        (items / np.linalg.norm(items, axis=1, keepdims=True)).T
    for block_rows, block_items in ((1, None), (7, 13), (None, 4), (None, None)):
        idx, sims = topk_cosine(queries, items, 10, block_rows=block_rows, block_items=block_items)
        assert np.array_equal(idx, np.argsort(-cos, axis=1, kind="stable")[:, :10])
        assert np.allclose(sims, -np.sort(-cos, axis=1)[:, :10])
    # exclusions and a mask are the same as removing those items by hand
    keys, mask = np.arange(300) % 5, np.arange(300) % 3 != 0
    idx, _ = topk_cosine(queries, items, 10, block_rows=7, block_items=13, item_mask=mask,
                         exclude_same=[(np.arange(40) % 5, keys)])
    masked = np.where(mask[None, :] & ((np.arange(40) % 5)[:, None] != keys[None, :]), cos, -np.inf)
    assert np.array_equal(idx, np.argsort(-masked, axis=1, kind="stable")[:, :10])


def test_faiss_index_agrees_with_blocked():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(3)
    queries, items = rng.normal(size=(20, 6)), rng.normal(size=(200, 6))
    keys = np.arange(200) % 4
    for kwargs in ({}, {"item_mask": np.arange(200) % 2 == 0, "exclude_same": [(np.arange(20) % 4, keys)]}):
        a, sa = topk_cosine(queries, items, 5, **kwargs)
        b, sb = topk_cosine_faiss(queries, items, 5, **kwargs)
        assert np.array_equal(a, b) and np.allclose(sa, sb, atol=1e-5)


def test_half_split_recall_on_a_toy_case():
    a = np.eye(4)
    b = np.eye(4)[[0, 1, 3, 2]]  # songs 2 and 3 swapped their second halves
    assert half_split_recall_at_k(a, b, k=1, representation="raw") == 0.5
    assert half_split_recall_at_k(a, b, k=2, representation="raw") == 0.5  # the tie at 0 goes to row 0, not own
    assert half_split_recall_at_k(a, b, k=4, representation="raw") == 1.0
    assert half_split_recall_at_k(a, a + 0.01, k=1, representation="centered") == 1.0


def test_evaluate_halves_writes_json(tmp_path):
    rng = np.random.default_rng(4)
    song = rng.dirichlet(np.full(len(COLUMNS), 0.3), size=30)
    halves = [pd.DataFrame(np.clip(song + rng.normal(0, 0.01, song.shape), 1e-4, None), columns=COLUMNS)
              .assign(song_id=range(30), half=h) for h in ("a", "b")]
    path = tmp_path / "halves.csv"
    pd.concat(halves)[["song_id", "half", *COLUMNS]].to_csv(path, index=False)
    main(["--evaluate-halves", str(path), "--out", str(tmp_path)])
    result = json.loads((tmp_path / "results" / "representation_eval.json").read_text(encoding="utf-8"))
    assert set(result["recall_at_10"]) == {"raw", "centered", "zscore", "log", "major6"}
    assert result["recall_at_10"]["centered"] > 0.9 and result["n_songs"] == 30
    # halves equal to their song, the b rows shuffled: each half finds its other half first, in every space,
    # if and only if halves are paired by song_id and not by row
    exact = [pd.DataFrame(song, columns=COLUMNS).assign(song_id=range(30), half=h) for h in ("a", "b")]
    exact[1] = exact[1].sample(frac=1, random_state=0)
    pd.concat(exact)[["song_id", "half", *COLUMNS]].to_csv(path, index=False)
    recall = main(["--evaluate-halves", str(path), "--out", str(tmp_path), "--top", "1"])["recall_at_1"]
    assert recall == dict.fromkeys(["raw", "centered", "zscore", "log", "major6"], 1.0)


@pytest.mark.parametrize("fmt", ["csv", "json", "md"])
def test_format_writes_files(out, fmt):
    result = main(["--song", "하루", "--out", str(out), "--format", fmt, "--top", "5"])
    path = out / "results" / f"query.{fmt}"  # a single query's table; the catalogue's stay untouched
    text = path.read_text(encoding="utf-8")
    table = result["table"]
    assert table.song_id.tolist() == ranked_by_hand(out, "하루", "log")[:5]  # the default space for these vectors
    if fmt == "csv":  # the table itself, every column
        written = pd.read_csv(path, dtype={"song_id": str, "query_song_id": str}, keep_default_na=False)
        assert written.song_id.tolist() == table.song_id.tolist()
        assert written.similarity.tolist() == table.similarity.tolist()
        assert written.shared_emotions.tolist() == table.shared_emotions.tolist()
    elif fmt == "json":
        rows = json.loads(text)["rows"]
        assert [(r["song"], r["similarity"], r["shared_emotions"]) for r in rows] == list(
            zip(table.song, table.similarity, table.shared_emotions, strict=True))
    else:  # one line per song, in rank order
        assert text.startswith("_Similarity: cosine") and "\n### '하루'" in text and text.count("\n| ") == 6
        lines = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]
        assert [line.split("|")[1].strip() for line in lines] == [str(r) for r in range(1, 6)]
        assert all(song in line for song, line in zip(table.song, lines, strict=True))
    assert not (out / "results" / "heatmap_songs.csv").exists()
    assert not (out / "results" / f"recommendations.{fmt}").exists()


def ranked_by_hand(out: Path, title: str, representation: str) -> list[str]:
    """song_ids of the catalogue by cosine to `title` in `representation` (log or centered), best first, the
    song itself left out; computed here with numpy, ties to the lower row."""
    df = pd.read_csv(out / "results" / "song_emotions.csv")
    x = df[COLUMNS].to_numpy()
    x = np.log(np.clip(x, 1e-6, None)) if representation == "log" else x
    x = x - x.mean(axis=0)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    me = df.index[df.song_name == title][0]
    cos = x @ x[me]
    return [str(df.song_id[j]) for j in np.argsort(-cos, kind="stable") if j != me]


def test_queries_leave_catalogue_outputs_untouched(out):
    main(["--all", "--out", str(out), "--top", "3"])
    saved = {name: (out / "results" / name).read_bytes() for name in ("heatmap_songs.csv", "recommendations.csv")}
    heatmap = pd.read_csv(out / "results" / "heatmap_songs.csv")
    assert heatmap.shape == (10, 12) and np.allclose(np.diag(heatmap.iloc[:, 2:].to_numpy()), 1.0)
    main(["--song", "하루", "--out", str(out), "--format", "csv", "--seed", "7"])
    main(["--emotion", "슬픔", "--out", str(out)])
    assert {name: (out / "results" / name).read_bytes() for name in saved} == saved


def test_the_saved_representation_is_the_default_everywhere(out):
    (out / "results" / "representation.json").write_text(json.dumps({"representation": "zscore"}))
    saved = main(["--song", "하루", "--out", str(out)])
    assert saved["representation"] == "zscore"
    explicit = main(["--song", "하루", "--out", str(out), "--representation", "zscore"])
    assert records(saved) == records(explicit)
    assert main(["--song", "하루", "--out", str(out), "--representation", "raw"])["representation"] == "raw"


def test_all_songs_writes_a_table_for_every_song(out):
    result = main(["--all", "--out", str(out), "--top", "3"])
    table = pd.read_csv(result["outputs"]["recommendations"], dtype={"song_id": str, "query_song_id": str})
    assert len(table) == 3 * len(TITLES)
    ids = pd.read_csv(out / "results" / "song_emotions.csv").song_id.astype(str).tolist()
    assert table.query_song_id.tolist() == [i for i in ids for _ in range(3)]  # catalogue order, 3 rows each
    assert table["rank"].tolist() == [1, 2, 3] * len(TITLES)
    for title, song_id in zip(TITLES, ids, strict=True):  # each song's rows: its own 3 nearest, never itself
        assert table.song_id[table.query_song_id == song_id].tolist() == ranked_by_hand(out, title, "log")[:3]


def test_exclude_same_artist(tmp_path):
    artists = ["아이유" if i < 6 else f"가수{i}" for i in range(len(TITLES))]
    probs = np.random.default_rng(5).dirichlet(np.full(len(COLUMNS), 0.5), size=len(TITLES))
    probs[:6] = probs[0] + np.random.default_rng(6).uniform(0, 0.01, (6, len(COLUMNS)))  # her songs are alike
    write_songs(tmp_path, probs, artists)
    ctx, cfg = RunContext(out=tmp_path), RecommendConfig(song=TITLES[0], top=5)
    assert [r["artist"] for r in records(recommend(ctx, cfg))][:5] == ["아이유"] * 5
    rows = records(recommend(ctx, replace(cfg, exclude_same_artist=True)))
    assert len(rows) == 5 and "아이유" not in [r["artist"] for r in rows]


def test_year_filter(out):
    rows = records(recommend(RunContext(out), RecommendConfig(song="눈물", year_from=2005, year_to=2009)))
    assert sorted(r["year"] for r in rows) == [2005, 2006, 2007, 2008, 2009]


def test_emotion_profile_query(out):
    rows = records(recommend(RunContext(out), RecommendConfig(emotions=["슬픔", "외로운"], top=len(TITLES))))
    x = pd.read_csv(out / "results" / "song_emotions.csv").set_index("song_name")
    # by hand: each asked emotion's mass over its catalogue average, summed (슬픔: its 3 columns; 외로운: one)
    sad, lonely = x["major:슬픔"], x["emo:슬픔/외로운"]
    strength = sad / sad.mean() + lonely / lonely.mean()
    assert [r["song"] for r in rows] == strength.sort_values(ascending=False, kind="stable").index.tolist()
    top = rows[0]["song"]
    assert rows[0]["shared_emotions"] == (f"슬픔 {100 * sad[top]:.1f}% (average {100 * sad.mean():.1f}%), "
                                          f"외로운 {100 * lonely[top]:.1f}% (average {100 * lonely.mean():.1f}%)")
    with pytest.raises(InputError, match="valid names: 기쁨, 분노, 슬픔"):
        recommend(RunContext(out), RecommendConfig(emotions=["그리움"]))


def test_text_query_uses_the_emotion_model(out, monkeypatch):
    fake = types.ModuleType("moodpipe.models.emotion_predictor")
    fake.score_texts = lambda model_dir, texts, runtime, embeddings: np.tile(np.eye(len(COLUMNS))[1],
                                                                             (len(texts), 1))  # 눈물이나는
    monkeypatch.setitem(sys.modules, "moodpipe.models.emotion_predictor", fake)
    (out / "saved_model" / "emotion").mkdir(parents=True)
    labels = {str(i): c[len("emo:"):] for i, c in enumerate(COLUMNS)}
    (out / "saved_model" / "emotion" / "config.json").write_text(json.dumps({"id2label": labels}))
    rows = records(recommend(RunContext(out), RecommendConfig(text="비 오는 날 헤어진 연인이 그리워",
                                                representation="centered")))
    assert rows[0]["shared_emotions"].startswith("슬픔/눈물이나는")
    with pytest.raises(InputError, match="saved emotion model"):
        recommend(RunContext(out), RecommendConfig(text="x", model_dir=str(out / "missing")))


def test_emotion_query_ranks_by_the_asked_emotions_and_names_them(out):
    result = recommend(RunContext(out), RecommendConfig(emotions=["슬픔"], top=5))
    rows = records(result)
    x = pd.read_csv(out / "results" / "song_emotions.csv").set_index("song_name")
    sadness = x["major:슬픔"]
    assert [r["song"] for r in rows] == sadness.sort_values(ascending=False, kind="stable").index[:5].tolist()
    assert all(r["shared_emotions"].startswith("슬픔 ") and "average" in r["shared_emotions"] for r in rows)
    assert result["score"] == "strength" and rows[0]["strength"] >= rows[-1]["strength"]


def test_a_loose_title_match_says_which_song_it_used(tmp_path):
    titles = ["사랑 +", "사랑", "사랑해"]
    probs = np.random.default_rng(1).dirichlet(np.full(len(COLUMNS), 0.5), size=len(TITLES))
    write_songs(tmp_path, probs)
    df = pd.read_csv(tmp_path / "results" / "song_emotions.csv")
    df.loc[:2, "song_name"] = titles
    df.to_csv(tmp_path / "results" / "song_emotions.csv", index=False)
    exact = recommend(RunContext(tmp_path), RecommendConfig(song="사랑"))
    assert exact["table"]["query"].iloc[0].startswith("'사랑' -")  # the exact title wins over '사랑 +'
    assert "other candidates: '사랑 +'" in exact["note"]
    loose = recommend(RunContext(tmp_path), RecommendConfig(song="사랑해 "))
    assert loose["note"] == ""  # exact apart from spaces: nothing to say
    df.loc[1, "song_name"] = "다른 노래"
    df.to_csv(tmp_path / "results" / "song_emotions.csv", index=False)
    loose = recommend(RunContext(tmp_path), RecommendConfig(song="사랑"))
    assert loose["note"].startswith("using '사랑 +'") and "without case, spaces and punctuation" in loose["note"]


def test_a_title_in_the_lyrics_file_but_not_scored_says_how_to_score_it(out, tmp_path):
    lyrics = tmp_path / "lyrics.csv"
    pd.DataFrame({"song_id": [1, 2, 3], "song_name": ["인생찬가", "빈 노래", "봄날"],
                  "lyrics": ["삶은 아름다워", "", "봄"]}).to_csv(lyrics, index=False)
    (out / "results" / "song_emotions.json").write_text(json.dumps(
        {"lyrics": str(lyrics), "songs_read": 1, "skipped_song_ids": [2]}))
    with pytest.raises(InputError, match=r"'인생찬가' is in .*not scored.*lyrics_emotion.py score --lyrics"):
        recommend(RunContext(out), RecommendConfig(song="인생찬가"))
    with pytest.raises(InputError, match="lyrics are empty"):
        recommend(RunContext(out), RecommendConfig(song="빈 노래"))
    with pytest.raises(InputError, match="no song titled 'nothing like it'"):
        recommend(RunContext(out), RecommendConfig(song="nothing like it"))


# ----------------------------------------------------------------------------- embedding spaces and evaluation

def write_embeddings(out: Path, generic: np.ndarray) -> None:
    ids = np.array(pd.read_csv(out / "results" / "song_emotions.csv").song_id.astype(str).tolist())
    np.savez(out / "results" / "song_emotions.embeddings.npz", song_id=ids, generic=generic,
             features=generic[:, ::-1].copy(), halves_song_id=np.array([], str), halves_half=np.array([], str))


def test_generic_space_ranks_by_the_saved_embeddings_and_explains_with_emotions(out):
    n = len(pd.read_csv(out / "results" / "song_emotions.csv"))
    generic = np.random.default_rng(1).normal(size=(n, 8))
    generic[3] = generic[0] + 0.01  # song 3 is song 0's twin in the embedding, whatever its emotions
    write_embeddings(out, generic)
    result = recommend(RunContext(out), RecommendConfig(song_id="1000", representation="generic"))
    rows = records(result)
    centred = normalize_rows(generic - generic.mean(0))
    assert rows[0]["song_id"] == "1003" and rows[0]["similarity"] == pytest.approx(centred[0] @ centred[3], abs=1e-4)
    emotion_names = {catalogue.readable(c) for c in COLUMNS}
    assert all(r["shared_emotions"].removeprefix("low ").split(" ")[0] in emotion_names
               for r in rows if r["shared_emotions"])


def test_a_representation_the_vectors_lack_names_the_ones_they_have(out):
    with pytest.raises(InputError, match=r"needs `features` vectors.*it has: raw, centered, zscore, log, major6\b"):
        recommend(RunContext(out), RecommendConfig(song="봄날", representation="features"))


def test_hybrid_with_all_weight_on_one_part_ranks_like_that_part(out):
    n = len(pd.read_csv(out / "results" / "song_emotions.csv"))
    catalogue = {"probs": np.random.default_rng(2).dirichlet(np.ones(4), size=n),
                 "generic": np.random.default_rng(3).normal(size=(n, 6))}
    columns = ["emo:a/x", "emo:a/y", "emo:b/z", "emo:b/w"]
    for weight, part in ((1.0, "generic"), (0.0, "log")):
        hybrid = representations.fit_space(catalogue, columns, "hybrid",
                                           representations.Hybrid("generic", weight, "log"))(catalogue)
        alone = normalize_rows(representations.fit_space(catalogue, columns, part)(catalogue))
        h = normalize_rows(hybrid)
        assert np.allclose(h @ h.T, alone @ alone.T, atol=1e-9)  # same cosines, so the same ranking


def test_precision_at_k_is_right_on_a_toy_set_with_a_known_answer():
    rng = np.random.default_rng(0)
    centres = np.eye(3) * 10
    x = np.vstack([centres[c] + rng.normal(size=(20, 3)) for c in range(3)])  # three tight, far-apart clusters
    y = np.repeat([0, 1, 2], 20)
    assert retrieval_scores.precision_at_k(x, y, k=10) == 1.0
    assert retrieval_scores.precision_at_k(x, np.tile([0, 1], 30), k=10) < 0.7  # labels unrelated to the clusters
    assert retrieval_scores.chance_precision(y) == pytest.approx(19 / 59)  # 19 same-label others out of 59
    multi = np.zeros((60, 3))
    multi[np.arange(60), y] = 1
    multi[:20, 2] = 1  # the first cluster also carries label 2: it shares a label with the third cluster too
    idx = retrieval_scores.neighbours(x, 10)
    assert idx.shape == (60, 10) and not (idx == np.arange(60)[:, None]).any()  # never itself
    assert retrieval_scores.precision_at_k(x, multi, k=10) == 1.0


def test_tfidf_space_keeps_the_cosines_of_the_centred_dense_vectors():
    from sklearn.feature_extraction.text import TfidfVectorizer
    train = ["aa bb cc", "bb cc dd", "cc dd ee", "aa aa bb", "ee ff gg", "ff gg aa"] * 3
    texts = ["aa bb", "cc dd ee", "ff gg", "aa bb cc dd", "gg ee", "zz"]  # the last: no known word
    dense = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True).fit(train).transform(texts).toarray()
    centred = dense - dense.mean(axis=0)
    factored = retrieval_scores.tfidf_space(train, texts, "word")
    assert factored.shape == (len(texts), len(texts))
    assert np.allclose(factored @ factored.T, centred @ centred.T, atol=1e-5)
