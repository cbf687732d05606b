"""The output contract: the names a run's files use for what they hold, defined once. metrics.json, the song
vectors, the retrieval evaluation, the figures and every report read and write through these; moodpipe.paths
names the files themselves, moodpipe.recommend.representations the song representations and their one
built-in hybrid mixture (DEFAULT_HYBRID).

Song-vector columns: `emo:<label>` is the probability of one emotion label (AI-Hub labels are `<major>/<sub>`),
`major:<major>` the sum over a major class.

    >>> emotion_column("슬픔/외로운"), major_column("슬픔")
    ('emo:슬픔/외로운', 'major:슬픔')
    >>> emotion_label("emo:슬픔/외로운"), major_label("major:슬픔"), major_label("emo:슬픔/외로운")
    ('슬픔/외로운', '슬픔', None)
"""

from __future__ import annotations

from dataclasses import dataclass

from moodpipe.paths import REBUILD_EMOTION, REBUILD_RECOMMENDATIONS, REBUILD_SENTIMENT, REBUILD_SONG_VECTORS

# ----------------------------------------------------------------------------- splits and neighbours

TRAIN, VAL, TEST = "train", "val", "test"
SPLITS = (TRAIN, VAL, TEST)  # every split a training stage writes, in this order
TOP_K = 10  # neighbours per query: recommend.py's --top, the page's lists, precision@K and recall@K

# ----------------------------------------------------------------------------- song-vector columns

EMOTION_PREFIX = "emo:"
MAJOR_PREFIX = "major:"


def emotion_column(label: str) -> str:
    return f"{EMOTION_PREFIX}{label}"


def major_column(major: str) -> str:
    return f"{MAJOR_PREFIX}{major}"


def is_emotion_column(column: object) -> bool:
    return str(column).startswith(EMOTION_PREFIX)


def is_major_column(column: object) -> bool:
    return str(column).startswith(MAJOR_PREFIX)


def emotion_label(column: str) -> str:
    """The label of an `emo:` column (a name without the prefix is returned as it is)."""
    return column.removeprefix(EMOTION_PREFIX)


def major_label(column: str) -> str | None:
    """The major class a `major:` column sums, else None."""
    return column.removeprefix(MAJOR_PREFIX) if is_major_column(column) else None


# ----------------------------------------------------------------------------- metric keys (metrics.json)

# Scores of one classifier on one split.
ACCURACY = "accuracy"
MACRO_F1 = "macro_f1"
WEIGHTED_F1 = "similarity_weighted_f1"
CONFUSION = "confusion_matrix"
PER_CLASS = "per_class"
BEST_VAL_MACRO_F1 = "best_val_macro_f1"  # the checkpoint chosen on validation
# The Korean model's two label levels: the 60 (major, sub) labels and the 6 major classes. (`major6` is also the
# name of a song representation, the 6 major-class sums: recommend.representations.)
LABELS60 = "labels60"
MAJOR6 = "major6"
# GoEmotions' multi-label scores: 28 labels at the thresholds tuned on dev, at 0.5, and the Ekman groups.
LABELS28_TUNED = "labels28_tuned"
LABELS28_AT_HALF = "labels28_at_0.5"
EKMAN7_TUNED = "ekman7_tuned"
# KOTE's multi-label scores: 44 labels at the thresholds tuned on dev, at 0.5, and our valence groups.
LABELS_TUNED = "labels_tuned"
LABELS_AT_HALF = "labels_at_0.5"
GROUPS_TUNED = "groups_tuned"
# Baselines scored on the same split as the model.
MAJORITY = "majority"
TFIDF_WORDS = "tfidf_logreg"  # word 1-2-grams + logistic regression (reviews)
TFIDF_CHARS = "tfidf_char_logreg"  # character 1-4-grams + logistic regression (Korean)
TFIDF_CHARS_OVR = "tfidf_char_ovr_logreg"  # the same, one-vs-rest for multi-label (KOTE)

# ----------------------------------------------------------------------------- retrieval keys (retrieval_eval.json)

PRECISION_AT_K = "precision_at_k"
RECALL_AT_K = f"recall_at_{TOP_K}"
SONG_MOODS_KOREAN = "song_moods_korean"  # top-K mood agreement on labelled songs, scored by the Korean model
SONG_MOODS_ENGLISH = "song_moods_english"  # the same with the English (GoEmotions) model

# ----------------------------------------------------------------------------- figures (sample_graphs/)


@dataclass(frozen=True)
class Figure:
    """One PNG of sample_graphs/: its file name, what it shows (the page's caption), the command that makes its
    inputs, and its size in inches. moodpipe.report.figures.DRAW holds the function that draws each."""
    name: str
    caption: str
    rebuild: str
    size: tuple[float, float]


HEAD_COMPARISON_FIGURE = "emotion_head_comparison.png"  # drawn only after `lyrics_emotion.py train --compare`
FIGURES = (
    Figure("review_length_distribution.png", "Review lengths in words, negative and positive reviews (sentiment "
           "data).", REBUILD_SENTIMENT, (8, 5)),
    Figure("sentiment_label_distribution.png", "Negative and positive reviews in the train, validation and test "
           "splits.", REBUILD_SENTIMENT, (7, 5)),
    Figure("sentiment_training_curves.png", "Sentiment fine-tuning: loss, validation accuracy and macro-F1 per "
           "epoch.", REBUILD_SENTIMENT, (8, 5)),
    Figure("sentiment_confusion_matrix.png", "Sentiment test set: true labels (rows) against predictions "
           "(columns).", REBUILD_SENTIMENT, (6, 5)),
    Figure("emotion_confusion_matrix_6class.png", "Korean emotion test set, 6 major classes: true (rows) against "
           "predicted.", REBUILD_EMOTION, (8, 7)),
    Figure("emotion_label_similarity_60x60.png", "How alike the model finds the 60 emotion labels (+1 red, -1 "
           "blue).", REBUILD_EMOTION, (14, 13)),
    Figure(HEAD_COMPARISON_FIGURE, "The emotion heads compared on the test set (accuracy and macro-F1).",
           f"{REBUILD_EMOTION} --compare", (10, 5)),
    Figure("song_similarity_heatmap.png", "Cosine similarity of 10 random songs (+1 red, -1 blue; as the heatmap "
           "above).", REBUILD_RECOMMENDATIONS, (11, 9)),
    Figure("song_emotion_profile.png", "One song's emotions against the catalogue mean: the 8 most above and "
           "below.", REBUILD_SONG_VECTORS, (10, 6)),
)
CAPTIONS = {f.name: f.caption for f in FIGURES}
# Drawn from the AI-Hub model's outputs only: with KOTE alone (no major classes, multi-label) they are skipped.
AIHUB_ONLY = ("emotion_confusion_matrix_6class.png", "emotion_label_similarity_60x60.png", HEAD_COMPARISON_FIGURE)
