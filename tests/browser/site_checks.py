"""Checks of the built HTML book in a real browser (Playwright, Chromium), one function per check.

Each check takes a loaded Playwright page and returns the problems it found as readable strings (an empty list
when the page is fine), so that a test can assert on it and print every problem at once. The book is served
over HTTP by :func:`serve`; :func:`visit` loads one page and runs every per-page check on it, and
:func:`visit_all` visits many pages, a few at a time.
"""

from __future__ import annotations

import functools
import queue
import re
import shutil
import sys
import threading
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

import yaml
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import sync_playwright

# Chromium's names on Debian (chromium-headless-shell, chromium) and elsewhere, then Debian's paths off PATH.
BROWSER_NAMES = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER_PATHS = ("/usr/lib/chromium/chromium-headless-shell", "/usr/lib/chromium/chromium")
NO_BROWSER = ("no Chromium for the browser tests: install the system one (`apt-get install chromium-headless-shell`) "
              "or Playwright's own (`playwright install chromium`)")
NO_BOOK = "run `make book` first"

SIDEBAR = ".bd-sidebar-primary"  # the theme's (pydata / sphinx-book-theme) left sidebar: logo link and chapter list
SERIOUS = ("serious", "critical")  # the axe impacts that fail a page
TIMEOUT_MS = 30_000
# raw TeX that MathJax should have replaced: $$, \(, \[ and $...$ (no space just inside the dollars, as in TeX)
RAW_MATH = re.compile(r"\$\$|\\\(|\\\[|\$[^$\s](?:[^$\n]*[^$\s])?\$")
REFRESH = re.compile(r"""<meta\s+http-equiv=["']?refresh["']?\s+content=["']\d+;\s*url=([^"'>]+)""", re.IGNORECASE)


def _require_text(name: str, value) -> str:
    """``value`` if it is a non-empty string, else TypeError/ValueError naming the argument ``name``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{name} must not be empty")
    return value


def _require_url(name: str, value) -> str:
    """``value`` if it is an http(s) URL, else TypeError/ValueError naming the argument ``name``."""
    if urlsplit(_require_text(name, value)).scheme not in ("http", "https"):
        raise ValueError(f"{name} must be an http(s) URL, got {value!r}")
    return value


def system_chromium() -> str | None:
    """The path of the system's Chromium (Debian's chromium-headless-shell first), or None when there is none."""
    for name in BROWSER_NAMES:
        if found := shutil.which(name):
            return found
    return next((path for path in BROWSER_PATHS if Path(path).is_file()), None)


def chromium_launch_args(playwright_executable: str) -> dict:
    """Playwright launch options for Chromium: the system's binary, else Playwright's own download (at
    ``playwright_executable``, where ``playwright install chromium`` puts it); RuntimeError when neither exists."""
    _require_text("playwright_executable", playwright_executable)
    if path := system_chromium():
        return {"executable_path": path}
    if Path(playwright_executable).is_file():
        return {}
    raise RuntimeError(NO_BROWSER)


def book_folder(html) -> Path:
    """The built book's HTML folder ``html`` as a Path; FileNotFoundError ("run `make book` first") when it
    holds no built book."""
    if not isinstance(html, (str, Path)):
        raise TypeError(f"html must be a path, got {type(html).__name__}")
    html = Path(html)
    if not (html / "index.html").is_file():
        raise FileNotFoundError(f"no built book at {html} (no index.html): {NO_BOOK}")
    return html


def toc_pages(toc) -> list[str]:
    """The HTML pages of a Jupyter Book table of contents (``_toc.yml``), root first, in order: paths relative
    to the HTML folder, such as ``book/chapters/01_linear_proof.html``."""
    if not isinstance(toc, (str, Path)):
        raise TypeError(f"toc must be a path, got {type(toc).__name__}")
    data = yaml.safe_load(Path(toc).read_text())
    if not isinstance(data, dict) or "root" not in data:
        raise ValueError(f"toc {toc} has no root entry")
    files = [data["root"]]

    def walk(entries):
        for entry in entries or ():
            if "file" in entry:
                files.append(entry["file"])
            for key in ("parts", "chapters", "sections"):
                walk(entry.get(key))

    walk([{key: data[key] for key in ("parts", "chapters", "sections") if key in data}])
    return [re.sub(r"\.(md|ipynb|rst)$", "", str(file)) + ".html" for file in files]


def screenshot_name(page_path: str) -> str:
    """The screenshot file of a page: its path with dashes for slashes, ``book/claims.html`` ->
    ``book-claims.png``."""
    _require_text("page_path", page_path)
    if page_path.startswith("/") or ".." in page_path.split("/"):
        raise ValueError(f"page_path must be relative to the HTML folder, got {page_path!r}")
    return re.sub(r"\.html$", "", page_path).replace("/", "-") + ".png"


class _QuietHandler(SimpleHTTPRequestHandler):
    """A static file handler that does not log every request to stderr."""

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


class _QuietServer(ThreadingHTTPServer):
    """An HTTP server that ignores clients hanging up mid-answer (a browser page closed while loading)."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def serve(directory):
    """Serve the files of ``directory`` over HTTP on 127.0.0.1 (a free port) in a thread; yield the base URL,
    ending in a slash."""
    if not isinstance(directory, (str, Path)):
        raise TypeError(f"directory must be a path, got {type(directory).__name__}")
    if not Path(directory).is_dir():
        raise ValueError(f"directory {directory} is not a folder")
    server = _QuietServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, name="book-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _same_origin(url: str, base_url: str) -> bool:
    """Whether ``url`` is served by the same scheme, host and port as ``base_url``."""
    a, b = urlsplit(url), urlsplit(base_url)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def watch_errors(page, base_url: str) -> list[str]:
    """Start recording, on ``page``, console errors, uncaught exceptions, failed requests and same-origin
    responses with status >= 400; return the list that fills up as the page loads (call before ``goto``)."""
    _require_url("base_url", base_url)
    problems: list[str] = []

    def console(message):
        if message.type == "error":
            where = message.location or {}
            problems.append(f"console error: {message.text} ({where.get('url', '?')}:{where.get('lineNumber', '?')})")

    def response(answer):
        if answer.status >= 400 and _same_origin(answer.url, base_url):
            problems.append(f"HTTP {answer.status} for {answer.url}")

    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(f"uncaught exception: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url} ({request.failure})"))
    page.on("response", response)
    return problems


def load(page, url: str) -> int:
    """Open ``url`` in ``page`` and wait until it has loaded, MathJax has typeset it (when it has MathJax) and
    its fonts are ready; return the HTTP status of ``url``."""
    _require_url("url", url)
    status, _, text = _get(url)
    redirect = REFRESH.search(text)
    page.goto(url, wait_until="load")
    if redirect:  # the book's index.html sends the reader on to the root page
        page.wait_for_url(urljoin(url, redirect.group(1).strip()), wait_until="load")
    page.evaluate("""async () => {
        if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
        await document.fonts.ready;
    }""")
    return status


def math_problems(page) -> list[str]:
    """Formulas MathJax has not rendered: raw TeX ($...$, $$, \\(, \\[) in the visible text outside code blocks,
    math elements without an ``mjx-container``, MathJax errors, and formulas on a page with no rendered math."""
    found = page.evaluate("""() => {
        const hide = document.createElement('style');
        hide.textContent = 'pre, code, .highlight { display: none !important; }';
        document.head.appendChild(hide);
        const text = document.body.innerText;
        hide.remove();
        const unrendered = [...document.querySelectorAll('span.math, div.math')]
            .filter(el => !el.querySelector('mjx-container')).map(el => el.textContent.trim().slice(0, 80));
        const errors = [...document.querySelectorAll('mjx-merror')]
            .map(el => el.getAttribute('data-mjx-error') || el.textContent.slice(0, 80));
        return {text, unrendered, errors, rendered: document.querySelectorAll('mjx-container').length};
    }""")
    problems = [f"raw TeX in the text: ...{found['text'][max(m.start() - 30, 0):m.end() + 30]!r}..."
                for m in RAW_MATH.finditer(found["text"])]
    problems += [f"formula not rendered by MathJax: {tex!r}" for tex in found["unrendered"]]
    problems += [f"MathJax error: {error}" for error in found["errors"]]
    if problems and not found["rendered"]:
        problems.append("the page has formulas but no mjx-container: MathJax did not run")
    return problems


def broken_images(page) -> list[str]:
    """Images that did not load (``img.complete && img.naturalWidth > 0`` fails), after waiting for the ones
    still loading (lazy images are made eager first)."""
    return page.evaluate("""async () => {
        const images = [...document.images];
        images.forEach(img => { if (img.loading === 'lazy') img.loading = 'eager'; });
        await Promise.all(images.filter(img => !img.complete).map(img => new Promise(done => {
            img.addEventListener('load', done, {once: true});
            img.addEventListener('error', done, {once: true});
            setTimeout(done, 10000);
        })));
        return images.filter(img => !(img.complete && img.naturalWidth > 0))
            .map(img => `image did not load: ${img.getAttribute('src')} (alt ${JSON.stringify(img.alt)})`);
    }""")


class _Ids(HTMLParser):
    """Collects the targets of fragments in an HTML text: every ``id``, and ``name`` of ``a`` elements."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if value and (key == "id" or (key == "name" and tag == "a")):
                self.ids.add(value)


def html_ids(text: str) -> set[str]:
    """The ids (and ``<a name>``) of an HTML text: what a ``#fragment`` may point to."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    parser = _Ids()
    parser.feed(text)
    return parser.ids


def _get(url: str) -> tuple[int, str, str]:
    """HTTP status, content type and text of ``url`` (fetched outside the browser)."""
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.headers.get_content_type(), answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, "", ""


def fetch_target(url: str) -> tuple[int, set[str] | None]:
    """HTTP status of ``url`` and, for an HTML answer, its ids (None for other files)."""
    status, kind, text = _get(_require_url("url", url))
    return status, html_ids(text) if kind == "text/html" else None


def broken_links(page, base_url: str, targets: dict | None = None) -> list[str]:
    """Internal links (``a[href]`` under ``base_url``) whose file does not serve 200 or whose ``#fragment`` has
    no element with that id (or name) on the target page. ``targets`` caches :func:`fetch_target` by URL
    across pages; fragments into the page itself are looked up in its live DOM."""
    _require_url("base_url", base_url)
    if targets is None:
        targets = {}
    elif not isinstance(targets, dict):
        raise TypeError(f"targets must be a dict, got {type(targets).__name__}")
    found = page.evaluate("""() => ({
        links: [...document.querySelectorAll('a[href]')].map(a => [a.getAttribute('href'), a.href]),
        ids: [...document.querySelectorAll('[id], a[name]')].map(el => el.id || el.getAttribute('name')),
    })""")
    here, own_ids = urldefrag(page.url).url, set(found["ids"])
    problems = []
    for written, href in found["links"]:
        if not href.startswith(base_url):
            continue  # another site, mailto:, javascript:
        url, fragment = urldefrag(href)
        if url == here:
            status, ids = 200, own_ids
        else:
            if url not in targets:
                targets[url] = fetch_target(url)
            status, ids = targets[url]
        if status != 200:
            problems.append(f"link {written!r}: HTTP {status} for {url}")
        elif fragment and ids is not None and unquote(fragment) not in ids:
            problems.append(f"link {written!r}: no element with id {unquote(fragment)!r} on {url}")
    return sorted(set(problems))


def missing_from_sidebar(page, base_url: str, pages: list[str], sidebar: str = SIDEBAR) -> list[str]:
    """The ``pages`` (paths relative to ``base_url``) that no link of the visible ``sidebar`` leads to."""
    _require_url("base_url", base_url)
    if not isinstance(pages, (list, tuple)) or not all(isinstance(p, str) for p in pages):
        raise TypeError("pages must be a list of page paths")
    box = page.locator(sidebar).first
    if not box.count() or not box.is_visible():
        return [f"no visible sidebar ({sidebar}) on {page.url}"]
    hrefs = box.evaluate("box => [...box.querySelectorAll('a[href]')].map(a => a.href)")
    reached = {urldefrag(href).url.split("?")[0][len(base_url):] for href in hrefs if href.startswith(base_url)}
    return [f"the sidebar has no link to {p}" for p in pages if p not in reached]


def serious_violations(page, impacts=SERIOUS) -> list[str]:
    """axe-core's accessibility violations of ``page`` whose impact is one of ``impacts``, each with its rule,
    help text and a few of the elements concerned."""
    if isinstance(impacts, str) or not all(isinstance(i, str) for i in impacts):
        raise TypeError("impacts must be a tuple of impact names, such as ('serious', 'critical')")
    results = _axe().run(page)
    problems = []
    for violation in results.response["violations"]:
        if violation["impact"] in impacts:
            nodes = violation["nodes"]
            where = "; ".join(" ".join(map(str, node["target"])) for node in nodes[:3])
            problems.append(f"{violation['id']} ({violation['impact']}): {violation['help']}, {len(nodes)} "
                            f"element(s), e.g. {where} [{violation['helpUrl']}]")
    return problems


@functools.cache
def _axe() -> Axe:
    """The axe-core runner (its script, bundled with axe-playwright-python, is read once)."""
    return Axe()


def title_word(title: str) -> str:
    """The word of a page title to search for: its longest word of letters (the first of equal length)."""
    words = re.findall(r"[^\W\d_]{3,}", _require_text("title", title))
    if not words:
        raise ValueError(f"title {title!r} has no word of three letters or more")
    return max(words, key=len)


def search_results(page, base_url: str, word: str) -> list[str]:
    """The pages (paths relative to ``base_url``) that the book's Sphinx search page lists for ``word``, once the
    search has finished."""
    _require_url("base_url", base_url)
    _require_text("word", word)
    page.goto(urljoin(base_url, "search.html?q=" + urllib.request.quote(word)))
    page.wait_for_function("""() => {
        const summary = document.querySelector('#search-results .search-summary');
        return summary !== null && summary.textContent.trim() !== '';
    }""", timeout=TIMEOUT_MS)
    hrefs = page.eval_on_selector_all("#search-results ul.search li a", "links => links.map(a => a.href)")
    return [urldefrag(href).url.split("?")[0][len(base_url):] for href in hrefs if href.startswith(base_url)]


def tables(page) -> list[dict]:
    """Every table of ``page``: its header cells (lower case) and its number of body rows."""
    return page.evaluate("""() => [...document.querySelectorAll('table')].map(table => ({
        headers: [...table.querySelectorAll('thead th')].map(th => th.innerText.trim().toLowerCase()),
        rows: table.querySelectorAll('tbody tr').length,
    }))""")


@dataclass
class Visit:
    """What one visit of a page found, check by check (each a list of problems), and where its screenshot is."""

    url: str
    title: str = ""
    errors: list[str] = field(default_factory=list)
    math: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    sidebar: list[str] = field(default_factory=list)
    accessibility: list[str] = field(default_factory=list)
    tables: list[dict] = field(default_factory=list)
    screenshot: Path | None = None
    search_word: str = ""
    search_hits: list[str] = field(default_factory=list)


def visit(browser, base_url: str, page_path: str, screenshots, sidebar_pages=(), targets=None,
          search: bool = False) -> Visit:
    """Load ``page_path`` of the site at ``base_url`` in a fresh browser context and run every per-page check:
    errors while loading, math, images, internal links, the sidebar (it must reach ``sidebar_pages``) and
    accessibility; save a full-page screenshot into the folder ``screenshots``; with ``search``, also search
    the site for a word of the page's title."""
    _require_url("base_url", base_url)
    name = screenshot_name(page_path)
    if not isinstance(screenshots, (str, Path)):
        raise TypeError(f"screenshots must be a path, got {type(screenshots).__name__}")
    if not isinstance(search, bool):
        raise TypeError(f"search must be True or False, got {search!r}")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        result = Visit(url=urljoin(base_url, page_path))
        result.errors = watch_errors(page, base_url)
        if load(page, result.url) != 200:
            raise FileNotFoundError(f"{result.url} does not serve the page (is {page_path} in the build? {NO_BOOK})")
        result.title = page.evaluate("() => (document.querySelector('h1') || document).textContent || ''").strip()
        result.images = broken_images(page)
        result.screenshot = Path(screenshots) / name
        page.screenshot(path=result.screenshot, full_page=True)
        result.math = math_problems(page)
        result.links = broken_links(page, base_url, targets)
        result.sidebar = missing_from_sidebar(page, base_url, list(sidebar_pages)) if sidebar_pages else []
        result.tables = tables(page)
        result.errors = list(result.errors)  # what the page did; axe-core's own requests below are not its errors
        result.accessibility = serious_violations(page)
        if search:
            result.search_word = title_word(result.title)
            result.search_hits = search_results(context.new_page(), base_url, result.search_word)
        return result
    finally:
        context.close()


def visit_all(pages, base_url: str, screenshots, launch_args: dict, sidebar_pages=(), workers: int = 2) -> dict:
    """:func:`visit` (with search) every page of ``pages``, ``workers`` pages at a time: each worker thread runs
    its own Playwright and Chromium (launched with ``launch_args``), as Playwright's sync API works within one
    thread. Returns each page's :class:`Visit`, or the exception its visit raised."""
    if isinstance(pages, str) or not all(isinstance(p, str) for p in pages):
        raise TypeError("pages must be a list of page paths")
    if not isinstance(launch_args, dict):
        raise TypeError(f"launch_args must be a dict, got {type(launch_args).__name__}")
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    todo, results, targets, failures = queue.SimpleQueue(), {}, {}, []
    for page_path in pages:
        todo.put(page_path)

    def work():
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(**launch_args)
                while True:
                    try:
                        page_path = todo.get_nowait()
                    except queue.Empty:
                        break
                    try:
                        results[page_path] = visit(browser, base_url, page_path, screenshots, sidebar_pages,
                                                   targets, search=True)
                    except Exception as error:  # noqa: BLE001 - kept for the page's tests, which fail with it
                        results[page_path] = error
                browser.close()
        except Exception as error:  # noqa: BLE001 - the browser did not start: every page left fails with it
            failures.append(error)

    threads = [threading.Thread(target=work, name=f"visit-{n}") for n in range(min(workers, len(pages)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for page_path in pages:
        results.setdefault(page_path, failures[0] if failures else RuntimeError(f"{page_path} was not visited"))
    return results
