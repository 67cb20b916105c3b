"""Fixtures of the browser tests: the system's Chromium for pytest-playwright, the built book served over HTTP,
and one visit of each page shared by the tests of that page."""

import os
from pathlib import Path

import pytest

import site_checks

ROOT = Path(__file__).resolve().parents[2]
# the HTML folder under test: BOOK_HTML_DIR (relative to the repository) or the one `make book` builds
HTML = ROOT / os.environ.get("BOOK_HTML_DIR", "_build/html")
TOC = ROOT / "_toc.yml"
WORKERS = 2  # pages visited at a time, each in its own thread and Chromium


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, playwright):
    """pytest-playwright's launch options plus the system's Chromium (Playwright's own download needs internet);
    the tests fail, naming both ways to install one, when there is no Chromium at all."""
    try:
        return {**browser_type_launch_args, **site_checks.chromium_launch_args(playwright.chromium.executable_path)}
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def book_html():
    """The built book's HTML folder; the tests fail when there is none (run `make book` first)."""
    try:
        return site_checks.book_folder(HTML)
    except FileNotFoundError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def book_url(book_html):
    """The base URL of the book served over HTTP on 127.0.0.1 (a thread of this process)."""
    with site_checks.serve(book_html) as url:
        yield url


@pytest.fixture(scope="session")
def screenshots(book_html):
    """The folder of the pages' screenshots: _build/screenshots beside _build/html."""
    folder = book_html.parent / "screenshots"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def visits(browser_type_launch_args, book_url, screenshots):
    """``visits(page_path)``: the :class:`site_checks.Visit` of a page of the book. Every page is visited once,
    at the first use, two at a time (the machine's two cores); the tests then read what each visit found."""
    done = site_checks.visit_all(site_checks.toc_pages(TOC), book_url, screenshots, browser_type_launch_args,
                                 sidebar_pages=site_checks.toc_pages(TOC), workers=WORKERS)

    def get(page_path: str) -> site_checks.Visit:
        if isinstance(done[page_path], Exception):
            raise done[page_path]
        return done[page_path]

    return get

