"""The minutes of the sample meeting printed by Debian's Chromium (Playwright, as the other
browser tests): A4, at most five pages, self-contained, with the timeline in the PDF."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from playwright.async_api import async_playwright

from orchestrator.minutes import read_minutes, render_html
from orchestrator.minutes.render import CONNECTED_COLOUR
from orchestrator.timeline import KIND_COLOURS
from tests.browser.pages import ARGS, CHROMIUM
from tests.support.scripted import T0, sample_session

# The sample's two hours (13 segments, a called roll call of nine venues, twelve awards, a
# fallback and a restart) print on five pages; a table that listed every call or polling step
# on its own would need more.
MAX_PAGES = 5


def pdf_tool(*args: str) -> str:
    """Run a poppler-utils tool (apt-get install poppler-utils); its standard output."""
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout


def page_pixels(pdf: Path, page: int, tmp_path: Path) -> tuple[int, int, bytes]:
    """One page rendered at 40 dpi: (width, height, RGB bytes), from pdftoppm's PPM."""
    stem = tmp_path / f"page{page}"
    subprocess.run(["pdftoppm", "-r", "40", "-f", str(page), "-l", str(page), "-singlefile", str(pdf), str(stem)],
                   check=True, timeout=60)
    data = stem.with_suffix(".ppm").read_bytes()
    match = re.match(rb"P6\s+(\d+)\s+(\d+)\s+255\s", data)
    assert match, "pdftoppm wrote a binary PPM"
    return int(match[1]), int(match[2]), data[match.end():]


def pixels_of(colour: str, rgb: bytes) -> int:
    wanted = bytes.fromhex(colour.lstrip("#"))
    return sum(1 for i in range(0, len(rgb), 3) if rgb[i:i + 3] == wanted)


async def test_the_sample_meetings_minutes_print_on_a4_with_the_timeline(sample_conf, tmp_path):
    session = sample_session(sample_conf, tmp_path / "var")
    html = tmp_path / "minutes.html"
    html.write_text(render_html(read_minutes(sample_conf, session.path, T0 + 9000)), encoding="utf-8")
    pdf = tmp_path / "minutes.pdf"
    requested: list[str] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page()
            page.on("request", lambda request: requested.append(request.url))
            await page.goto(html.as_uri())
            await page.pdf(path=str(pdf), prefer_css_page_size=True, print_background=True)
        finally:
            await browser.close()
    assert requested == [html.as_uri()], "the page loads nothing but itself"

    info = pdf_tool("pdfinfo", str(pdf))
    pages = int(re.search(r"^Pages:\s+(\d+)$", info, re.M)[1])
    assert 1 <= pages <= MAX_PAGES, info
    assert re.search(r"^Page size:.*\(A4\)$", info, re.M), info

    first = pdf_tool("pdftotext", "-layout", "-f", "1", "-l", "1", str(pdf), "-")
    assert "Six Key Initiatives in Action" in first and "Timeline" in first
    # the timeline's own words (its row labels and legend), drawn in the SVG on the first page
    for label in ("Segments", "On air", "Faults and awards", "fallback / server restart", "award presented"):
        assert label in first, label
    assert "page 1 of" in first, "the page footer"
    everything = pdf_tool("pdftotext", "-layout", str(pdf), "-")
    for heading in ("Agenda", "Venues", "On air", "Roll call", "Awards presented", "Floor requests", "Microphones",
                    "Captions", "Faults"):
        assert re.search(rf"^\s*{heading}\s*$", everything, re.M), heading
    assert "server restarted" in everything and "Haining City" in everything

    # and it is a picture: the timeline's colours are on the first page
    _, _, rgb = page_pixels(pdf, 1, tmp_path)
    assert pixels_of(KIND_COLOURS["presiding"], rgb) > 20, "the segments band"
    assert pixels_of(CONNECTED_COLOUR, rgb) > 500, "the venues' connected bars"
