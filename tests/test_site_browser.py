"""The published site opened by a real headless Chromium (file://, no server).

Skips only when no Chromium binary is installed (CI installs Debian's ``chromium``).
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageStat

import suite.cli
from test_aggregate import make_store

pytestmark = pytest.mark.browser

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome", "chrome")
                 if shutil.which(n)), None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("no chromium binary on PATH (install Debian's `chromium` to run browser tests)")
    root = tmp_path_factory.mktemp("site")
    make_store(root / "store")
    mp = pytest.MonkeyPatch()
    mp.setattr(suite.cli, "SUBCOMMANDS", {"report": "suite.report.cli", "publish": "suite.report.cli"})
    try:
        assert suite.cli.main(["publish", "--store", str(root / "store"), "--out", str(root / "results")]) == 0
    finally:
        mp.undo()
    return root


def chromium(root: Path, *args: str) -> subprocess.CompletedProcess:
    index = (root / "results" / "index.html").resolve()
    profile = root / f"profile-{len(list(root.glob('profile-*')))}"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, index.as_uri()],
                          capture_output=True, text=True, timeout=120)


def test_dom_has_tables_images_and_label(site):
    proc = chromium(site, "--dump-dom")
    dom = proc.stdout
    assert proc.returncode == 0 and "<html" in dom, proc.stderr[-2000:]
    for name in ("leaderboard-classification", "leaderboard-lm", "deltas", "ranks", "published-vs-reproduced"):
        assert re.search(rf'<table[^>]*class="{name}"', dom), name
    assert dom.count("<tr") > 10
    imgs = re.findall(r'<img[^>]*src="([^"]+)"', dom)
    pngs = sorted((site / "results" / "plots").glob("*.png"))
    assert len(imgs) == len(pngs) >= 8
    for src in imgs:
        assert not re.match(r"^(/|[a-z]+:)", src), f"{src} is not a relative link"
        assert (site / "results" / src).is_file(), src
    assert "Smoke-scale results on a 2-core CPU, not paper-scale" in dom
    assert "abc123def4567890" in dom  # provenance block


def test_screenshot_is_not_blank(site):
    shot = site / "shot.png"
    proc = chromium(site, "--window-size=1280,2400", "--hide-scrollbars", f"--screenshot={shot}")
    assert shot.is_file(), proc.stderr[-2000:]
    with Image.open(shot) as im:
        assert im.size == (1280, 2400)
        gray = im.convert("L")
        assert ImageStat.Stat(gray).stddev[0] > 20  # text, tables and plots, not an empty page
        assert len(im.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 200


MEASURE = """<script>
const tables = [...document.querySelectorAll("table")].map(t => ({
  cls: t.className, right: Math.ceil(t.getBoundingClientRect().right),
  overflow: t.parentElement.scrollWidth - t.parentElement.clientWidth}));
const out = document.createElement("pre");
out.id = "measure";
out.textContent = JSON.stringify({viewport: window.innerWidth,
  page: document.documentElement.scrollWidth, tables: tables});
document.body.appendChild(out);
</script>"""


def measure_at_1400px(page: Path, work: Path) -> dict:
    """The browser's own layout of ``page`` in a 1400 px window: viewport, page and table widths."""
    import json

    measured = page.with_name("measure.html")
    measured.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    proc = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={work / 'profile-measure'}", "--window-size=1400,1000",
                           "--dump-dom", measured.resolve().as_uri()], capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="measure">(.*?)</pre>', proc.stdout, re.S)
    assert found, proc.stderr[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"'))


def assert_no_horizontal_scrolling(data: dict) -> None:
    assert 1300 <= data["viewport"] <= 1400, data["viewport"]
    assert data["page"] <= data["viewport"], data
    for table in data["tables"]:
        assert table["overflow"] <= 0 and table["right"] <= data["viewport"], table


def test_every_table_fits_1400px_without_horizontal_scrolling(site):
    """At a 1400 px window no table is wider than the page or its scroll box, and the page
    itself does not scroll sideways (measured by the browser's own layout)."""
    data = measure_at_1400px(site / "results" / "index.html", site)
    assert {t["cls"] for t in data["tables"]} >= {"leaderboard-classification", "leaderboard-lm", "deltas", "ranks"}
    assert_no_horizontal_scrolling(data)


def test_the_committed_board_fits_1400px(tmp_path):
    """The same measure on the committed results/index.html (25 rows, speed columns), copied
    with its plots so the page lays out as it does in the repository."""
    if CHROMIUM is None:
        pytest.skip("no chromium binary on PATH (install Debian's `chromium` to run browser tests)")
    committed = Path(__file__).resolve().parents[1] / "results"
    shutil.copytree(committed, tmp_path / "results", ignore=shutil.ignore_patterns("asv"))
    data = measure_at_1400px(tmp_path / "results" / "index.html", tmp_path)
    assert {t["cls"] for t in data["tables"]} >= {"leaderboard-classification", "leaderboard-lm",
                                                  "leaderboard-detection"}
    assert_no_horizontal_scrolling(data)
