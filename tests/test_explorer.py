"""results/explorer.html, built from small fixture catalogues: the same neighbours as recommend.py on screen in
headless Chromium, for every filter in a probability and in an embedding default (features), a phone without
horizontal scroll, hash and Back, the heatmap's colours, the quick-run banner and the retrieval panel, a page that
says so when there is no catalogue, and titles holding HTML shown as text. python -m pytest -q -rs
tests/test_explorer.py (the browser tests are skipped, with their reason, where Chromium is not installed:
.ci/run installs it with apt-get)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import COLUMNS, MAJORS, horizontal_overflow, set_viewport, write_song_vectors

import generate_graphs
from moodpipe.context import RunContext
from moodpipe.recommend.catalogue import load_song_vectors
from moodpipe.recommend.queries import RecommendConfig, recommend
from moodpipe.recommend.representations import LOG_FLOOR, fit_representation
from moodpipe.recommend.topk import normalize_rows
from moodpipe.report.explorer import PLOTLY_FILE, explorer_path, representation_specs, write_explorer
from moodpipe.report.recommendations import write_recommendations

XSS_TITLE = "<img src=x onerror=window.__xss=1>"
SCRIPT_TITLE = "</script><script>window.__xss=2</script>"
TITLES = ["눈물", "눈물의 바다", "봄날", "사랑했지만", "비", "밤편지", "좋은 날", "Tell Me", "거짓말", "Gee",
          "벚꽃 엔딩", "너의 의미", "첫눈처럼", "이별택시", "소주 한 잔", "여수 밤바다", "점점", "하루", "바람", "꽃",
          "Blueming", "Love Poem", XSS_TITLE, SCRIPT_TITLE]
ARTISTS = [f"가수{i % 5}" for i in range(20)] + ["IU", "IU", "<b>bold</b>", "가수1"]
SAVED_REPRESENTATION = "zscore"  # not the built-in default: the page must follow the saved one, as the CLI does

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,2400"]


def write_catalogue(root: Path, n: int | None = None) -> Path:
    """A song_emotions.csv like lyrics_emotion.py writes (metadata, emo: columns, major: sums), one song
    without a year, and the recommend stage's choice of representation beside it."""
    n = len(TITLES) if n is None else n
    dates = ["" if title == "점점" else f"{2000 + i}.01.01" for i, title in enumerate(TITLES[:n])]
    path = write_song_vectors(root, TITLES[:n], ARTISTS[:n], release_dates=dates)
    (root / "results" / "representation.json").write_text(json.dumps({"representation": SAVED_REPRESENTATION}))
    return path


def write_other_artifacts(root: Path) -> None:
    """A sentiment metrics.json (its model name holding HTML) and one figure."""
    import matplotlib.pyplot as plt
    folder = root / "saved_model" / "sentiment"
    folder.mkdir(parents=True)
    scores = {"accuracy": 0.9, "macro_f1": 0.88}
    (folder / "metrics.json").write_text(json.dumps({
        "base_model": {"name": "<i>MiniLM</i>"}, "test": scores,
        "baselines": {"tfidf_logreg": {"accuracy": 0.85, "macro_f1": 0.8}, "majority": {"accuracy": 0.6,
                                                                                        "macro_f1": 0.4}}}))
    (root / "sample_graphs").mkdir()
    plt.imsave(root / "sample_graphs" / "tiny.png", np.random.default_rng(0).random((8, 8)))


def page_data(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    found = re.search(r'<script id="explorer-data" type="application/json">(.*?)</script>', text, re.S)
    return json.loads(found.group(1))


def cli_rows(root: Path, song_id: str, **filters) -> list[dict]:
    """What `python recommend.py --song-id ID [filters]` lists (the same function recommend.py calls)."""
    return recommend(RunContext(root), RecommendConfig(song_id=song_id, **filters))["table"].to_dict("records")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("explorer")
    write_catalogue(root)
    write_other_artifacts(root)
    write_explorer(root)
    return root


# ----------------------------------------------------------------------------- the page's data

def test_building_leaves_catalogue_outputs_untouched(built):
    cat = page_data(explorer_path(built))["catalogue"]
    assert cat["default_representation"] == SAVED_REPRESENTATION
    assert "precomputed" not in cat["representations"][SAVED_REPRESENTATION]  # a probability space: computed in page
    # recommend(all_songs=True) ran in a temporary output root: no catalogue output appeared here
    assert not (built / "results" / "recommendations.csv").exists()
    assert not (built / "results" / "heatmap_songs.csv").exists()


def test_browser_transforms_reproduce_fit_representation(built):
    """The page's transform (base * scale + offset, written in its JavaScript) gives fit_representation's."""
    meta, probs, columns = load_song_vectors(built / "results" / "song_emotions.csv")
    groups = np.array([[c.startswith(f"emo:{m}/") for m in MAJORS] for c in columns], dtype=float)
    bases = {"identity": lambda p: p, "log": lambda p: np.log(np.clip(p, LOG_FLOOR, None)),
             "groups": lambda p: p @ groups}
    specs = representation_specs(probs, columns)
    assert set(specs) == {"raw", "centered", "zscore", "log", "major6"}
    for name, spec in specs.items():
        page = bases[spec["base"]](probs) * np.array(spec["scale"]) + np.array(spec["offset"])
        transform, features = fit_representation(probs, columns, name)
        assert spec["features"] == features
        np.testing.assert_allclose(normalize_rows(page), normalize_rows(transform(probs)), atol=1e-12)


def test_heatmap_is_read_not_rewritten(tmp_path):
    write_catalogue(tmp_path)
    result = recommend(RunContext(out=tmp_path, seed=7), RecommendConfig(all_songs=True))  # another seed
    write_recommendations(result, tmp_path)
    before = (tmp_path / "results" / "heatmap_songs.csv").read_bytes()
    data = page_data(write_explorer(tmp_path))
    assert (tmp_path / "results" / "heatmap_songs.csv").read_bytes() == before
    assert data["heatmap"]["labels"] == pd.read_csv(tmp_path / "results" / "heatmap_songs.csv").song.tolist()


def test_generate_graphs_writes_the_page(tmp_path):
    write_catalogue(tmp_path, n=12)
    written = generate_graphs.main(["--out", str(tmp_path)])
    assert explorer_path(tmp_path) in written and explorer_path(tmp_path).stat().st_size > 10_000
    assert (explorer_path(tmp_path).parent / PLOTLY_FILE).stat().st_size > 1_000_000  # Plotly beside the page


# ----------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("catalogue", ["missing", "header only"])
def test_a_page_without_a_catalogue_says_so(tmp_path, catalogue):
    if catalogue == "header only":
        (tmp_path / "results").mkdir()
        (tmp_path / "results" / "song_emotions.csv").write_text("song_id,song_name,artist," + ",".join(COLUMNS) + "\n")
    text = write_explorer(tmp_path).read_text(encoding="utf-8")
    assert "No song catalogue to explore" in text
    assert ("song_emotions.csv" in text) and (catalogue != "header only" or "no data rows" in text)
    assert page_data(explorer_path(tmp_path))["catalogue"] is None


def test_html_in_titles_is_data_never_markup(built):
    text = explorer_path(built).read_text(encoding="utf-8")
    assert XSS_TITLE not in text and SCRIPT_TITLE not in text and "<b>bold</b>" not in text
    assert "&lt;i&gt;MiniLM&lt;/i&gt;" in text and "<i>MiniLM</i>" not in text  # the metrics table, escaped
    songs = page_data(explorer_path(built))["catalogue"]["songs"]
    assert [s[1] for s in songs][-2:] == [XSS_TITLE, SCRIPT_TITLE]  # and JSON gives back the very same text


# ----------------------------------------------------------------------------- in a real browser

@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install -r requirements.txt)")
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        pytest.skip(f"no Chromium here ({', '.join(missing)} missing): install it with "
                    "`apt-get install -y chromium chromium-driver` (.ci/run does)")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in [*CHROME_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


def console_errors(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def wait_for(driver, condition, timeout: float = 20):
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(driver, timeout).until(lambda d: condition(d))


def pick(driver, typed: str, expected_title: str) -> None:
    """Type into the search box and click the suggestion with this title."""
    from selenium.webdriver.common.by import By
    box = driver.find_element(By.ID, "search")
    box.clear()
    box.send_keys(typed)
    items = wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#suggestions li[data-index]"))
    titles = [driver.execute_script("return arguments[0].firstChild.textContent", li) for li in items]
    assert expected_title in titles, (typed, titles)
    items[titles.index(expected_title)].click()
    wait_for(driver, lambda d: d.find_element(By.ID, "song-title").text == expected_title)


def shown_neighbours(driver) -> list[tuple[str, str, str]]:
    from selenium.webdriver.common.by import By
    rows = driver.find_elements(By.CSS_SELECTOR, "#neighbours tbody tr[data-song-id]")
    return [(r.get_attribute("data-song-id"), *[td.text for td in r.find_elements(By.TAG_NAME, "td")[4:6]])
            for r in rows]


def expected(rows: list[dict]) -> list[tuple[str, str, str]]:
    return [(r["song_id"], f"{r['similarity']:.4f}", r["shared_emotions"]) for r in rows]


def test_in_chromium_search_select_neighbours_filters_map(built, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    browser.get(explorer_path(built).as_uri())
    wait_for(browser, lambda d: d.execute_script("return document.querySelectorAll('#map .point').length") > 0)

    pick(browser, "TELL me", "Tell Me")  # case and spaces forgiven
    song_id = browser.execute_script("return location.hash").removeprefix("#song=")
    assert song_id == "1007"
    assert shown_neighbours(browser) == expected(cli_rows(built, song_id))
    assert len(shown_neighbours(browser)) == 10
    bars = browser.execute_script("return document.querySelectorAll('#profile-majors .point').length")
    assert bars == 2 * len(MAJORS)  # this song and the catalogue average, per major class
    assert browser.execute_script("return document.querySelectorAll('#profile-subs .point').length") > 0

    pick(browser, "눈 물", "눈물")  # Hangul, with a space the title lacks
    song_id = "1000"
    browser.find_element(By.ID, "exclude-artist").click()
    assert shown_neighbours(browser) == expected(cli_rows(built, song_id, exclude_same_artist=True))
    Select(browser.find_element(By.ID, "representation")).select_by_value("log")
    assert shown_neighbours(browser) == expected(cli_rows(built, song_id, exclude_same_artist=True,
                                                          representation="log"))
    browser.find_element(By.ID, "year-from").send_keys("2005")
    browser.find_element(By.ID, "year-to").send_keys("2019\t")
    assert shown_neighbours(browser) == expected(cli_rows(built, song_id, exclude_same_artist=True,
                                                          representation="log", year_from=2005, year_to=2019))
    browser.save_screenshot(str(tmp_path / "explorer.png"))
    print(f"screenshot: {tmp_path / 'explorer.png'}")

    point = browser.find_elements(By.CSS_SELECTOR, "#map .point")[0]
    from selenium.webdriver.common.action_chains import ActionChains
    ActionChains(browser).move_to_element(point).click().perform()
    wait_for(browser, lambda d: d.find_element(By.ID, "song-title").text != "눈물")
    assert console_errors(browser) == []


def test_in_chromium_html_titles_are_text(built, browser):
    from selenium.webdriver.common.by import By
    browser.get(explorer_path(built).as_uri())
    pick(browser, "img src", XSS_TITLE)
    pick(browser, "script", SCRIPT_TITLE)
    pick(browser, "bold", XSS_TITLE)  # found by its artist, whose HTML is text too
    assert browser.find_element(By.ID, "song-meta").text.startswith("<b>bold</b>")
    assert browser.execute_script("return window.__xss") is None
    assert browser.execute_script("return document.querySelectorAll('img[src=\"x\"], #song-meta b').length") == 0
    assert "<i>MiniLM</i>" in browser.find_element(By.CSS_SELECTOR, "table.metrics").text
    assert console_errors(browser) == []


def test_in_chromium_a_page_without_a_catalogue(browser, tmp_path):
    from selenium.webdriver.common.by import By
    browser.get(write_explorer(tmp_path).as_uri())
    assert "No song catalogue to explore" in browser.find_element(By.ID, "catalogue-problem").text
    assert not browser.find_element(By.ID, "song-ui").is_displayed()
    assert console_errors(browser) == []


def test_main_py_graphs_stage_writes_and_promises_the_page(tmp_path):
    import main as pipeline
    from moodpipe.stages.pipeline import PIPELINE, RunConfig
    graphs = next(s for s in PIPELINE if s.name == "graphs")
    assert explorer_path(tmp_path) in graphs.outputs(RunConfig(RunContext(out=tmp_path, data_dir=tmp_path)))
    write_catalogue(tmp_path, n=12)
    run = pipeline.main(["--stages", "graphs", "--out", str(tmp_path), "--data-dir", str(tmp_path), "--offline"])
    assert run["stages"]["graphs"]["status"] == "ran"
    assert len(page_data(explorer_path(tmp_path))["catalogue"]["songs"]) == 12


# ----------------------------------------------------------------------------- an embedding default (features)

FILTERS = [{}, {"exclude_same_artist": True}, {"year_from": 2005, "year_to": 2012},
           {"exclude_same_artist": True, "year_from": 2010}, {"year_to": 2003}]


@pytest.fixture(scope="module")
def features_page(app_root, tmp_path_factory) -> Path:
    """The page of the app fixture's catalogue (40 songs scored by a tiny model, default `features`), built with
    a depth of 15 so that narrow filters run out of precomputed neighbours."""
    import moodpipe.report.explorer as explorer
    depth, explorer.DEPTH = explorer.DEPTH, 15
    try:
        return write_explorer(app_root, path=tmp_path_factory.mktemp("page") / "explorer.html")
    finally:
        explorer.DEPTH = depth


def set_filters(driver, representation: str | None = None, exclude_same_artist: bool = False,
                year_from: int | None = None, year_to: int | None = None) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    box = driver.find_element(By.ID, "exclude-artist")
    if box.is_selected() != exclude_same_artist:
        box.click()
    for field, value in (("year-from", year_from), ("year-to", year_to)):
        driver.find_element(By.ID, field).clear()
        driver.find_element(By.ID, field).send_keys(f"{'' if value is None else value}\t")
    if representation:
        Select(driver.find_element(By.ID, "representation")).select_by_value(representation)


def test_in_chromium_every_filter_in_the_embedding_default_equals_the_cli(app_root, features_page, browser):
    """The default `features` space, every filter: the rows on screen are recommend.py's; when fewer than 10 of
    a song's 15 precomputed neighbours pass, the page shows exactly the CLI's first ones and says so."""
    from selenium.webdriver.common.by import By
    set_viewport(browser, 1400, 1000, mobile=False)
    browser.get(features_page.as_uri() + "#song=1004")
    wait_for(browser, lambda d: d.find_element(By.ID, "song-title").text == "노래 4")
    for song_id, title in (("1004", "노래 4"), ("1009", "Song 9")):
        browser.execute_script(f"location.hash = '#song={song_id}'")  # a typed hash is followed
        wait_for(browser, lambda d, t=title: d.find_element(By.ID, "song-title").text == t)
        for filters in FILTERS:
            set_filters(browser, **filters)
            cli = expected(cli_rows(app_root, song_id, **filters))
            shown = shown_neighbours(browser)
            note = browser.find_elements(By.CSS_SELECTOR, "#neighbours .depth-note")
            if len(cli) == 10 and not note:
                assert shown == cli, (song_id, filters)
            else:  # depth ran out: the CLI's first rows, and the page says how to get the rest
                assert shown == cli[:len(shown)] and len(shown) < 10, (song_id, filters)
                assert "nearest songs pass these filters" in note[0].text or "No song passes" in note[0].text
    set_filters(browser, year_to=2001)  # two years of 40 songs: beyond the 15 nearest, so the page must say so
    note = browser.find_element(By.CSS_SELECTOR, "#neighbours .depth-note").text
    assert "of this song's 15 nearest songs pass these filters" in note and "--year-to 2001" in \
        browser.find_element(By.ID, "neighbours-source").text
    assert console_errors(browser) == []


def test_in_chromium_first_screen_hash_and_back(app_root, features_page, browser):
    from selenium.webdriver.common.by import By
    browser.get(features_page.as_uri())
    title = wait_for(browser, lambda d: d.find_element(By.ID, "song-title").text)  # a song without asking
    assert title == "Song 0" and len(shown_neighbours(browser)) == 10
    assert "Try another" in browser.find_element(By.ID, "example").text
    pick(browser, "노래 13", "노래 13")
    pick(browser, "노래 28", "노래 28")
    browser.back()
    wait_for(browser, lambda d: d.find_element(By.ID, "song-title").text == "노래 13")
    assert browser.execute_script("return location.hash") == "#song=1013"
    assert console_errors(browser) == []


def test_in_chromium_heatmap_colours_match_the_png(tmp_path, browser):
    write_catalogue(tmp_path)
    write_recommendations(recommend(RunContext(tmp_path), RecommendConfig(all_songs=True)), tmp_path)
    browser.get(write_explorer(tmp_path).as_uri())
    wait_for(browser, lambda d: d.execute_script("return document.querySelectorAll('#heatmap .hm').length") > 0)
    top = browser.execute_script("const t = document.getElementById('heatmap')._fullData[0];"
                                 "return [t.reversescale, t.colorscale[t.colorscale.length - 1][1]]")
    assert top[0] is False and top[1] == "rgb(178,10,28)"  # +1 is red, as RdBu_r in song_similarity_heatmap.png


@pytest.mark.parametrize("quick", [True, False])
def test_in_chromium_quick_banner_and_retrieval_panel(tmp_path, browser, quick):
    from selenium.webdriver.common.by import By
    write_catalogue(tmp_path, n=12)
    (tmp_path / "results" / "run.json").write_text(json.dumps({"quick": quick, "stages": {}}))
    if not quick:
        (tmp_path / "results" / "retrieval_eval.json").write_text(json.dumps({"halves": {
            "recall_at_10": {"features": 0.4, "log": 0.3, "generic": 0.9}, "chance": 0.01}}))
    browser.get(write_explorer(tmp_path).as_uri())
    assert browser.find_element(By.ID, "quick-run").is_displayed() == quick
    if quick:
        assert "python recommend.py --evaluate" in browser.find_element(By.ID, "retrieval-missing").text
    else:
        rows = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#retrieval-table tbody tr")]
        assert rows[0].startswith("generic 0.9000") and rows[-1].startswith("chance 0.0100")


def test_in_chromium_a_phone_scrolls_only_down(app_root, features_page, browser, tmp_path):
    """390 x 844: no horizontal scroll, and the neighbours' shared emotions are on screen, not cut off."""
    from selenium.webdriver.common.by import By
    set_viewport(browser, 390, 844, mobile=True)
    try:
        browser.get(features_page.as_uri() + "#song=1004")
        wait_for(browser, lambda d: len(shown_neighbours(d)) == 10)
        assert horizontal_overflow(browser) <= 0
        cell = browser.find_element(By.CSS_SELECTOR, "#neighbours tbody tr td:nth-child(6)")
        assert cell.text and cell.rect["x"] + cell.rect["width"] <= 390
        browser.save_screenshot(str(tmp_path / "explorer-phone.png"))
        print(f"screenshot: {tmp_path / 'explorer-phone.png'}")
    finally:
        set_viewport(browser, 1400, 1000, mobile=False)


# ----------------------------------------------------------------------------- a fresh quick run; a light page

def test_the_graphs_stage_of_a_quick_run_marks_the_page_quick(tmp_path):
    """run.json is written after every stage, and the graphs stage built the page before it: a fresh quick run
    showed no banner and presented quick numbers as results."""
    from moodpipe.stages.pipeline import RunConfig, graphs_stage
    write_catalogue(tmp_path, n=12)
    (tmp_path / "results" / "run.json").write_text(json.dumps({"quick": False}))  # an earlier full run's
    graphs_stage(RunConfig(RunContext(out=tmp_path, data_dir=tmp_path), quick=True))
    assert page_data(explorer_path(tmp_path))["quick"] is True
    graphs_stage(RunConfig(RunContext(out=tmp_path, data_dir=tmp_path), quick=False))
    assert page_data(explorer_path(tmp_path))["quick"] is False


def test_in_chromium_the_page_is_light_interactive_at_once_and_the_search_box_empty(built, browser):
    """5.65 MB with 4.8 MB of inline Plotly, 17 s to interactive on a loaded machine; the search box started
    with the first song's title in it, so typing appended to it."""
    from selenium.webdriver.common.by import By
    page = explorer_path(built)
    assert page.stat().st_size < 200_000 and "Plotly.newPlot=" not in page.read_text(encoding="utf-8")
    set_viewport(browser, 1366, 900, mobile=False)
    browser.get(page.as_uri())
    ready = wait_for(browser, lambda d: d.execute_script("return window.explorerReady"))
    print(f"explorer ready after {ready:.0f} ms ({page.stat().st_size / 1e3:.0f} KB)")
    assert ready < 2000
    assert browser.find_element(By.ID, "song-title").text and browser.find_element(By.ID, "search").get_attribute(
        "value") == ""
    pick(browser, "봄날", "봄날")  # typed into an empty box: found
    assert browser.find_element(By.ID, "search").get_attribute("value") == ""
    wait_for(browser, lambda d: d.execute_script("return document.querySelectorAll('#map .point').length") > 0)
    assert console_errors(browser) == []
