"""A stand-in for the Hugging Face hub on 127.0.0.1: the few endpoints that huggingface_hub's model_info()
and snapshot_download() call when HF_ENDPOINT points here, serving model folders from disk, and switches
that make it fail the ways a real network does (an error status, a cut connection, a server that goes away).

    GET  /api/models/<repo>[/revision/<rev>]      model info: id, sha (the commit), siblings
    GET  /api/models/<repo>/tree/<rev>            the file listing snapshot_download caches
    HEAD /<repo>/resolve/<rev>/<file>             X-Repo-Commit, ETag, Content-Length: the file's metadata
    GET  /<repo>/resolve/<rev>/<file>             the bytes; `Range: bytes=N-` answers 206 (resumed downloads)

It also serves plain files (`add_file`) for the data step's URL downloads.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit


@dataclass
class Faults:
    """What to break. status: every request gets it (the hub is down / the repo is gone);
    file_status: a GET of these file names gets the status (HEAD still answers: a mid-download failure);
    cut: these file names are cut off after half their bytes, `cut_times` times, then served whole;
    stop_after_cut: the server goes away after a cut (later requests are refused)."""
    status: int | None = None
    file_status: dict[str, int] = field(default_factory=dict)
    cut: set[str] = field(default_factory=set)
    cut_times: int = 1
    stop_after_cut: bool = False


class HubStandin:
    def __init__(self) -> None:
        self.repos: dict[str, dict[str, bytes]] = {}  # repo id -> file name -> bytes
        self.files: dict[str, bytes] = {}  # URL path -> bytes (plain downloads)
        self.faults = Faults()
        self.requests: list[str] = []  # "METHOD path" in arrival order
        self.cuts_done = 0
        self.url = ""
        self._server: http.server.ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ content

    def add_repo(self, repo_id: str, folder: Path, extra: dict[str, bytes] | None = None) -> None:
        """Serve every file under folder as repo_id; extra adds files (e.g. TF weights nobody should fetch)."""
        files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
        self.repos[repo_id] = {**files, **(extra or {})}

    def add_file(self, path: str, data: bytes) -> str:
        self.files[path] = data
        return f"{self.url}{path}"

    @staticmethod
    def commit(repo_id: str) -> str:
        return hashlib.sha1(repo_id.encode()).hexdigest()  # 40 hex digits, like a git commit

    def fetched(self, repo_id: str) -> set[str]:
        """The repo's file names that were downloaded (GET)."""
        prefix = f"GET /{repo_id}/resolve/"
        return {r[len(prefix):].split("/", 1)[1] for r in self.requests if r.startswith(prefix)}

    # ------------------------------------------------------------------ server

    def start(self) -> HubStandin:
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.url = f"http://127.0.0.1:{self._server.server_port}"  # kept after stop(): refused from then on
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket: a later connection is refused at once
        (a socket left listening would accept connections that nobody answers)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()


def _handler_for(hub: HubStandin) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        # HTTP/1.0: one request per connection, so a cut connection affects that request only
        protocol_version = "HTTP/1.0"

        def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
            self.answer(body=False)

        def do_GET(self) -> None:  # noqa: N802
            self.answer(body=True)

        def log_message(self, *args) -> None:
            pass

        def answer(self, body: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            hub.requests.append(f"{self.command} {path}")
            if hub.faults.status is not None:
                return self.error(hub.faults.status, "Injected")
            if path in hub.files:
                return self.send_bytes(path.rsplit("/", 1)[-1], hub.files[path], {}, body)
            if path.startswith("/api/models/"):
                return self.api(path[len("/api/models/"):])
            if "/resolve/" in path:
                return self.resolve(path, body)
            self.error(404, "EntryNotFound")

        def api(self, rest: str) -> None:
            repo_id = next((r for r in hub.repos if rest == r or rest.startswith(r + "/")), None)
            if repo_id is None:
                return self.error(404, "RepoNotFound")
            commit, files = hub.commit(repo_id), hub.repos[repo_id]
            if rest[len(repo_id):].startswith("/tree/"):
                listing = [{"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                           for name, data in files.items()]
                return self.send_json(listing)
            self.send_json({"id": repo_id, "sha": commit, "siblings": [{"rfilename": n} for n in files]})

        def resolve(self, path: str, body: bool) -> None:
            repo_id, rest = path[1:].split("/resolve/", 1)
            _revision, _, name = rest.partition("/")
            files = hub.repos.get(repo_id)
            if files is None:
                return self.error(404, "RepoNotFound")
            if name not in files:
                return self.error(404, "EntryNotFound", {"X-Repo-Commit": hub.commit(repo_id)})
            if body and name in hub.faults.file_status:
                return self.error(hub.faults.file_status[name], "Injected")
            self.send_bytes(name, files[name], {"X-Repo-Commit": hub.commit(repo_id)}, body)

        def send_bytes(self, name: str, data: bytes, headers: dict[str, str], body: bool) -> None:
            start = self.range_start(len(data))
            self.send_response(206 if start else 200)
            headers = {**headers, "ETag": f'"{hashlib.sha256(data).hexdigest()}"', "Accept-Ranges": "bytes",
                       "Content-Length": str(len(data) - start)}
            if start:
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if not body:
                return
            if name in hub.faults.cut and hub.cuts_done < hub.faults.cut_times:
                return self.cut(data[start:])
            self.wfile.write(data[start:])

        def cut(self, data: bytes) -> None:
            """Half the promised bytes, then the connection closes (and the server goes, when asked)."""
            hub.cuts_done += 1
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            if hub.faults.stop_after_cut:
                hub.stop()  # from this handler's thread: shutdown() waits for serve_forever in another thread

        def range_start(self, size: int) -> int:
            asked = self.headers.get("Range", "")
            if asked.startswith("bytes=") and asked.endswith("-"):
                return min(int(asked[len("bytes="):-1]), size)
            return 0

        def send_json(self, value: object) -> None:
            data = json.dumps(value).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(data)

        def error(self, status: int, code: str, headers: dict[str, str] | None = None) -> None:
            data = json.dumps({"error": code}).encode()
            self.send_response(status)
            self.send_header("X-Error-Code", code)  # how the hub tells a missing repo from a missing file
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(data)

    return Handler
