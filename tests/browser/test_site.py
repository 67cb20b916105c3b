"""The built book in a real browser (Chromium through Playwright), page by page: it loads without errors,
MathJax has rendered every formula, images load, internal links and anchors resolve, the sidebar reaches every
chapter, search finds each page by a word of its title, the Claims page has its summary table, and axe-core finds
no serious or critical accessibility violation. A full-page screenshot of each page goes to _build/screenshots/.

The second half runs the same checks on a tiny, deliberately broken site (negative controls): each check must
report the problem it exists for.
"""

import base64
import functools
from pathlib import Path

import pytest

import site_checks

TOC = Path(__file__).resolve().parents[2] / "_toc.yml"
PAGES = site_checks.toc_pages(TOC)  # the root page (index.html forwards to it) and every chapter


def _report(problems: list[str]) -> str:
    return "\n".join(problems)


@pytest.fixture
def page(browser):
    """A fresh browser page of the session's browser, closed after the test."""
    context = browser.new_context()
    yield context.new_page()
    context.close()


def test_index_forwards_to_the_root_page(page, book_url):
    problems = site_checks.watch_errors(page, book_url)
    site_checks.load(page, book_url + "index.html")
    assert page.url == book_url + PAGES[0], f"index.html led to {page.url}, not {PAGES[0]}"
    assert not problems, f"index.html:\n{_report(problems)}"


#: what a visit finds wrong with a page, by aspect (the attributes of site_checks' visit record)
ASPECTS = {"errors": "console errors, uncaught exceptions, failed requests",
           "math": "formulas MathJax left unrendered",
           "images": "images that do not load",
           "links": "internal links or anchors that do not resolve",
           "sidebar": "chapters the sidebar does not reach",
           "accessibility": "serious or critical axe-core violations"}


@pytest.mark.parametrize("aspect", ASPECTS)
@pytest.mark.parametrize("page_path", PAGES)
def test_page_has_no_problem(visits, page_path, aspect):
    problems = getattr(visits(page_path), aspect)
    assert not problems, f"{page_path}, {ASPECTS[aspect]}:\n{_report(problems)}"


@pytest.mark.parametrize("page_path", PAGES)
def test_full_page_screenshot_saved(visits, page_path):
    shot = visits(page_path).screenshot
    assert shot.name == site_checks.screenshot_name(page_path)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{shot} is not a PNG"


@pytest.mark.parametrize("page_path", PAGES)
def test_search_finds_page_by_a_word_of_its_title(visits, page_path):
    found = visits(page_path)
    assert page_path in found.search_hits, (f"searching {found.search_word!r} (from the title {found.title!r}) "
                                            f"lists {found.search_hits}, not {page_path}")


def test_claims_page_has_its_summary_table(visits):
    summary = {"paper", "kind", "reproduced", "not reproduced", "total"}
    found = [table for table in visits("book/claims.html").tables if summary <= set(table["headers"])]
    assert found, f"no table with the columns {sorted(summary)} on book/claims.html"
    assert found[0]["rows"] > 0, "the summary table of book/claims.html has no rows"


# ---- negative controls: a tiny site with one problem per page --------------------------------------------

PIXEL = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg==")
SIDEBAR = '<nav class="bd-sidebar-primary"><a href="clean.html">Clean</a> <a href="links.html">Links</a></nav>'
BROKEN_SITE = {
    "clean.html": f'<h1>Clean</h1><p id="here">Costs 5 dollars, or $5 and $10.</p><a href="#here">here</a> '
                  f'<a href="links.html">links</a> <img src="pixel.png" alt="a black pixel"> {SIDEBAR}',
    "math.html": r'<h1>Math</h1><p>raw $x^2$ here</p><span class="math notranslate nohighlight">\(y\)</span>'
                 r'<pre>$code$ is not text</pre>',
    "images.html": '<h1>Images</h1><img src="missing.png" alt="gone"> <img src="pixel.png">',
    "links.html": '<h1>Links</h1><a href="clean.html#nowhere">a</a> <a href="missing.html">b</a> '
                  '<a href="#absent">c</a> <a href="clean.html#here">d</a> <a href="https://example.org/">e</a>',
    "console.html": '<h1>Console</h1><script>console.error("boom")</script><script>throw new Error("kaboom")</script>',
    "search.html": '<h1>Search</h1><div id="search-results"></div><script>setTimeout(() => { document.getElementById('
                   '"search-results").innerHTML = \'<p class="search-summary">Found 1 page.</p><ul class="search">'
                   '<li><a href="clean.html?highlight=links">Clean</a></li></ul>\' }, 200)</script>',
}


@pytest.fixture(scope="module")
def broken_url(tmp_path_factory):
    """The base URL of the broken site, written into a temporary folder and served while the module runs."""
    site = tmp_path_factory.mktemp("broken_site")
    (site / "pixel.png").write_bytes(PIXEL)
    for name, body in BROKEN_SITE.items():
        (site / name).write_text(f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{name}</title>'
                                 f"</head><body><main>{body}</main></body></html>")
    with site_checks.serve(site) as url:
        yield url


@pytest.fixture(scope="module")
def broken(browser, broken_url, tmp_path_factory):
    """``broken(name)``: the :class:`site_checks.Visit` of a page of the broken site, whose sidebar must reach
    clean.html, links.html and chapter.html (which it lacks)."""
    shots = tmp_path_factory.mktemp("broken_shots")
    return functools.cache(lambda name: site_checks.visit(browser, broken_url, name, shots,
                                                          ["clean.html", "links.html", "chapter.html"]))


def test_control_clean_page_passes_all_but_the_sidebar(broken):
    page = broken("clean.html")
    assert page.errors == page.math == page.images == page.links == page.accessibility == []
    assert page.sidebar == ["the sidebar has no link to chapter.html"]
    assert page.screenshot.name == "clean.png" and page.screenshot.stat().st_size > 0


def test_control_raw_math_without_mathjax_is_reported(broken):
    problems = _report(broken("math.html").math)
    assert "raw TeX in the text" in problems and "$x^2$" in problems
    assert "formula not rendered by MathJax: '\\\\(y\\\\)'" in problems
    assert "no mjx-container" in problems
    assert "$code$" not in problems  # code blocks are not text


def test_control_missing_image_is_reported(broken):
    page = broken("images.html")
    assert page.images == ['image did not load: missing.png (alt "gone")']
    assert any("HTTP 404" in p and p.endswith("/missing.png") for p in page.errors)
    assert any(p.startswith("image-alt (critical)") for p in page.accessibility)


def test_control_broken_links_are_reported(broken):
    problems = _report(broken("links.html").links)
    assert "link 'clean.html#nowhere': no element with id 'nowhere'" in problems
    assert "link 'missing.html': HTTP 404" in problems
    assert "link '#absent': no element with id 'absent'" in problems
    assert "#here" not in problems and "example.org" not in problems
    assert len(broken("links.html").links) == 3


def test_control_console_error_and_exception_are_reported(broken):
    problems = _report(broken("console.html").errors)
    assert "console error: boom" in problems and "uncaught exception: kaboom" in problems


def test_control_missing_sidebar_is_reported(broken):
    assert broken("math.html").sidebar[0].startswith("no visible sidebar")


def test_control_search_lists_only_what_it_found(page, broken_url):
    assert site_checks.search_results(page, broken_url, "links") == ["clean.html"]  # so links.html is not found


def test_control_page_without_tables_has_no_summary_table(broken):
    assert broken("clean.html").tables == []


def test_control_page_missing_from_the_build_fails(broken):
    with pytest.raises(FileNotFoundError, match=r"chapter\.html .*run `make book` first"):
        broken("chapter.html")


def test_control_no_browser_fails_naming_both_installs(monkeypatch, tmp_path):
    monkeypatch.setattr(site_checks.shutil, "which", lambda name: None)
    monkeypatch.setattr(site_checks, "BROWSER_PATHS", ())
    with pytest.raises(RuntimeError, match=r"apt-get install chromium-headless-shell.*playwright install chromium"):
        site_checks.chromium_launch_args(str(tmp_path / "no-chrome"))
    (tmp_path / "chrome").write_text("")
    assert site_checks.chromium_launch_args(str(tmp_path / "chrome")) == {}


def test_control_no_build_fails_with_make_book(tmp_path):
    with pytest.raises(FileNotFoundError, match="run `make book` first"):
        site_checks.book_folder(tmp_path)


def test_toc_pages_reads_parts_chapters_and_sections(tmp_path):
    toc = tmp_path / "_toc.yml"
    toc.write_text("format: jb-book\nroot: intro\nparts:\n  - caption: A\n    chapters:\n      - file: a/one.md\n"
                   "        sections:\n          - file: a/two.ipynb\n  - caption: B\n    chapters:\n      - file: b\n")
    assert site_checks.toc_pages(toc) == ["intro.html", "a/one.html", "a/two.html", "b.html"]
    assert PAGES[0] == "book/intro.html" and "book/claims.html" in PAGES


@pytest.mark.parametrize("call, error, name", [
    (lambda: site_checks.screenshot_name(""), ValueError, "page_path"),
    (lambda: site_checks.screenshot_name("/abs.html"), ValueError, "page_path"),
    (lambda: site_checks.screenshot_name(None), TypeError, "page_path"),
    (lambda: site_checks.toc_pages(3), TypeError, "toc"),
    (lambda: site_checks.book_folder(None), TypeError, "html"),
    (lambda: site_checks.chromium_launch_args(None), TypeError, "playwright_executable"),
    (lambda: site_checks.serve(42).__enter__(), TypeError, "directory"),
    (lambda: site_checks.serve("/no/such/folder").__enter__(), ValueError, "directory"),
    (lambda: site_checks.fetch_target("file:///etc/passwd"), ValueError, "url"),
    (lambda: site_checks.html_ids(b"<p>"), TypeError, "text"),
    (lambda: site_checks.title_word("1. 2."), ValueError, "title"),
    (lambda: site_checks.watch_errors(None, "127.0.0.1"), ValueError, "base_url"),
    (lambda: site_checks.broken_links(None, "http://127.0.0.1/", targets=[]), TypeError, "targets"),
    (lambda: site_checks.search_results(None, "http://127.0.0.1/", ""), ValueError, "word"),
    (lambda: site_checks.serious_violations(None, impacts="serious"), TypeError, "impacts"),
    (lambda: site_checks.visit(None, "http://127.0.0.1/", "a.html", None), TypeError, "screenshots"),
    (lambda: site_checks.visit_all("a.html", "http://127.0.0.1/", ".", {}), TypeError, "pages"),
    (lambda: site_checks.visit_all(["a.html"], "http://127.0.0.1/", ".", {}, workers=0), ValueError, "workers"),
], ids=lambda value: value if isinstance(value, str) else None)
def test_bad_arguments_are_refused_by_name(call, error, name):
    with pytest.raises(error, match=name):
        call()


def test_screenshot_names_use_dashes():
    assert site_checks.screenshot_name("book/chapters/01_linear_proof.html") == "book-chapters-01_linear_proof.png"
    assert site_checks.screenshot_name("index.html") == "index.png"
    assert site_checks.title_word("7. GRU stability and the spectral-norm projection") == "projection"
