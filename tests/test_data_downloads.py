"""The data step's public downloads (moodpipe/downloads.py) against a local server (the hub stand-in's plain
file serving): progress bar, checksum, and a failing server answered in one line with no file left behind."""

from __future__ import annotations

import hashlib

import pytest
from hub_standin import Faults, HubStandin

from moodpipe import paths
from moodpipe.data import downloads
from moodpipe.data.downloads import ensure_inputs
from moodpipe.files import InputError

BODY = b"content,score\n" + b"".join(b"review number %d,%d\n" % (i, 1 + i % 5) for i in range(20_000))
GOEMOTIONS = paths.GOEMOTIONS_FILES[0]  # goemotions/original/train.tsv


@pytest.fixture
def server(monkeypatch):
    """The stand-in serving a reviews file and a GoEmotions file, with the module's URL table pointed at it."""
    hub = HubStandin().start()
    sha = hashlib.sha256(BODY).hexdigest()
    monkeypatch.setattr(downloads, "DOWNLOADS", {
        paths.REVIEWS: (hub.add_file("/reviews.csv", BODY), sha),
        GOEMOTIONS: (hub.add_file("/train.tsv", b"so happy\t17\tid1\n"), "0" * 64),  # a checksum it will not match
    })
    yield hub
    hub.stop()


def leftovers(data_dir) -> list[str]:
    return sorted(p.relative_to(data_dir).as_posix() for p in data_dir.rglob("*") if p.is_file())


def test_a_public_input_is_downloaded_with_a_progress_bar_and_its_checksum(server, tmp_path, capsys):
    info = ensure_inputs(tmp_path, [paths.REVIEWS])
    assert info["downloaded"] == [paths.REVIEWS]
    assert (tmp_path / paths.REVIEWS).read_bytes() == BODY
    bar = capsys.readouterr().err
    assert "spotify_googleplay_10k.csv" in bar and "100%" in bar
    assert ensure_inputs(tmp_path, [paths.REVIEWS])["downloaded"] == []  # there now: not fetched again
    assert server.requests == ["GET /reviews.csv"]


def test_a_checksum_mismatch_is_an_error_naming_the_file_and_keeps_nothing(server, tmp_path):
    with pytest.raises(InputError, match="train.tsv: downloaded from .*, but its SHA-256 is") as error:
        ensure_inputs(tmp_path, [GOEMOTIONS])
    assert "\n" not in str(error.value)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("fault, why", [
    (Faults(cut={"reviews.csv"}), "ChunkedEncodingError"),  # the connection is cut after half the file
    (Faults(cut={"reviews.csv"}, stop_after_cut=True), "ChunkedEncodingError"),  # ... and the server goes away
    (Faults(status=500), "HTTPError: 500 Server Error"),
    (Faults(status=404), "HTTPError: 404 Client Error"),
])
def test_a_failed_download_is_one_line_and_leaves_no_file(server, tmp_path, fault, why):
    server.faults = fault
    with pytest.raises(InputError) as error:
        ensure_inputs(tmp_path, [paths.REVIEWS])
    message = str(error.value).splitlines()
    assert len(message) == 2 and message[1].startswith(f"  - {paths.REVIEWS}: download failed ({why}")
    assert leftovers(tmp_path) == []  # no partial file at the final path, and no temporary file either


def test_a_closed_port_fails_at_once(server, tmp_path):
    server.stop()
    with pytest.raises(InputError, match="download failed \\(ConnectionError"):
        ensure_inputs(tmp_path, [paths.REVIEWS, GOEMOTIONS])
    assert leftovers(tmp_path) == []
