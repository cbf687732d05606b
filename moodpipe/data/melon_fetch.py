"""Fetching Melon's pages politely, on well-kept libraries: one requests session whose HTTPAdapter carries
urllib3's `Retry` (exponential backoff, Retry-After, the statuses worth asking again), behind requests-cache's
SQLite page cache, so an interrupted crawl resumes without refetching. Network requests are spaced by a delay;
cache hits never wait (they never reach the adapter).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import requests
import requests_cache
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NameResolutionError, ReadTimeoutError
from urllib3.util.retry import Retry

from moodpipe.files import InputError, cannot_write

log = logging.getLogger("pipeline")

USER_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/126.0.0.0 Safari/537.36")
RETRY_STATUSES = (429, 500, 502, 503, 504)
MAX_RETRY_AFTER = 300        # never let one Retry-After header stall the crawl for longer than this
LOST_CONNECTION_AFTER = 3    # consecutive pages that fail to connect before we stop instead of grinding on
CACHE_NAME = "pages.sqlite"  # the page cache inside --cache-dir


@dataclass(frozen=True)
class FetchSettings:
    base_url: str
    cache_dir: Path
    delay: float = 1.0      # seconds between network requests
    retries: int = 4        # per page, on 429, 5xx, timeouts and connection errors
    backoff: float = 2.0    # first retry wait, doubled at each retry; a Retry-After header replaces it
    timeout: float = 20.0


class FetchError(Exception):
    """One page could not be fetched; reason is short and goes into the CSV's status column."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"{url}: {reason}")
        self.url, self.reason = url, reason


class NetworkUnreachable(Exception):
    """The server cannot be reached at all: stop the whole crawl rather than fail every song."""


class PoliteRetry(Retry):
    """urllib3's Retry with our rules: the first retry already waits `backoff_factor` seconds (doubling after),
    Retry-After is honoured on every status we retry, and a host name that does not resolve is not retried:
    without DNS there is no network, and asking again only makes the user wait."""
    RETRY_AFTER_STATUS_CODES = frozenset(RETRY_STATUSES)

    def get_backoff_time(self) -> float:
        errors = len(self.history)
        return 0.0 if errors == 0 else min(self.backoff_max, self.backoff_factor * 2 ** (errors - 1))

    def parse_retry_after(self, retry_after: str) -> float:
        return min(super().parse_retry_after(retry_after), MAX_RETRY_AFTER)

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        if isinstance(error, NameResolutionError):
            raise MaxRetryError(_pool, url, error) from error
        return super().increment(method, url, response, error, _pool, _stacktrace)


class SpacedAdapter(HTTPAdapter):
    """An HTTPAdapter that waits until `delay` seconds have passed since its last request. Only requests that go
    to the network reach an adapter: the cache answers the others before it."""

    def __init__(self, delay: float, retry: Retry):
        super().__init__(max_retries=retry)
        self.delay, self._last = delay, float("-inf")

    def send(self, request, **kwargs):
        pause = self.delay - (time.monotonic() - self._last)
        if pause > 0:
            time.sleep(pause)
        self._last = time.monotonic()
        return super().send(request, **kwargs)


def failure_reason(error: requests.RequestException) -> str:
    """'dns', 'connection', 'timeout' or the exception's name, looking through urllib3's MaxRetryError."""
    cause = error.args[0] if error.args else None
    cause = getattr(cause, "reason", cause)
    if isinstance(cause, NameResolutionError):
        return "dns"
    if isinstance(error, requests.ConnectTimeout):  # nothing answered: a connection problem, as before
        return "connection"
    if isinstance(error, requests.Timeout) or isinstance(cause, ReadTimeoutError):
        return "timeout"
    return "connection" if isinstance(error, requests.ConnectionError) else type(error).__name__


def usable_cache(cache_dir: Path) -> Path:
    """The page cache's SQLite file, opened and checked first: a --cache-dir that is a file is an error, and a
    damaged cache (a crash, a disk error) is moved aside with a warning and rebuilt by refetching."""
    if cache_dir.exists() and not cache_dir.is_dir():
        raise InputError(f"--cache-dir {cache_dir} is a file: give a folder for the page cache")
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise cannot_write(cache_dir, e) from None
    db = cache_dir / CACHE_NAME
    if db.is_file() and (problem := sqlite_problem(db)):
        aside = db.with_name(f"{db.name}.damaged-{int(time.time())}")
        os.replace(db, aside)
        log.warning("the page cache %s is damaged (%s): moved to %s, starting a new one (pages are fetched again)",
                    db, problem, aside.name)
    return db


def sqlite_problem(db: Path) -> str | None:
    """Why an SQLite file cannot be used (None: it can)."""
    try:
        with contextlib.closing(sqlite3.connect(db)) as connection:
            verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.Error as e:
        return str(e)
    return None if verdict == "ok" else verdict


def polite_session(config: FetchSettings) -> requests_cache.CachedSession:
    db = usable_cache(Path(config.cache_dir))
    session = requests_cache.CachedSession(
        str(db), backend="sqlite", expire_after=requests_cache.NEVER_EXPIRE,
        allowable_codes=(200,), allowable_methods=("GET",), cache_control=False)  # Melon's no-cache is ignored
    retry = PoliteRetry(total=config.retries, backoff_factor=config.backoff, status_forcelist=RETRY_STATUSES,
                        allowed_methods=frozenset({"GET"}), raise_on_status=False, backoff_max=MAX_RETRY_AFTER)
    adapter = SpacedAdapter(config.delay, retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update({"User-Agent": USER_AGENT, "Referer": config.base_url + "/",
                            "Accept-Language": "ko-KR,ko;q=0.9,en;q=0.8"})
    return session


class PoliteFetcher:
    """GET pages through the cache, counting what came from the network and what from the cache, and stopping
    the crawl (NetworkUnreachable) when the server cannot be reached at all or the connection is lost."""

    def __init__(self, config: FetchSettings):
        self.config, self.cache_dir = config, Path(config.cache_dir)
        self.session = polite_session(config)
        self.fetched = self.from_cache = self.connection_failures_in_a_row = 0
        self.reached_server = False

    def get(self, url: str) -> str:
        try:
            response = self.session.get(url, timeout=self.config.timeout)
        except requests.RequestException as e:
            reason = failure_reason(e)
            if reason in ("dns", "connection"):
                self._give_up_if_offline(url, reason)
            raise FetchError(url, reason) from None
        if response.from_cache:
            self.from_cache += 1
        else:
            self.reached_server, self.connection_failures_in_a_row = True, 0
        if response.status_code != 200:  # 404 and friends are not retried; 429 and 5xx were, and still failed
            raise FetchError(url, f"http_{response.status_code}")
        self.fetched += not response.from_cache
        if "charset" not in response.headers.get("Content-Type", ""):
            response.encoding = "utf-8"  # Melon is UTF-8; requests would guess Latin-1
        return response.text

    def forget(self, url: str) -> None:
        """Drop a cached page that turned out useless (e.g. an error page served with 200)."""
        self.session.cache.delete(urls=[url])

    def _give_up_if_offline(self, url: str, reason: str) -> None:
        self.connection_failures_in_a_row += 1
        base = self.config.base_url
        if reason == "dns":
            raise NetworkUnreachable(f"cannot reach {base}: its host name does not resolve (no network or no DNS)")
        if not self.reached_server:
            raise NetworkUnreachable(f"cannot reach {base} (connecting to {url} failed "
                                     f"{self.config.retries + 1} times)")
        if self.connection_failures_in_a_row >= LOST_CONNECTION_AFTER:
            raise NetworkUnreachable(f"lost the connection to {base} "
                                     f"({self.connection_failures_in_a_row} pages in a row failed to connect)")

