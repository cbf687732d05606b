"""A polite, resumable crawler of Melon (www.melon.com): song metadata and lyrics into one CSV.

Sources: the yearly chart (/chart/age/list.htm?chartType=YE&chartDate=YYYY), a DJ playlist
(/mymusic/dj/mymusicdjplaylistview_inform.htm?plylstSeq=ID) or song ids. Each song's page
(/song/detail.htm?songId=ID) gives title, artists, album, release date, genre, lyricist,
composer and the lyrics (div#d_video_summary, one <br> per line). Pages come through
moodpipe.data.melon_fetch: cached on disk, so a re-run or an interrupted run resumes without refetching;
requests spaced, retried with exponential backoff, Retry-After honoured. A crawl never replaces a CSV that
holds more songs with lyrics than its own result unless asked (`replace`), and a crawl in which every song
failed writes nothing.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pandas as pd
from bs4 import BeautifulSoup, Comment, NavigableString, Tag
from tqdm import tqdm

from moodpipe.cli import Interrupted
from moodpipe.data.melon_fetch import FetchError, FetchSettings, NetworkUnreachable, PoliteFetcher
from moodpipe.files import InputError, write_csv_atomic, write_json_atomic
from moodpipe.paths import LYRICS_FILES

log = logging.getLogger("pipeline")

REFERENCE_COLUMNS = ["song_id", "song_name", "artist", "album", "release_date", "genre", "lyric_writer", "composer",
                     "first_chart_ym", "last_chart_ym", "best_rank", "n_chart_months", "n_lines", "lyrics"]
COLUMNS = REFERENCE_COLUMNS + ["year", "rank", "status"]
MELON = "https://www.melon.com"
PLAYLIST_PAGE_SIZE = 50      # a playlist page lists 50 songs; the rest come from an AJAX list, 50 at a time


@dataclass
class CrawlConfig:
    years: tuple[int, int] = (1991, 2014)
    top: int = 10
    chart_genre: str = "KPOP"
    playlist: str | None = None
    song_ids: list[str] = field(default_factory=list)
    data_dir: Path = Path("data")
    lyrics: Path | None = None       # the CSV to write; default <data_dir>/lyrics/melon_songs.csv
    cache_dir: Path | None = None    # default <data_dir>/lyrics/.melon_cache
    base_url: str = MELON
    delay: float = 1.0
    retries: int = 4
    backoff: float = 2.0
    timeout: float = 20.0
    progress: bool = True
    replace: bool = False            # may replace a CSV that holds more songs with lyrics than this crawl found

    def out_path(self) -> Path:
        return Path(self.lyrics) if self.lyrics else Path(self.data_dir) / LYRICS_FILES[0]

    def cache_path(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir else Path(self.data_dir) / "lyrics" / ".melon_cache"

    def fetch_settings(self) -> FetchSettings:
        return FetchSettings(self.base_url, self.cache_path(), self.delay, self.retries, self.backoff, self.timeout)


QUICK_CRAWL = CrawlConfig(years=(2000, 2001))  # main.py --quick: two yearly charts


# ----------------------------------------------------------------------------- URLs and parsing

def yearly_chart_url(base_url: str, year: int, genre: str) -> str:
    query = {"idx": 1, "chartType": "YE", "chartGenre": genre, "chartDate": year, "moved": "Y"}
    return f"{base_url}/chart/age/list.htm?{urlencode(query)}"


def playlist_url(base_url: str, playlist: str, start: int) -> str:
    if start == 1:
        return f"{base_url}/mymusic/dj/mymusicdjplaylistview_inform.htm?plylstSeq={playlist}"
    query = {"startIndex": start, "pageSize": PLAYLIST_PAGE_SIZE, "plylstSeq": playlist}
    return f"{base_url}/dj/playlist/djplaylist_listsong.htm?{urlencode(query)}"


def song_url(base_url: str, song_id: str) -> str:
    return f"{base_url}/song/detail.htm?songId={song_id}"


SONG_ID_IN_LINK = re.compile(r"goSongDetail\('(\d+)'\)|playSong\('[^']*',\s*'?(\d+)'?\)")


def song_id_of_row(row: Tag) -> str | None:
    """A chart or playlist row's song id: data-song-no, the row's checkbox, or a song link."""
    if row.get("data-song-no"):
        return str(row["data-song-no"])
    checkbox = row.select_one("input[name=input_check]")
    if checkbox is not None and str(checkbox.get("value", "")).isdigit():
        return str(checkbox["value"])
    for link in row.select("a[href]"):
        if match := SONG_ID_IN_LINK.search(link["href"]):
            return match.group(1) or match.group(2)
    return None


def table_song_entries(html: str) -> list[tuple[str, int]]:
    """(song id, rank) for each song row of a chart or playlist page, in page order; the rank is
    span.rank when the page shows one, else the row's position."""
    entries = []
    for row in BeautifulSoup(html, "lxml").select("tbody tr"):
        song_id = song_id_of_row(row)
        if song_id is None:
            continue
        rank = row.select_one("span.rank")
        rank_text = rank.get_text(strip=True) if rank else ""
        entries.append((song_id, int(rank_text) if rank_text.isdigit() else len(entries) + 1))
    return entries


def lyrics_text(node: Tag | None) -> str:
    """Lyrics with one line per <br>; newlines in the markup itself are just whitespace (as in HTML).

    >>> lyrics_text(BeautifulSoup("<div><!-- x -->\\n  첫 줄<br>둘째 줄<br><br>셋째 줄<br>\\n</div>", "lxml").div)
    '첫 줄\\n둘째 줄\\n\\n셋째 줄'
    """
    if node is None:
        return ""
    pieces = []
    for item in node.descendants:
        if isinstance(item, Tag) and item.name == "br":
            pieces.append("\n")
        elif isinstance(item, NavigableString) and not isinstance(item, Comment):
            pieces.append(re.sub(r"\s*[\r\n]+\s*", " ", str(item)))
    return "\n".join(line.strip() for line in "".join(pieces).split("\n")).strip("\n")


def clean(text: str) -> str:
    return " ".join(text.split())


def credits_by_role(soup: BeautifulSoup) -> dict[str, str]:
    """{'작사': 'A, B', '작곡': 'C', ...} from the page's list of participating artists."""
    names: dict[str, list[str]] = {}
    for person in soup.select("div.section_prdcr li"):
        name, role = person.select_one("a.artist_name"), person.select_one("span.type")
        if name is not None and role is not None:
            people = names.setdefault(clean(role.get_text()), [])
            if clean(name.get_text()) not in people:
                people.append(clean(name.get_text()))
    return {role: ", ".join(people) for role, people in names.items()}


def parse_song_page(html: str) -> dict | None:
    """The CSV fields a song page gives, with its status; None when the page is not a song page."""
    soup = BeautifulSoup(html, "lxml")
    title = soup.select_one("div.song_name")
    if title is None:
        return None
    adult_only = title.select_one("span.age_19") is not None
    for hidden in title.select("strong.none, span.bullet_icons"):  # the '곡명' label and the '19금' badge
        hidden.decompose()
    artists = [clean(a.get_text()) for a in soup.select("div.section_info div.artist a.artist_name")]
    info = soup.select_one("div.section_info dl.list") or soup.select_one("dl.list")
    labels, values = (info.select("dt"), info.select("dd")) if info is not None else ([], [])
    details = {clean(dt.get_text()): clean(dd.get_text(" ")) for dt, dd in zip(labels, values, strict=False)}
    credits = credits_by_role(soup)
    lyrics = lyrics_text(soup.select_one("div#d_video_summary"))
    return {
        "song_name": clean(title.get_text(" ")),
        "artist": ", ".join(dict.fromkeys(a for a in artists if a)),
        "album": details.get("앨범"), "release_date": details.get("발매일"), "genre": details.get("장르"),
        "lyric_writer": credits.get("작사"), "composer": credits.get("작곡"),
        "lyrics": lyrics, "n_lines": len(lyrics.split("\n")) if lyrics else 0,
        "status": "ok" if lyrics else "adult_only" if adult_only else "no_lyrics",
    }


# ----------------------------------------------------------------------------- the crawl

def chart_song_entries(config: CrawlConfig, fetcher: PoliteFetcher, problems: list[str]) -> list[dict]:
    entries = []
    for year in range(config.years[0], config.years[1] + 1):
        url = yearly_chart_url(config.base_url, year, config.chart_genre)
        try:
            songs = table_song_entries(fetcher.get(url))
        except FetchError as e:
            problems.append(f"chart {year}: {e.reason}")
            continue
        if not songs:
            fetcher.forget(url)
            problems.append(f"chart {year}: no songs on the page (has Melon's markup changed?)")
        entries += [{"song_id": sid, "year": year, "rank": rank} for sid, rank in songs[:config.top]]
    return entries


def playlist_song_entries(config: CrawlConfig, fetcher: PoliteFetcher, problems: list[str]) -> list[dict]:
    song_ids: list[str] = []
    start = 1
    while True:
        try:
            html = fetcher.get(playlist_url(config.base_url, config.playlist, start))
        except FetchError as e:
            if start == 1:
                raise InputError(f"could not fetch Melon playlist {config.playlist}: {e.reason}") from None
            problems.append(f"playlist page from {start}: {e.reason}")
            break
        page = [sid for sid, _ in table_song_entries(html)]
        new = [sid for sid in page if sid not in song_ids]
        song_ids += new
        if len(page) < PLAYLIST_PAGE_SIZE or not new:  # a short page is the last one
            break
        start += PLAYLIST_PAGE_SIZE
    return [{"song_id": sid, "year": None, "rank": None} for sid in song_ids]


def song_entries(config: CrawlConfig, fetcher: PoliteFetcher, problems: list[str]) -> list[dict]:
    """Songs to crawl, each once (the first time it appears: a hit can top two years)."""
    if config.song_ids:
        entries = [{"song_id": str(sid), "year": None, "rank": None} for sid in config.song_ids]
    elif config.playlist:
        entries = playlist_song_entries(config, fetcher, problems)
    else:
        entries = chart_song_entries(config, fetcher, problems)
    first_seen: dict[str, dict] = {}
    for entry in entries:
        first_seen.setdefault(entry["song_id"], entry)
    return list(first_seen.values())


def song_row(entry: dict, fetcher: PoliteFetcher, base_url: str) -> dict:
    row = dict.fromkeys(COLUMNS) | entry
    url = song_url(base_url, entry["song_id"])
    try:
        song = parse_song_page(fetcher.get(url))
    except FetchError as e:
        return row | {"status": f"failed:{e.reason}"}
    if song is None:
        fetcher.forget(url)  # do not resume from an error page
        return row | {"status": "failed:not_a_song_page"}
    return row | song


def crawl(config: CrawlConfig) -> dict:
    """Crawl the configured source into config.out_path(); return a summary dict."""
    out = config.out_path()
    had = check_output(out, config.replace)  # before any page is fetched: a crawl that could not be written stops now
    fetcher, problems = PoliteFetcher(config.fetch_settings()), []
    if config.delay < 1 and config.base_url.rstrip("/") == MELON:
        log.warning("--delay %.2fs is below 1 s: please be gentle with melon.com", config.delay)
    try:
        entries = song_entries(config, fetcher, problems)
        if not entries:
            raise InputError(f"found no songs to crawl ({'; '.join(problems) or 'empty source'})")
        rows = [song_row(entry, fetcher, config.base_url)
                for entry in tqdm(entries, desc="melon songs", unit="song", disable=None if config.progress else True)]
    except NetworkUnreachable as e:
        raise InputError(f"{e}. Check the internet connection (or proxy) and re-run the same command: pages "
                         f"fetched so far stay cached in {fetcher.cache_dir}. Or skip the crawl: give the scoring "
                         "stage a lyrics CSV you already have (columns song_id, song_name, artist, lyrics) with "
                         "`python lyrics_emotion.py score --lyrics FILE` or `python main.py --lyrics FILE`") from None
    except KeyboardInterrupt:
        raise Interrupted(f"{fetcher.fetched + fetcher.from_cache} pages are cached in {fetcher.cache_dir} and "
                          f"{out} is unchanged; re-run the same command to resume") from None

    table = pd.DataFrame(rows, columns=COLUMNS).astype({"year": "Int64", "rank": "Int64", "n_lines": "Int64"})
    summary = summarize(table, fetcher, problems) | {"out": str(out)}
    check_worth_writing(table, summary, out, had, config.replace)
    write_csv_atomic(out, table)
    effective = asdict(config) | {"out": out, "cache_dir": fetcher.cache_dir}
    write_json_atomic(out.with_suffix(".crawl.json"), {"config": effective, "summary": summary})
    log.info("crawl: %d songs -> %s | %s", len(table), out, summary_line(summary))
    return summary


def check_output(out: Path, replace: bool) -> int:
    """How many songs with lyrics the CSV to be written holds now (0: none there). A folder in its place, or a
    file that cannot be read as a lyrics CSV (another encoding, separator or header), stops the crawl before it
    starts: what cannot be counted cannot be known to be worth less than the crawl (unless replace)."""
    if out.is_dir():
        raise InputError(f"--lyrics {out} is a folder: give the path of a CSV file to write")
    if not out.is_file() or out.stat().st_size == 0:
        return 0
    try:
        return songs_with_lyrics(out)
    except InputError as e:
        if replace:
            return 0
        raise InputError(f"not replacing {out}: {e}; re-run with --replace to overwrite it, or --lyrics NEW.csv to "
                         "keep both") from None


def songs_with_lyrics(path: Path) -> int:
    """How many songs with lyrics a lyrics CSV holds; an InputError saying why when it cannot be read as one."""
    try:
        table = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"it is not UTF-8 ({e.reason} at byte {e.start})") from None
    except (ValueError, OSError, pd.errors.ParserError) as e:
        raise InputError(f"it cannot be read as a CSV ({' '.join(str(e).split())[:120]})") from None
    if "lyrics" not in table.columns:
        raise InputError(f"it has no `lyrics` column (columns: {', '.join(map(str, table.columns))[:120]})")
    return int((table.lyrics.fillna("").str.strip() != "").sum())


def check_worth_writing(table: pd.DataFrame, summary: dict, out: Path, had: int, replace: bool) -> None:
    """Refuse a crawl in which every song failed, and one that would replace a CSV holding more songs with
    lyrics (a good file lost to a bad network day), unless replace. The pages stay cached either way."""
    if summary["failed"] == len(table):
        raise InputError(f"every one of the {len(table)} songs failed ({summary_line(summary)}); nothing was "
                         f"written{f' and {out} is kept' if out.is_file() else ''}")
    has = int((table.status == "ok").sum())
    if has < had and not replace:
        raise InputError(f"not replacing {out}: it holds {had} songs with lyrics, this crawl found {has} "
                         f"({summary_line(summary)}); re-run with --replace to overwrite it, or --lyrics NEW.csv to "
                         "keep both (fetched pages are cached)")


def summarize(table: pd.DataFrame, fetcher: PoliteFetcher, problems: list[str]) -> dict:
    statuses = Counter(table["status"])
    failures = Counter(s.split(":", 1)[1] for s in table["status"] if s.startswith("failed:"))
    return {"songs": len(table), "pages_fetched": fetcher.fetched, "pages_from_cache": fetcher.from_cache,
            "ok": statuses["ok"], "missing_lyrics": statuses["no_lyrics"] + statuses["adult_only"],
            "adult_only": statuses["adult_only"], "no_lyrics": statuses["no_lyrics"],
            "failed": sum(failures.values()), "failure_reasons": dict(failures), "source_problems": problems}


def summary_line(s: dict) -> str:
    reasons = ", ".join(f"{reason}: {n}" for reason, n in s["failure_reasons"].items())
    return (f"pages fetched {s['pages_fetched']}, from cache {s['pages_from_cache']} | lyrics ok {s['ok']}, "
            f"missing {s['missing_lyrics']} (adult_only {s['adult_only']}, no_lyrics {s['no_lyrics']}) | "
            f"failed {s['failed']}" + (f" ({reasons})" if reasons else "")
            + (f" | source problems: {'; '.join(s['source_problems'])}" if s["source_problems"] else ""))
