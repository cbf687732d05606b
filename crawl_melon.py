"""Crawl song metadata and lyrics from Melon (www.melon.com) into one CSV, politely and resumably.

    python crawl_melon.py                          # Melon yearly charts 1991-2014, top 10 of each year
    python crawl_melon.py --years 2000-2014 --top 20 --data-dir data
    python crawl_melon.py --playlist 420245387     # every song of a Melon DJ playlist
    python crawl_melon.py --song-ids 38541 85674   # just these songs

Output: <data-dir>/lyrics/melon_songs.csv with the columns song_id, song_name, artist, album, release_date,
genre, lyric_writer, composer, first_chart_ym, last_chart_ym, best_rank, n_chart_months, n_lines, lyrics,
plus year, rank (where the source gives them) and status (ok / no_lyrics / adult_only / failed:<reason>),
written atomically, and melon_songs.crawl.json beside it (configuration and summary). Every page is cached
on disk, so a re-run or an interrupted run resumes without refetching. An existing CSV that holds more songs
with lyrics than the new crawl found is kept unless --replace is given; a crawl in which every song failed
writes nothing and exits with code 2.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from moodpipe.cli import (
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    run_cli,
    year,
)
from moodpipe.context import add_run_options
from moodpipe.data.melon import MELON, CrawlConfig, crawl
from moodpipe.paths import resolve_data_dir

# ----------------------------------------------------------------------------- command line

def year_range(text: str) -> tuple[int, int]:
    """'1991-2014' -> (1991, 2014); '2005' -> (2005, 2005)."""
    match = re.fullmatch(r"(\d{4})(?:-(\d{4}))?", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"expected YYYY or YYYY-YYYY, got {text!r}")
    first, last = year(match.group(1)), year(match.group(2) or match.group(1))
    if last < first:
        raise argparse.ArgumentTypeError(f"expected the first year first, got {text!r}")
    return first, last


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = p.add_mutually_exclusive_group()
    source.add_argument("--years", type=year_range, default=CrawlConfig.years,
                        help="Melon yearly charts to crawl, YYYY or YYYY-YYYY (the default source; default: "
                        f"{CrawlConfig.years[0]}-{CrawlConfig.years[1]})")
    source.add_argument("--playlist", help="a Melon DJ playlist id (plylstSeq) to crawl instead of charts")
    source.add_argument("--song-ids", nargs="+", metavar="ID", help="Melon song ids to crawl (spaces or commas)")
    p.add_argument("--top", type=positive_int, default=CrawlConfig.top,
                   help="songs per yearly chart (default: %(default)s)")
    p.add_argument("--chart-genre", default=CrawlConfig.chart_genre, choices=["KPOP", "POP"],
                   help="yearly chart of Korean (KPOP) or foreign (POP) songs (default: %(default)s)")
    add_run_options(p, out=None, device=False, seed=False)  # the crawl writes a lyrics CSV, not an output root
    p.add_argument("--lyrics", type=Path, help="the lyrics CSV to write, as main.py --lyrics reads it (default: "
                   "<data-dir>/lyrics/melon_songs.csv)")
    p.add_argument("--replace", action="store_true", help="overwrite --lyrics even when it holds more songs with "
                   "lyrics than this crawl found (by default such a file is kept and the run stops)")
    p.add_argument("--cache-dir", type=Path,
                   help="page cache, an SQLite file (default: <data-dir>/lyrics/.melon_cache)")
    p.add_argument("--base-url", default=MELON, help="site to crawl; tests point it at a local server "
                   "(default: %(default)s)")
    p.add_argument("--delay", type=non_negative_float, default=CrawlConfig.delay,
                   help="seconds between network requests; cache hits do not wait (default: %(default)s)")
    p.add_argument("--retries", type=non_negative_int, default=CrawlConfig.retries,
                   help="retries per page on 429, 5xx, connection errors and timeouts (default: %(default)s)")
    p.add_argument("--backoff", type=non_negative_float, default=CrawlConfig.backoff,
                   help="first retry wait in seconds, doubled at each retry; a longer Retry-After wins "
                   "(default: %(default)s)")
    p.add_argument("--timeout", type=positive_float, default=CrawlConfig.timeout,
                   help="seconds to wait for a response (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = p.parse_args(argv)
    if args.song_ids is not None:
        args.song_ids = [sid.strip() for chunk in args.song_ids for sid in chunk.split(",") if sid.strip()]
        if not args.song_ids:
            p.error("--song-ids: no song id given (blank); pass Melon song ids, e.g. --song-ids 38541 85674")
        if not all(sid.isdigit() for sid in args.song_ids):
            p.error(f"--song-ids must be numbers, got {' '.join(args.song_ids)}")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    config = CrawlConfig(years=args.years, top=args.top, chart_genre=args.chart_genre, playlist=args.playlist,
                         song_ids=args.song_ids or [], data_dir=resolve_data_dir(args.data_dir),
                         lyrics=args.lyrics, cache_dir=args.cache_dir, base_url=args.base_url.rstrip("/"),
                         delay=args.delay, retries=args.retries, backoff=args.backoff, timeout=args.timeout,
                         progress=not args.no_progress, replace=args.replace)
    return crawl(config)


if __name__ == "__main__":
    run_cli(main)
