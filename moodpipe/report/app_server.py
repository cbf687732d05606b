"""The app's HTTP server (`python recommend.py --serve`): routes, and the manners of a local server.

    the port is bound before the model loads   a busy port is said at once, not after the model's minute
    REQUEST_TIMEOUT                             a client that stops sending is dropped, its thread freed
    BACKLOG                                     connections waiting to be accepted (http.server's default: 5)
    LOCAL_HOSTS + the bound host                the only Host headers answered (a page elsewhere, through DNS
                                                rebinding, gets 403)
    malformed requests                          400 with one line; a client that hangs up is logged on one
                                                quiet line, never as a 500
    HEAD                                        GET's headers without the body

Every answer is JSON {"error": one line} on failure; the server keeps serving.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from moodpipe.files import InputError
from moodpipe.paths import Layout
from moodpipe.report.app import App, AppError, one
from moodpipe.report.explorer import PLOTLY_FILE
from moodpipe.report.recommendations import playlist_csv, playlist_m3u

log = logging.getLogger("pipeline")

PAGE = Path(__file__).with_name("app_template.html")
MAX_BODY = 1 << 20  # bytes of a POSTed query
REQUEST_TIMEOUT = 10  # seconds a client may take to send its request (and to read the answer)
BACKLOG = 128  # connections the kernel queues before accept(); 50 browsers at once must not be dropped
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
HANGUPS = (ConnectionError, TimeoutError)  # the client went away: nothing to answer, nothing to report
PLAYLISTS = {"/api/playlist.csv": ("csv", "text/csv; charset=utf-8"),
             "/api/playlist.m3u8": ("m3u8", "audio/x-mpegurl; charset=utf-8"),
             "/api/playlist.m3u": ("m3u8", "audio/x-mpegurl; charset=utf-8")}  # the old name: the same UTF-8 file
BOM = "\ufeff"  # spreadsheet programs read a CSV as UTF-8 only with it (Excel garbles Hangul without)


def host_allowed(host_header: str | None, bound: str) -> bool:
    """Whether a request's Host names this machine: 127.0.0.1, localhost, ::1 or the address the server is bound
    to; bound to every interface (0.0.0.0, ::), any IP address too, never another name.

    >>> host_allowed("localhost:8000", "127.0.0.1"), host_allowed("evil.example:8000", "127.0.0.1")
    (True, False)
    >>> host_allowed("[::1]:8000", "127.0.0.1"), host_allowed("192.168.0.7:80", "0.0.0.0")
    (True, True)
    """
    if host_header is None:  # HTTP/1.0 clients may leave it out; browsers always send it
        return True
    name = urlsplit(f"//{host_header.strip()}").hostname or ""
    if name in (*LOCAL_HOSTS, bound):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return bound in ("0.0.0.0", "::", "")


class Handler(BaseHTTPRequestHandler):
    app: App  # set on the subclass make_server builds
    server_version = "moodpipe-app"
    timeout = REQUEST_TIMEOUT  # StreamRequestHandler sets it on the socket

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlsplit(self.path)
        self.answer_safely(lambda: self.route(url.path, parse_qs(url.query, keep_blank_values=True)))

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()  # send() leaves the body out

    def do_POST(self) -> None:  # noqa: N802
        self.answer_safely(lambda: self.route(urlsplit(self.path).path, self.posted()))

    def body_size(self) -> int:
        given = (self.headers.get("Content-Length") or "0").strip()
        if not given.isdigit():
            raise AppError(400, f"Content-Length must be a whole number of bytes, not {given!r}")
        if int(given) > MAX_BODY:
            raise AppError(413, f"the query is {int(given):,} bytes; the app reads at most {MAX_BODY:,}")
        return int(given)

    def posted(self) -> dict[str, list[str]]:
        """A POSTed query: JSON ({"text": "...", "emotion": ["슬픔"]}) or a form, as parse_qs would give it."""
        body = self.rfile.read(self.body_size()).decode("utf-8", errors="replace")
        if not (self.headers.get("Content-Type") or "").startswith("application/json"):
            return parse_qs(body, keep_blank_values=True)
        try:
            given = json.loads(body or "{}")
        except json.JSONDecodeError as e:
            raise AppError(400, f"the body is not JSON: {e.msg} at character {e.pos}") from None
        if not isinstance(given, dict):
            raise AppError(400, "the body must be a JSON object of query fields")
        return {k: [json_field(x) for x in (v if isinstance(v, list) else [v]) if x is not None]
                for k, v in given.items() if v is not None}  # null: the field is absent

    def answer_safely(self, answer) -> None:
        try:
            if not host_allowed(self.headers.get("Host"), self.server.server_address[0]):
                raise AppError(403, f"this server answers requests for {' or '.join(LOCAL_HOSTS[:2])}, not "
                               f"{self.headers.get('Host')!r}: pages on other sites may not use it")
            answer()
        except AppError as e:
            self.send_json({"error": self.app.public(str(e))}, e.status)
        except HANGUPS:
            self.hung_up()
        except Exception as e:  # a bug must not end the server nor show a stack trace to the person asking
            log.exception("app: %s failed", self.path)
            self.send_json({"error": f"internal error ({type(e).__name__}); the server log has the details"}, 500)

    def hung_up(self) -> None:
        self.close_connection = True
        log.info("app: %s %s: the client went away", self.command, self.path)

    def route(self, path: str, params: dict[str, list[str]]) -> None:
        if path in ("/", "/index.html"):
            self.send(PAGE.read_bytes(), "text/html; charset=utf-8")
        elif path == "/explorer":
            page = Layout(Path(self.app.out)).explorer
            if not page.is_file():
                raise AppError(404, f"no explorer page at {page}: build it with `python generate_graphs.py`")
            self.send(page.read_bytes(), "text/html; charset=utf-8")
        elif path == f"/{PLOTLY_FILE}":  # the explorer's charts load it from beside the page
            script = Layout(Path(self.app.out)).explorer.with_name(PLOTLY_FILE)
            if not script.is_file():
                raise AppError(404, f"no {PLOTLY_FILE} beside the explorer page: `python generate_graphs.py` writes it")
            self.send(script.read_bytes(), "text/javascript; charset=utf-8", {"Cache-Control": "max-age=86400"})
        elif path == "/api/info":
            self.send_json(self.app.info())
        elif path == "/api/search":
            self.send_json({"songs": self.app.search(one(params, "q") or "")})
        elif path == "/api/recommend":
            answer = self.app.answer(params)
            answer.pop("_result")
            self.send_json(answer)
        elif path in PLAYLISTS:
            result = self.app.answer(params)["_result"]
            ext, content_type = PLAYLISTS[path]
            body = BOM + playlist_csv(result) if ext == "csv" else playlist_m3u(result)
            self.send(body.encode("utf-8"), content_type,
                      {"Content-Disposition": f"attachment; filename=playlist.{ext}"})
        else:
            raise AppError(404, f"no page {path}; try / or /api/recommend?text=...")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a request line over 64 KB, a bad request) as JSON too."""
        hint = "; POST long texts to /api/recommend" if code == 414 else ""
        self.close_connection = True
        self.request_version = "HTTP/1.0"  # a garbled request line still gets a status line
        self.send_json({"error": f"{message or HTTPStatus(code).phrase}{hint}"}, code)

    def send_json(self, obj: dict, status: int = 200) -> None:
        self.send(json.dumps(obj, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8",
                  status=status)

    def send(self, body: bytes, content_type: str, headers: dict | None = None, status: int = 200) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except HANGUPS:
            self.hung_up()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's signature)
        log.info("app: %s", format % args)


class AppServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with a real backlog; a client that hangs up mid-request is one quiet log line."""
    request_queue_size = BACKLOG
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], HANGUPS):
            log.info("app: %s went away", client_address[0])
        else:
            log.exception("app: a request from %s failed", client_address[0])


def json_field(value: object) -> str:
    """A JSON value as the query string would carry it: true/false as 1/0, numbers and text as written."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return value if isinstance(value, str) else json.dumps(value)


def make_server(app: App, host: str = "127.0.0.1", port: int = 0) -> AppServer:
    """A server for the app, bound now (port 0: any free port; server.server_address says which)."""
    handler = type("AppHandler", (Handler,), {"app": app})
    return AppServer((host, port), handler)


def serve(app: App, host: str = "127.0.0.1", port: int = 8000) -> dict:
    """recommend.py --serve: bind the port (a busy one is said at once), load once, then answer until Ctrl-C.
    Requests that arrive while the model loads wait in the backlog."""
    try:
        server = make_server(app, host, port)
    except OSError as e:
        raise InputError(f"cannot listen on {host}:{port}: {e.strerror}; pass another --port") from None
    url = f"http://{host}:{server.server_address[1]}/"
    print(f"moodpipe app: loading the song vectors and the model for {url} ...", flush=True)
    try:
        app.warm_up()
    except AppError as e:  # start anyway: the page says what is missing, and the files may appear
        log.warning("app: %s", e)
    print(f"moodpipe app: {url} (Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return {"url": url, "status": HTTPStatus.OK}
