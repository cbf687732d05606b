"""Recommendations as people read them: the CSV/JSON/markdown files, the terminal table, and the sentence
that says what the similarity and the shared emotions mean. Rendered from what moodpipe.recommend.queries
returns, never recomputed.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

from moodpipe.files import write_csv_atomic, write_json_atomic, write_text_atomic
from moodpipe.paths import Layout

EXPLANATIONS = {
    "similarity": "Similarity: cosine in the chosen representation. Shared emotions: the emotions adding most "
                  "to it, with their share; both songs sit above the catalogue average in each ('low X': both "
                  "sit below it).",
    "strength": "Strength: each asked emotion's share of the song over its catalogue average, summed (1 per "
                "emotion = average). Asked emotions: the song's share of each, and the catalogue average.",
    "path": "Mood path: step i is the song nearest the point i/N of the way from the start to the songs that "
            "carry the target emotions most. Similarity: cosine to that point. Target emotions: the song's "
            "share of each, and the catalogue average.",
}
MELON_SONG = "https://www.melon.com/song/detail.htm?songId={}"  # song_id is Melon's (crawl_melon.py)


def write_recommendations(result: dict, out: Path) -> dict[str, str]:
    """Write a result under <out>/results/ and return the paths written: for --all the catalogue outputs (the
    top-k table and the heatmap), for a single query only the --format file asked for."""
    cfg, layout, paths = result["config"], Layout(Path(out)), {}
    if cfg["all_songs"]:  # catalogue outputs: only a run over every song writes them, never a single query
        paths["heatmap"] = str(write_csv_atomic(layout.heatmap, result["heatmap"]))
    fmt = cfg["format"] or ("csv" if cfg["all_songs"] else None)  # --all is too long for the terminal alone
    if fmt:
        path = layout.recommendations(fmt) if cfg["all_songs"] else layout.query_recommendations(fmt)
        if fmt == "csv":
            write_csv_atomic(path, result["table"])
        elif fmt == "m3u":
            write_text_atomic(path, playlist_m3u(result))
        elif fmt == "json":
            meta = {k: v for k, v in result.items() if k not in ("queries", "table", "heatmap", "outputs")}
            write_json_atomic(path, {**meta, "rows": json.loads(result["table"].to_json(orient="records"))})
        else:
            write_text_atomic(path, "\n".join(markdown_tables(result)) + "\n")
        paths["recommendations"] = str(path)
        paths["config"] = str(write_json_atomic(layout.recommend_config, cfg))
    result["outputs"] = paths
    return paths


def grouped(result: dict, max_queries: int | None = None) -> list[tuple[str, list[dict]]]:
    """[(query, its recommendation rows)] in query order; a query whose filters left nothing gets []."""
    queries, table = result["queries"][:max_queries], result["table"]
    table = table if max_queries is None else table[table["query"].isin(queries)]
    by_query = {q: rows.to_dict("records") for q, rows in table.groupby("query", sort=False)}
    return [(q, by_query.get(q, [])) for q in queries]


def column_titles(result: dict) -> tuple[str, str]:
    return {"strength": ("Strength", "Asked emotions"), "path": ("Similarity", "Target emotions")}.get(
        result["score"], ("Similarity", "Shared emotions"))


def score_column(result: dict) -> str:
    """The table column holding the score: `strength` for --emotion, else `similarity`."""
    return "strength" if result["score"] == "strength" else "similarity"


def playlist_m3u(result: dict) -> str:
    """The result's songs as an extended M3U playlist (UTF-8: an .m3u8 file): '#EXTINF:-1,artist - title', then
    the song's Melon page. Every field is one line: a line break in a query cannot add an entry.

    >>> one_line("sad\\r\\nhttp://x/y.mp3")
    'sad http://x/y.mp3'
    """
    lines = ["#EXTM3U", f"#PLAYLIST:{one_line(' / '.join(result['queries'][:1]))}"]
    for r in result["table"].to_dict("records"):
        lines += [f"#EXTINF:-1,{one_line(r['artist'])} - {one_line(r['song'])}",
                  MELON_SONG.format(one_line(r["song_id"]))]
    return "\n".join(lines) + "\n"


def one_line(text: object) -> str:
    return " ".join(str(text).split())


def playlist_csv(result: dict) -> str:
    """The result's songs as a playlist CSV: rank, title, artist, year, song_id, score, why."""
    table = result["table"].rename(columns={"song": "title", score_column(result): "score", "shared_emotions": "why"})
    return table[["rank", "title", "artist", "year", "song_id", "score", "why"]].to_csv(index=False)


def markdown_tables(result: dict) -> list[str]:
    (score, why), columns = column_titles(result), ("rank", "song", "artist", score_column(result), "shared_emotions")
    lines = [f"_{EXPLANATIONS[result['score']]}_", ""]
    for query, rows in grouped(result):
        lines += [f"### {query}", "", f"| Rank | Song | Artist | {score} | {why} |", "|---" * 5 + "|"]
        lines += ["| " + " | ".join(str(r[c]).replace("|", "\\|") for c in columns) + " |" for r in rows]
        lines.append("")
    return lines


def display_width(s: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in s)  # Hangul takes two columns


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    cells = [headers, *[[str(c) for c in r] for r in rows]]
    widths = [max(display_width(r[j]) for r in cells) for j in range(len(headers))]
    lines = ["  ".join(c + " " * (w - display_width(c)) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in cells]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def print_recommendations(result: dict, max_queries: int = 3) -> None:
    if result.get("note"):
        print(f"note: {result['note']}")
    score, why = column_titles(result)
    print(EXPLANATIONS[result["score"]])
    for query, rows in grouped(result, max_queries):
        space = "" if result["score"] == "strength" else f"  [{result['representation']}]"
        verb = {"strength": "carrying", "path": "on the way from"}.get(result["score"], "like")
        print(f"\nSongs {verb} {query}{space}")
        print(format_table(["Rank", "Song", "Artist", score, why],
                           [[r["rank"], r["song"][:30], r["artist"][:20], f"{r[score_column(result)]:.3f}",
                             r["shared_emotions"]] for r in rows]) if rows else "(no song passes the filters)")
    if len(result["queries"]) > max_queries:
        print(f"\n... and {len(result['queries']) - max_queries} more queries in "
              f"{result['outputs'].get('recommendations')}")
