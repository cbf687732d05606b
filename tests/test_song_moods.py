"""The song-mood evaluation and the default chosen on it, the parts that need no model:

    python -m pytest -q tests/test_song_moods.py
"""

from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest

from moodpipe.files import InputError
from moodpipe.recommend.evaluation import choice_table, choose_default
from moodpipe.recommend.representations import (
    DEFAULT_HYBRID,
    Hybrid,
    candidates,
    fit_space,
    hybrid_for,
    needs,
    save_representation,
    saved_representation,
)
from moodpipe.recommend.song_moods import (
    find_song_moods,
    held_out_choice,
    lyrics_analyzer,
    mood_agreement,
    read_song_moods,
)


def test_mood_agreement_on_clusters_with_a_known_answer():
    # three tight clusters of four songs; one song of each cluster carries another mood
    rng = np.random.default_rng(0)
    centres = np.eye(3) * 10
    x = np.repeat(centres, 4, axis=0) + rng.normal(scale=0.01, size=(12, 3))
    moods = np.array(["sad", "sad", "sad", "happy", "happy", "happy", "happy", "angry",
                      "angry", "angry", "angry", "sad"])
    # k=3 means the rest of the cluster: the 9 songs in the majority find 2 of 3 alike, the 3 odd ones 0 of 3
    assert mood_agreement(x, moods, k=3) == pytest.approx((9 * 2 / 3) / 12)
    assert mood_agreement(x, np.repeat(["a", "b", "c"], 4), k=3) == 1.0


def write(path, frame: pd.DataFrame):
    frame.to_csv(path, index=False)
    return path


def test_a_mood_csv_with_other_columns_is_a_one_line_error(tmp_path):
    path = write(tmp_path / "m.csv", pd.DataFrame({"id": range(20), "text": ["la"] * 20, "label": ["sad"] * 20}))
    with pytest.raises(InputError, match="needs song_id, lyrics, mood") as error:
        read_song_moods(path)
    assert "\n" not in str(error.value)


def test_songs_without_lyrics_are_left_out_and_repeats_refused(tmp_path):
    frame = pd.DataFrame({"song_id": range(14), "lyrics": ["la la"] * 12 + ["", None],
                          "mood": ["sad", "happy"] * 7})
    assert len(read_song_moods(write(tmp_path / "a.csv", frame))) == 12
    with pytest.raises(InputError, match="song_id repeated: 3"):
        read_song_moods(write(tmp_path / "b.csv", frame.assign(song_id=[*range(13), 3])))
    with pytest.raises(InputError, match="at least 2 moods"):
        read_song_moods(write(tmp_path / "c.csv", frame.assign(mood="sad")))


def test_the_default_mood_csv_is_found_in_the_data_directory(tmp_path):
    assert find_song_moods(tmp_path) is None
    (tmp_path / "song_moods").mkdir()
    write(tmp_path / "song_moods" / "mine.csv", pd.DataFrame({"song_id": [1], "lyrics": ["x"], "mood": ["sad"]}))
    assert find_song_moods(tmp_path) == tmp_path / "song_moods" / "mine.csv"


def test_korean_lyrics_get_character_ngrams():
    assert lyrics_analyzer(pd.Series(["비 오는 날 헤어진 연인이 그리워"])) == "char"
    assert lyrics_analyzer(pd.Series(["rain falls on the city tonight"])) == "word"


# ----------------------------------------------------------------------------- the default, chosen on songs

def evaluation_with(scores: dict[str, tuple[float, float, float]]) -> dict:
    """A retrieval evaluation whose candidates score (AI-Hub validation P@10 major, half-split recall, song moods)."""
    return {"aihub": {"candidates_validation_major": {k: v[0] for k, v in scores.items()}},
            "halves": {"candidates": {k: v[1] for k, v in scores.items()}},
            "song_moods": {"Korean": {"n_songs": 40, "candidates": {k: v[2] for k, v in scores.items()}}}}


def test_the_default_is_the_best_on_songs_among_those_keeping_both_floors():
    choice = choose_default(evaluation_with({
        "features": (0.62, 0.37, 0.36),
        "mood": (0.39, 0.63, 0.44),  # best on songs, but loses the dialogues' major class: not eligible
        "hybrid 0.3 mood + 0.7 features": (0.58, 0.40, 0.41),  # the answer
        "hybrid 0.5 mood + 0.5 features": (0.56, 0.34, 0.43),  # under the recall floor
    }))
    assert choice["candidate"] == "hybrid 0.3 mood + 0.7 features"
    assert choice["representation"] == "hybrid"
    assert Hybrid(**choice["hybrid"]) == Hybrid("mood", 0.3, "features")
    assert "2 of them keeping" in choice["chosen_by"] and "Korean model" in choice["chosen_by"]
    assert choose_default(evaluation_with({"features": (0.62, 0.37, 0.36)}))["hybrid"] is None


def test_the_held_out_figure_scores_each_song_by_a_default_chosen_without_it():
    """`lucky` beats `steady` in-sample through one song alone. Chosen on the other folds it wins only where that
    song trains the choice, and then scores 0.45 on the held-out songs: the held-out figure is below both
    in-sample means, and its exact value follows from the folds."""
    from sklearn.model_selection import StratifiedKFold
    moods = np.array(["sad", "happy"] * 10)
    steady = np.full(20, 0.5)
    lucky = np.full(20, 0.45)
    lucky[0] = 1.6  # one song lifts its mean to 0.5075 > 0.5 in-sample
    per_song = {"steady": steady, "lucky": lucky, "generic": np.full(20, 0.4)}
    held = held_out_choice(per_song, moods, ["steady", "lucky"], folds=5, seed=3)
    expected, picks = np.zeros(20), []
    for train, test in StratifiedKFold(5, shuffle=True, random_state=3).split(np.zeros(20), moods):
        best = "lucky" if lucky[train].mean() > steady[train].mean() else "steady"
        picks.append(best)
        expected[test] = per_song[best][test]
    assert held["chosen_per_fold"] == picks and picks.count("lucky") == 4  # chosen wherever song 0 trains it
    assert held["agreement"] == round(expected.mean(), 4) == 0.46
    assert held["generic"] == 0.4 and held["minus_generic"] == 0.06
    assert held["ci95"][0] <= held["agreement"] <= held["ci95"][1]


def test_no_choice_when_no_candidate_keeps_the_floors_or_a_part_did_not_run():
    assert choose_default(evaluation_with({"mood": (0.39, 0.63, 0.44), "log": (0.54, 0.43, 0.37)})) is None
    partial = evaluation_with({"features": (0.62, 0.37, 0.36)})
    del partial["song_moods"]
    assert choose_default(partial) is None


def test_on_kote_without_aihub_the_recall_floor_alone_guards_the_choice():
    """A run on KOTE has no AI-Hub validation set: the songs still choose, among candidates keeping the recall floor."""
    kote = evaluation_with({"mood": (0.0, 0.63, 0.44), "features": (0.0, 0.58, 0.43), "log": (0.0, 0.16, 0.45)})
    del kote["aihub"]
    choice = choose_default(kote)
    assert choice["candidate"] == "mood"  # `log` is best on songs but finds a song's other half too rarely
    assert "2 of them keeping half-split recall@10 >= 0.35 (" in choice["chosen_by"]
    assert choice["candidates"]["mood"]["aihub_val_major"] is None
    assert "| **mood** | - | 0.6300 | 0.4400 | - | yes |" in choice_table(choice)


def test_a_hybrid_of_two_embeddings_mixes_their_cosines():
    rng = np.random.default_rng(1)
    cat = {"probs": rng.dirichlet(np.ones(3), 6), "mood": rng.normal(size=(6, 4)), "features": rng.normal(size=(6, 5))}
    columns = ["emo:a/x", "emo:b/y", "emo:c/z"]

    def cosines(x):
        u = x / np.linalg.norm(x, axis=1, keepdims=True)
        return u @ u.T

    mixed = cosines(fit_space(cat, columns, "hybrid", Hybrid("mood", 0.3, "features"))(cat))
    parts = [cosines(fit_space(cat, columns, name)(cat)) for name in ("mood", "features")]
    assert np.allclose(mixed, 0.3 * parts[0] + 0.7 * parts[1])
    assert needs("hybrid", Hybrid("mood", 0.3, "features")) == ["mood", "features"]
    assert "hybrid 0.3 mood + 0.7 features" in candidates(cat)


def test_the_chosen_mixture_is_saved_beside_the_vectors_and_read_back(tmp_path):
    vectors = tmp_path / "song_emotions.csv"
    assert hybrid_for(vectors) == DEFAULT_HYBRID  # nothing saved: the built-in default
    choice = {"representation": "hybrid", "hybrid": asdict(Hybrid("mood", 0.3, "features")), "chosen_by": "songs"}
    assert save_representation(vectors, {"k": 10, "recall_at_10": {"log": 0.4}, "n_songs": 20}, choice) == "hybrid"
    assert saved_representation(vectors) == "hybrid"
    assert hybrid_for(vectors) == Hybrid("mood", 0.3, "features")
