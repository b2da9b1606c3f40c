from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from tests.browser.pages import ARGS, CHROMIUM


@pytest.fixture
async def browser():
    assert Path(CHROMIUM).exists(), "Chromium is needed for the browser tests (apt-get install chromium)"
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()
