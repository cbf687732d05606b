"""English glosses of the Korean emotion labels (AI-Hub's 6 major classes and 60 sub-emotions), for pages whose
interface is English: a label is shown as `슬픔 (sadness)`, and typed or linked as the model names it.

    >>> glossed("슬픔"), glossed("슬픔/눈물이나는"), glossed("상처/가난한/불우한"), glossed("joy")
    ('슬픔 (sadness)', '눈물이나는 (tearful)', '가난한/불우한 (deprived)', 'joy')
"""

from __future__ import annotations

GLOSSES = {
    "분노": "anger", "툴툴대는": "grumbling", "좌절한": "frustrated", "짜증내는": "irritated", "방어적인": "defensive",
    "악의적인": "spiteful", "안달하는": "impatient", "구역질나는": "disgusted", "노여워하는": "indignant",
    "성가신": "annoyed",
    "슬픔": "sadness", "실망한": "disappointed", "비통한": "grieving", "후회되는": "regretful", "우울한": "depressed",
    "마비된": "numb", "염세적인": "pessimistic", "눈물이나는": "tearful", "낙담한": "discouraged",
    "환멸을느끼는": "disillusioned",
    "불안": "anxiety", "두려운": "afraid", "스트레스받는": "stressed", "취약한": "vulnerable",
    "혼란스러운": "confused", "당혹스러운": "perplexed", "회의적인": "sceptical", "걱정스러운": "worried",
    "조심스러운": "cautious", "초조한": "nervous",
    "상처": "hurt", "질투하는": "jealous", "배신당한": "betrayed", "고립된": "isolated", "충격받은": "shocked",
    "가난한/불우한": "deprived", "희생된": "victimised", "억울한": "wronged", "괴로워하는": "distressed",
    "버려진": "abandoned",
    "당황": "embarrassment", "고립된(당황)": "isolated", "남의시선의식": "self-conscious", "외로운": "lonely",
    "열등감": "inferior", "죄책감의": "guilty", "부끄러운": "ashamed", "혐오스러운": "loathsome", "한심한": "pathetic",
    "혼란스러운(당황)": "bewildered",
    "기쁨": "joy", "감사하는": "grateful", "신뢰하는": "trusting", "편안한": "at ease", "만족스러운": "satisfied",
    "흥분": "excited", "느긋": "relaxed", "안도": "relieved", "신이난": "elated", "자신하는": "confident",
}


def gloss(name: str) -> str | None:
    """The English of a label ('슬픔', or 'major/sub' as the catalogue's readable names), else None."""
    return GLOSSES.get(name) or GLOSSES.get(name.split("/", 1)[-1])


def glossed(name: str) -> str:
    """'sub (english)' for a Korean label; any other name as it is."""
    short = name.split("/", 1)[-1] if name.split("/", 1)[-1] in GLOSSES else name
    return f"{short} ({gloss(name)})" if gloss(name) else name
