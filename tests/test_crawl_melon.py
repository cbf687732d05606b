"""crawl_melon.py (moodpipe.data.melon) against a real local HTTP server that serves hand-written Melon-like pages.

    .venv/bin/python -m pytest -q tests/test_crawl_melon.py

The server counts hits per page and plays scripted faults (500, 429 + Retry-After, slow answers,
a request that hangs until the crawler is killed), so every behaviour is checked over real HTTP.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

import moodpipe.data.melon as melon_lib
from crawl_melon import main, parse_args
from moodpipe.cli import run_cli
from moodpipe.data.melon import CrawlConfig, crawl
from moodpipe.files import InputError

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "melon"
EMPTY_PLAYLIST_PAGE = "<table><tbody></tbody></table>"
REFERENCE_CSV = REPO.parent / "shared" / "data" / "lyrics" / "melon_songs_2000_2023.csv"


class MelonStub:
    """A stand-in for www.melon.com: fixture pages by key ('chart:2000', 'song:30001',
    'playlist:777:1'), hit counts and times per key, and a script of faults per key."""

    def __init__(self):
        self.hits: Counter[str] = Counter()
        self.times: dict[str, list[float]] = defaultdict(list)
        self.script: dict[str, list[tuple]] = defaultdict(list)
        self.release = threading.Event()  # lets 'hang' requests finish when the test ends

    def page_key(self, url: str) -> str | None:
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/chart/age/list.htm" and query.get("chartType") == "YE":
            return f"chart:{query['chartDate']}"
        if parts.path == "/song/detail.htm":
            return f"song:{query['songId']}"
        if parts.path == "/mymusic/dj/mymusicdjplaylistview_inform.htm":
            return f"playlist:{query['plylstSeq']}:1"
        if parts.path == "/dj/playlist/djplaylist_listsong.htm":
            return f"playlist:{query['plylstSeq']}:{query['startIndex']}"
        return None

    def fixture(self, key: str) -> str | None:
        kind, _, rest = key.partition(":")
        name = {"chart": f"chart_{rest}", "song": f"song_{rest}"}.get(kind) or "playlist_" + rest.replace(":1", "")
        path = FIXTURES / f"{name.replace(':', '_')}.html"
        if path.is_file():
            return path.read_text(encoding="utf-8")
        return EMPTY_PLAYLIST_PAGE if kind == "playlist" else None

    def handler(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                key = stub.page_key(self.path) or self.path
                stub.hits[key] += 1
                stub.times[key].append(time.monotonic())
                fault = stub.script[key].pop(0) if stub.script[key] else None
                if fault and fault[0] == "status":
                    return self.reply(fault[1], "error", fault[2] if len(fault) > 2 else {})
                if fault and fault[0] == "slow":
                    time.sleep(fault[1])  # longer than the crawler's timeout
                if fault and fault[0] == "hang":
                    stub.release.wait(30)
                    return
                if fault and fault[0] == "drop":  # close the connection without an answer
                    self.close_connection = True
                    return
                html = stub.fixture(key)
                self.reply(200, html) if html is not None else self.reply(404, "not found")

            def reply(self, status, body, headers=None):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/html; charset=UTF-8")
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(body.encode("utf-8"))
                except OSError:
                    pass  # the crawler gave up on this request (timeout) or was killed

            def log_message(self, *args):
                pass

        return Handler


@pytest.fixture
def melon():
    stub = MelonStub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), stub.handler())
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stub.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    yield stub
    stub.release.set()
    server.shutdown()
    server.server_close()


def config_for(stub: MelonStub, tmp_path: Path, **overrides) -> CrawlConfig:
    settings = dict(years=(2000, 2001), top=3, data_dir=tmp_path / "data", base_url=stub.base_url,
                    delay=0.0, retries=2, backoff=0.01, timeout=5.0, progress=False)
    return CrawlConfig(**(settings | overrides))


def read_rows(path: Path) -> dict[str, dict]:
    table = pd.read_csv(path, dtype={"song_id": str}, keep_default_na=False)
    return {row["song_id"]: row for row in table.to_dict("records")}


def test_yearly_charts_become_one_row_per_song_with_lyrics_lines(melon, tmp_path):
    summary = crawl(config_for(melon, tmp_path))

    out = tmp_path / "data" / "lyrics" / "melon_songs.csv"
    table = pd.read_csv(out, dtype={"song_id": str})
    assert list(table.columns) == melon_lib.COLUMNS
    # top 3 of 2000, then top 3 of 2001 minus 30001, which already came from 2000
    assert table["song_id"].tolist() == ["30001", "30002", "30003", "30004", "30005"]
    rows = read_rows(out)
    first = rows["30001"]
    assert (first["song_name"], first["artist"]) == ("봄날의 약속", "가상밴드, 주인공")
    assert first["album"] == "첫 번째 이야기"
    assert (first["release_date"], first["genre"]) == ("2000.03.15", "발라드, 록/메탈")
    assert (first["lyric_writer"], first["composer"]) == ("김작사, 주인공", "이작곡")
    assert first["lyrics"].split("\n") == ["우리가 처음 만난 그 봄날", "약속했던 말 기억하니", "",
                                           "꽃잎이 지면 다시 올게 & 기다려", "그 자리에서"]
    assert (first["n_lines"], first["year"], first["rank"], first["status"]) == (5, 2000, 1, "ok")
    assert (rows["30005"]["year"], rows["30005"]["rank"]) == (2001, 3)

    # pages without lyrics are kept, with empty lyrics and the reason
    adult = rows["30002"]
    assert (adult["song_name"], adult["lyrics"], adult["status"]) == ("밤의 거리", "", "adult_only")
    assert (rows["30003"]["lyrics"], rows["30003"]["status"]) == ("", "no_lyrics")
    expected = {"songs": 5, "ok": 3, "missing_lyrics": 2, "adult_only": 1, "no_lyrics": 1, "failed": 0,
                "pages_fetched": 7, "pages_from_cache": 0}
    assert {key: summary[key] for key in expected} == expected
    assert melon.hits["song:30009"] == 0  # rank 4 is outside the top 3
    assert (out.parent / "melon_songs.crawl.json").is_file()

    # a re-run reads everything from the cache: no request, and no politeness delay for cache hits
    start = time.monotonic()
    again = crawl(config_for(melon, tmp_path, delay=5.0))
    assert time.monotonic() - start < 2.0
    assert (again["pages_fetched"], again["pages_from_cache"]) == (0, 7)
    assert max(melon.hits.values()) == 1


@pytest.mark.skipif(not REFERENCE_CSV.is_file(), reason="needs ../shared/data")
def test_columns_extend_the_reference_lyrics_csv():
    reference = pd.read_csv(REFERENCE_CSV, nrows=0).columns.tolist()
    assert melon_lib.COLUMNS == reference + ["year", "rank", "status"]


def test_network_requests_are_spaced_by_the_delay(melon, tmp_path):
    crawl(config_for(melon, tmp_path, song_ids=["30001", "30004", "30005"], delay=0.3))
    times = sorted(t for key in ("song:30001", "song:30004", "song:30005") for t in melon.times[key])
    assert all(b - a >= 0.25 for a, b in zip(times, times[1:], strict=False))


def test_500_and_429_with_retry_after_are_retried(melon, tmp_path):
    melon.script["song:30001"] = [("status", 500)]
    melon.script["song:30004"] = [("status", 429, {"Retry-After": "1"})]

    summary = crawl(config_for(melon, tmp_path, song_ids=["30001", "30004"]))

    assert (melon.hits["song:30001"], melon.hits["song:30004"]) == (2, 2)
    assert summary["ok"] == 2 and summary["failed"] == 0
    waited = melon.times["song:30004"][1] - melon.times["song:30004"][0]
    assert waited >= 0.95, f"Retry-After: 1 was not honoured (retried after {waited:.2f}s)"
    assert melon.times["song:30001"][1] - melon.times["song:30001"][0] < 0.9  # plain backoff stays tiny


def test_timeouts_are_retried_then_reported_as_failed(melon, tmp_path):
    melon.script["song:30005"] = [("slow", 1.0), ("slow", 1.0)]

    summary = crawl(config_for(melon, tmp_path, song_ids=["30004", "30005"], retries=1, timeout=0.3))

    assert melon.hits["song:30005"] == 2
    assert (summary["failed"], summary["failure_reasons"], summary["ok"]) == (1, {"timeout": 1}, 1)
    rows = read_rows(Path(summary["out"]))
    assert (rows["30005"]["status"], rows["30005"]["lyrics"]) == ("failed:timeout", "")
    assert rows["30004"]["status"] == "ok"


def test_a_missing_page_fails_without_retries(melon, tmp_path):
    summary = crawl(config_for(melon, tmp_path, song_ids=["30004", "99999"]))
    assert melon.hits["song:99999"] == 1
    assert read_rows(Path(summary["out"]))["99999"]["status"] == "failed:http_404"


def test_killed_crawl_resumes_from_the_cache(melon, tmp_path):
    out = tmp_path / "melon_songs.csv"
    out.write_text("song_id,lyrics\n", encoding="utf-8")
    melon.script["song:30003"] = [("hang",)]  # the third song never answers: kill the crawler there
    command = [sys.executable, "crawl_melon.py", "--years", "2000-2001", "--top", "3", "--delay", "0",
               "--base-url", melon.base_url, "--data-dir", str(tmp_path / "data"), "--lyrics", str(out),
               "--no-progress"]
    crawler = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while melon.hits["song:30003"] == 0 and crawler.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert melon.hits["song:30003"] == 1, crawler.stderr.read().decode() if crawler.poll() is not None else ""
    finally:
        crawler.kill()
        crawler.wait()
        crawler.stderr.close()
    assert out.read_text(encoding="utf-8") == "song_id,lyrics\n"  # never half-written or replaced

    summary = crawl(config_for(melon, tmp_path, lyrics=out))

    assert (summary["pages_from_cache"], summary["pages_fetched"]) == (4, 3)  # 2 charts + 2 songs came from cache
    assert all(melon.hits[k] == 1 for k in ("chart:2000", "chart:2001", "song:30001", "song:30002"))
    assert melon.hits["song:30003"] == 2
    assert len(read_rows(out)) == 5


def test_interrupted_csv_write_keeps_the_original_file(melon, tmp_path, monkeypatch):
    out = tmp_path / "melon_songs.csv"
    out.write_text("song_id,lyrics\n", encoding="utf-8")

    def write_half_then_die(self, path, *args, **kwargs):
        Path(path).write_text("song_id,song_na", encoding="utf-8")
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", write_half_then_die)
    with pytest.raises(KeyboardInterrupt):
        crawl(config_for(melon, tmp_path, song_ids=["30001"], lyrics=out))
    assert out.read_text(encoding="utf-8") == "song_id,lyrics\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["melon_songs.csv"]  # no temp file left


def test_playlist_pages_are_followed(melon, tmp_path, monkeypatch):
    monkeypatch.setattr(melon_lib, "PLAYLIST_PAGE_SIZE", 2)  # fixtures hold 2 songs per page, Melon 50
    summary = crawl(config_for(melon, tmp_path, playlist="777"))
    table = pd.read_csv(summary["out"], dtype={"song_id": str})
    assert table["song_id"].tolist() == ["30001", "30004", "30005"]
    assert table["year"].isna().all() and table["rank"].isna().all()  # a playlist has no chart year or rank
    assert melon.hits["playlist:777:5"] == 1  # asked for more until a page came back empty


def test_a_connection_lost_mid_crawl_stops_with_a_clear_message(melon, tmp_path):
    for song in ("30004", "30005", "30003"):
        melon.script[f"song:{song}"] = [("drop",), ("drop",)]
    config = config_for(melon, tmp_path, song_ids=["30001", "30004", "30005", "30003", "30002"], retries=1)
    with pytest.raises(InputError, match="lost the connection"):
        crawl(config)
    assert melon.hits["song:30002"] == 0  # stopped after 3 songs in a row failed to connect
    assert not config.out_path().exists()


def test_unreachable_network_gives_one_clear_message_and_exit_2(tmp_path, capsys):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = ["--base-url", f"http://127.0.0.1:{port}", "--data-dir", str(tmp_path), "--years", "2000",
            "--retries", "1", "--backoff", "0.01", "--delay", "0", "--no-progress"]
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, argv)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"cannot reach http://127.0.0.1:{port}" in error
    assert "--lyrics FILE" in error and "../shared" not in error  # only paths every user has
    assert not (tmp_path / "lyrics" / "melon_songs.csv").exists()


def test_every_option_has_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ["--years", "--top", "--playlist", "--song-ids", "--lyrics", "--cache-dir", "--base-url", "--delay",
                   "--retries", "--backoff", "--timeout", "--data-dir"]:
        assert option in text
    assert parse_args(["--song-ids", "1,2", "3"]).song_ids == ["1", "2", "3"]
    assert parse_args(["--years", "1991-2014"]).years == (1991, 2014)


def write_good_csv(path: Path, n: int = 6) -> str:
    pd.DataFrame({"song_id": range(1, n + 1), "song_name": "노래", "artist": "가수", "lyrics": "가사 한 줄"}).to_csv(
        path, index=False)
    return path.read_text(encoding="utf-8")


def test_a_worse_crawl_never_replaces_a_better_csv(melon, tmp_path, capsys):
    out = tmp_path / "melon_songs.csv"
    good = write_good_csv(out)
    argv = ["--song-ids", "99999", "--base-url", melon.base_url, "--data-dir", str(tmp_path / "data"), "--lyrics",
            str(out), "--delay", "0", "--retries", "0", "--no-progress"]
    with pytest.raises(SystemExit) as exit_info:  # every song failed (404): nothing written, exit 2
        run_cli(main, argv)
    assert exit_info.value.code == 2 and "every one of the 1 songs failed" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == good

    one_song = config_for(melon, tmp_path, song_ids=["30001"], lyrics=out)
    with pytest.raises(InputError, match="not replacing .* 6 songs with lyrics, this crawl found 1"):
        crawl(one_song)
    assert out.read_text(encoding="utf-8") == good
    crawl(replace(one_song, replace=True))  # asked for: replaced
    assert list(read_rows(out)) == ["30001"]


def test_every_song_failing_with_no_csv_writes_nothing(melon, tmp_path):
    config = config_for(melon, tmp_path, song_ids=["99998", "99999"])
    with pytest.raises(InputError, match="every one of the 2 songs failed .*http_404: 2"):
        crawl(config)
    assert not config.out_path().exists()


def test_no_dns_fails_at_once_without_retries(tmp_path, monkeypatch):
    lookups = []

    def no_dns(host, *args, **kwargs):
        lookups.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    config = CrawlConfig(years=(2000, 2000), data_dir=tmp_path, base_url="http://melon.invalid", delay=0.0,
                         retries=4, backoff=5.0, progress=False)
    start = time.monotonic()
    with pytest.raises(InputError, match="cannot reach http://melon.invalid: its host name does not resolve"):
        crawl(config)
    assert time.monotonic() - start < 2.0 and lookups == ["melon.invalid"]  # one try, no backoff
    assert not config.out_path().exists()
