"""The AI-Hub emotional dialogue corpus's 60 emotion codes, E10..E69, as the project's own table.

Each code is a (major class, sub-emotion) pair; a label is named `<major>/<sub>`. The six major classes
take ten codes each, in the order of the corpus documentation: 분노 E10-E19, 슬픔 E20-E29, 불안 E30-E39,
상처 E40-E49, 당황 E50-E59, 기쁨 E60-E69. Two sub-emotions occur under two majors (고립된 under 상처 and
당황, 혼란스러운 under 불안 and 당황), which is why a label is the pair, never the sub word alone.

    >>> len(CODEBOOK), CODEBOOK[0], CODEBOOK[51 - 10]
    (60, ('E10', '분노', '분노'), ('E51', '당황', '고립된(당황)'))
    >>> label_key("당황", "고립된") == label_key("당황", "고립된(당황)")
    True
"""

from __future__ import annotations

import re
from pathlib import Path

from moodpipe.files import InputError, read_csv_checked, require_columns

# Sub-emotions per major class, in code order. Spaces are left out of the names (the corpus spells some
# with spaces, some without); `(당황)` marks the second of a duplicated sub-emotion.
SUB_EMOTIONS = {
    "분노": "분노 툴툴대는 좌절한 짜증내는 방어적인 악의적인 안달하는 구역질나는 노여워하는 성가신",
    "슬픔": "슬픔 실망한 비통한 후회되는 우울한 마비된 염세적인 눈물이나는 낙담한 환멸을느끼는",
    "불안": "불안 두려운 스트레스받는 취약한 혼란스러운 당혹스러운 회의적인 걱정스러운 조심스러운 초조한",
    "상처": "상처 질투하는 배신당한 고립된 충격받은 가난한/불우한 희생된 억울한 괴로워하는 버려진",
    "당황": "당황 고립된(당황) 남의시선의식 외로운 열등감 죄책감의 부끄러운 혐오스러운 한심한 혼란스러운(당황)",
    "기쁨": "기쁨 감사하는 신뢰하는 편안한 만족스러운 흥분 느긋 안도 신이난 자신하는",
}
CODEBOOK: list[tuple[str, str, str]] = [
    (f"E{10 * (k + 1) + i}", major, sub)
    for k, (major, subs) in enumerate(SUB_EMOTIONS.items()) for i, sub in enumerate(subs.split())]
# The corpus's own spelling where it is more than spacing and punctuation away from ours.
CORPUS_SPELLINGS = {"E52": "남의 시선을 의식하는"}


def normalize_label_text(text: str) -> str:
    """Spellings differ between releases (`구역질 나는`/`구역질나는`, `가난한, 불우한`/`가난한/불우한`).

    >>> normalize_label_text("가난한, 불우한")
    '가난한불우한'
    """
    return "".join(ch for ch in str(text) if ch not in " ,/")


def label_key(major: str, sub: str) -> tuple[str, str]:
    """The pair a corpus row is matched by: spacing, punctuation and a `(major)` suffix ignored."""
    return str(major).strip(), normalize_label_text(re.sub(r"\(.*\)$", "", str(sub).strip()))


def label_names() -> list[str]:
    """The 60 label names in code order: `분노/분노`, `분노/툴툴대는`, ..."""
    return [f"{major}/{sub}" for _, major, sub in CODEBOOK]


def label_index() -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    """Lookups from an E-code and from a (major, sub) pair to the label id."""
    by_code = {code: i for i, (code, _, _) in enumerate(CODEBOOK)}
    by_pair = {label_key(major, sub): i for i, (_, major, sub) in enumerate(CODEBOOK)}
    for code, spelling in CORPUS_SPELLINGS.items():
        by_pair[label_key(CODEBOOK[by_code[code]][1], spelling)] = by_code[code]
    return by_code, by_pair


def check_codebook_file(path: Path) -> None:
    """A user's codebook CSV (e_code, major_label, sub_label_codebook) must agree with ours on every row it has."""
    book = read_csv_checked(path)
    require_columns(book, ["e_code", "major_label", "sub_label_codebook"], path)
    ours = {code: label_key(major, sub) for code, major, sub in CODEBOOK}
    theirs = {str(r.e_code).strip(): label_key(r.major_label, r.sub_label_codebook) for r in book.itertuples()}
    wrong = [f"{code}: {'/'.join(label)} (ours: {'/'.join(ours.get(code, ('no such code',)))})"
             for code, label in sorted(theirs.items()) if ours.get(code) != label]
    if wrong:
        raise InputError(f"{path} disagrees with the built-in E10-E69 codebook in {len(wrong)} row(s): "
                         f"{'; '.join(wrong[:10])}; remove the file or fix those rows")
