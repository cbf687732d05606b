"""The song-mood evaluation's parts that need no model: python -m pytest -q tests/test_song_moods.py"""

import numpy as np
import pandas as pd
import pytest

from moodpipe.files import InputError
from moodpipe.recommend.song_moods import find_song_moods, lyrics_analyzer, mood_agreement, read_song_moods


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
