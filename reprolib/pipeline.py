"""The book's build pipeline (see the book's *How this book is built* page).

    python -m reprolib.pipeline execute [--profile ci] [--only 01_linear_proof] [--force] [--jobs N]
    python -m reprolib.pipeline regression [--only 01_linear_proof] [--jobs N]
    python -m reprolib.pipeline static

``execute`` converts each ``notebooks/NN_x.py`` (jupytext percent format) to a notebook,
runs it with papermill and ``params/<profile>/NN_x.yaml`` into ``book/chapters/NN_x.ipynb``,
prints one line per chapter with its time, and writes the "Build report" page and the
"Claims" page (every check the chapters recorded through ``reprolib.claims``). Chapters run
``--jobs`` at a time (default: one per core), each in its own process and kernel with one thread,
the longest first by their last times. A chapter
whose cell raises, or whose check comes out otherwise than its text states, is named and
makes the command exit non-zero (the other chapters still run).

Builds are incremental: a chapter is executed again only when one of its inputs changed
(:func:`chapter_inputs`: its notebook, its parameter file and profile, the library modules it
imports, and ``results/*.json`` for a chapter that reads results); otherwise its last execution is
reused (:func:`rebuild_reason` says when it may be). The inputs' hashes are recorded beside the
executed notebook, ``book/chapters/NN_x.inputs.json``, after an execution whose checks passed.
``--force`` executes every chapter; so should a build after a change of what is not hashed (the
installed packages, the data under ``REPROLIB_DATA``, this module).

``regression`` executes every chapter at ``ci`` and stores it, text outputs only,
as ``tests/regression/NN_x.ipynb`` for nbval. ``static`` copies MathJax into the book
so the HTML renders equations offline (``make book`` runs it before Sphinx).
"""

from __future__ import annotations

import argparse
import ast
import base64
import concurrent.futures
import dataclasses
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import jupytext
import nbformat
import papermill
from papermill.translators import translate_parameters

from . import claims, data, provenance
from .files import write_atomic
from .profiles import KERNEL_ENV, NOTEBOOKS, PROFILES, ROOT, available, check_profile, load

CHAPTERS = ROOT / "book" / "chapters"
REGRESSION = ROOT / "tests" / "regression"
REPORT = ROOT / "book" / "build_report.md"
CLAIMS = ROOT / "book" / "claims.md"
GLANCE = ROOT / "book" / "glance.md"
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
SITE = ROOT / "_build" / "site"
GLANCE_IMAGES = ROOT / "book" / "_static" / "glance"
#: the figures of the introduction's results at a glance: label -> (chapter, what it shows)
GLANCE_FIGURES = {
    "1.1": ("01_linear_proof", "Exploding and vanishing in the linear case: the error grows like ρ^l"),
    "3.2": ("03_geometry", "The walls of the error surface (the paper's Fig. 3)"),
    "8a.1": ("08a_synthetic", "Clipping and Ω on the temporal order task (the paper's Fig. 7)"),
    "7.4": ("07_gru_stability", "A GRU's gradient explosions against ρ(J) (Kanai et al.'s Fig. 1)"),
}
DEVIATIONS = ROOT / "book" / "deviations.md"
TIMINGS = CHAPTERS / "timings.json"
PARAMS = ROOT / "params"
RESULTS = ROOT / "results"
MATHJAX = ROOT / "book" / "_static" / "mathjax"
#: output MIME types dropped from the nbval references (binary or machine-specific)
STRIPPED = ("image/png", "image/jpeg", "image/svg+xml", "application/pdf")


def chapters(only: str | None = None) -> list[str]:
    """Chapter names (``notebooks/*.py`` stems) in order, or just ``only``."""
    names = sorted(p.stem for p in NOTEBOOKS.glob("[0-9]*.py"))
    if only is None:
        return names
    if only not in names:
        raise ValueError(f"only must name a chapter in notebooks/ ({', '.join(names)}), got {only!r}")
    return [only]


def claims_path(output: Path) -> Path:
    """Where the checks of the chapter executed into ``output`` are recorded."""
    return output.with_suffix(".claims.jsonl")


def execute(name: str, profile: str, output: Path) -> float:
    """Run one chapter at ``profile`` into ``output``; return its wall time in seconds.

    The kernel runs with :data:`reprolib.profiles.KERNEL_ENV` (the maths library's code branch fixed, so that
    the printed numbers do not depend on the CPU). The chapter's checks are recorded in :func:`claims_path`
    ``(output)`` (an empty file when it records none). Raises papermill's
    ``PapermillExecutionError`` when a cell fails (the failing notebook is still written to ``output``).
    """
    parameters = load(name, profile)  # checked against the notebook's parameters cell
    output.parent.mkdir(parents=True, exist_ok=True)
    record = claims_path(output)
    record.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / f"{name}.ipynb"
        nbformat.write(jupytext.read(NOTEBOOKS / f"{name}.py"), source)
        start = time.perf_counter()
        env = {claims.ENV: str(record), **KERNEL_ENV}  # inherited by the kernel papermill starts
        previous = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            papermill.execute_notebook(str(source), str(output), parameters=parameters, kernel_name="python3",
                                       cwd=str(ROOT), progress_bar=False, extra_arguments=KERNEL_ARGS)
        finally:
            for k, v in previous.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    record.touch()
    return time.perf_counter() - start


def deviation_ids() -> set[str]:
    """The ids of the rows of the Deviations page (``| B1 | ...``)."""
    return set(re.findall(r"^\| ([A-Z]+\d+) \|", DEVIATIONS.read_text(), re.MULTILINE))


def chapter_checks(name: str, output: Path) -> dict:
    """The checks recorded when ``name`` was executed into ``output``, with the chapter's title and the
    section of each check. Raises ``ValueError`` for a repeated id, a deviation id that is not on the
    Deviations page, or a check whose outcome differs from the one its chapter states."""
    checks = claims.read(claims_path(output)) if claims_path(output).is_file() else []
    nb = nbformat.read(output, as_version=4)
    seen = set()
    for c in checks:
        if c.id in seen:
            raise ValueError(f"chapter {name}: check id {c.id!r} is used twice")
        seen.add(c.id)
    known = deviation_ids()
    unknown = sorted({c.deviation for c in checks if c.deviation and c.deviation not in known})
    if unknown:
        raise ValueError(f"chapter {name}: deviation id(s) {', '.join(unknown)} cited by a check are not rows of "
                         f"{DEVIATIONS.relative_to(ROOT)}")
    failed = [c for c in checks if c.failed]
    if failed:
        raise ValueError(f"chapter {name}: {len(failed)} check(s) came out otherwise than the chapter states: "
                         + "; ".join(f"{c.id} ({c.claim}: {c.held}, expected {c.expected})" for c in failed))
    title = next((line.lstrip("# ").strip() for cell in nb.cells if cell.cell_type == "markdown"
                  for line in cell.source.splitlines() if line.startswith("# ")), name)
    return {"title": title, "checks": checks, "sections": claims.locate(checks, nb)}


#: the kernel logs errors only: its start-up warning (a local kernel over TCP without encryption) would
#: otherwise repeat in the build log once per chapter
KERNEL_ARGS = ["--IPKernelApp.log_level=ERROR"]
BOX_CLASS = "chapter-box"  # the class of the box that opens every executed chapter


def chapter_box(name: str, profile: str, seconds: float, executed: str, checks: list) -> str:
    """The box that opens chapter ``name`` in the book (MyST): what it reproduces (the notebook's
    ``reprolib.reproduces`` metadata), the profile and time of this execution, its checks, the command that
    re-runs it at the paper's size, and a link to download the executed notebook."""
    reproduces = jupytext.read(NOTEBOOKS / f"{name}.py").metadata.get("reprolib", {}).get("reproduces")
    if not reproduces:
        raise ValueError(f"chapter {name}: its notebook's header has no reprolib.reproduces metadata")
    tally = Counter(c.verdict for c in checks if c.kind == "evidence")
    identities = sum(c.kind == "identity" for c in checks)
    verdicts = ", ".join(f"{tally[v]} {v}" for v in claims.VERDICTS if tally[v])
    if identities:
        verdicts += f"{', ' if verdicts else ''}{identities} checks of our code that hold by construction"
    return (f":::{{admonition}} About this chapter\n:class: {BOX_CLASS}\n"
            f"**Reproduces:** {reproduces}.\n\n"
            f"**Shown here:** the `{profile}` profile, executed {executed} in {seconds:.0f} s. "
            f"Its claims: {verdicts or 'none recorded'} ([Claims](../claims.md)).\n\n"
            f"**Re-run it** at the papers' sizes: `make chapter NB={name} PROFILE=paper`; "
            f"{{download}}`download the executed notebook <{name}.ipynb>`.\n:::")


def add_box(output: Path, box: str) -> None:
    """Put ``box`` under the title of the executed notebook at ``output`` (the first line of its first
    markdown cell), or first when the notebook opens otherwise; a box already there is replaced. Written
    atomically."""
    nb = nbformat.read(output, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.metadata.get("reprolib") == BOX_CLASS:
            nb.cells.remove(cell)
            break
    first = nb.cells[0] if nb.cells else None
    at = 1 if first is not None and first.cell_type == "markdown" and first.source.startswith("# ") else 0
    if at and "\n" in first.source.strip():  # the title has text under it: split the cell under the title
        title, _, rest = first.source.partition("\n")
        first.source = title
        nb.cells.insert(1, nbformat.v4.new_markdown_cell(rest.lstrip("\n")))
    nb.cells.insert(at, nbformat.v4.new_markdown_cell(box, metadata={"reprolib": BOX_CLASS}))
    write_atomic(output, nbformat.writes(nb))


def inputs_path(output: Path) -> Path:
    """Where the inputs of the chapter executed into ``output`` are recorded (:func:`chapter_inputs`)."""
    return output.with_suffix(".inputs.json")


def imported_modules(source: str) -> list[str]:
    """The library modules that the Python ``source`` imports by name (``from reprolib import a, b``,
    ``from reprolib.claims import check``, ``import reprolib.data``), sorted; read with :mod:`ast`, never run.
    Other packages' imports are ignored."""
    if not isinstance(source, str):
        raise TypeError(f"source must be str, got {type(source).__name__}")
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            parts = node.module.split(".")
            if parts[0] == "reprolib":
                found.update(parts[1:2] or [a.name for a in node.names])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("reprolib."))
    return sorted(found)


def library_modules(source: str) -> list[str]:
    """The library modules that ``source`` imports, directly or through others
    (:func:`reprolib.provenance.modules_used`), sorted; an imported name that is no module is left out."""
    return sorted({used for module in imported_modules(source) if (provenance.PACKAGE / f"{module}.py").is_file()
                   for used in provenance.modules_used(module)})


def file_hash(path: Path) -> str:
    """The first 16 hex digits of the sha256 of the file at ``path``, or ``"missing"``."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else "missing"


def data_present(name: str) -> dict[str, bool] | None:
    """Which data files this machine has (:func:`reprolib.data.present`) when chapter ``name`` asks for data
    itself (its source imports :mod:`reprolib.data`, or :mod:`reprolib.natural`, whose ``unavailable`` says
    whether a corpus is here), else None. Such a chapter prints other outputs where a corpus is missing, so
    this is one of its inputs. (Chapters that only import modules that import these, as 8a does through the
    experiments, print nothing that depends on the files.)"""
    notebook = NOTEBOOKS / f"{name}.py"
    if not notebook.is_file():
        raise ValueError(f"name must be a chapter of {NOTEBOOKS}, got {name!r}")
    return data.present() if {"data", "natural"} & set(imported_modules(notebook.read_text())) else None


def reference_skip_reason(path: Path) -> str | None:
    """Why the regression reference at ``path`` cannot be compared on this machine, or None when it can:
    it was recorded where other data files were present (``metadata.reprolib.data``, written by
    :func:`regression`) than here. Its outputs then differ by what the data are, not by a fault."""
    nb = json.loads(Path(path).read_text())
    recorded = nb.get("metadata", {}).get("reprolib", {}).get("data")
    if recorded is None:
        return None
    here = data.present()
    differ = sorted(k for k in recorded.keys() | here.keys() if recorded.get(k) != here.get(k))
    if not differ:
        return None
    def state(present):
        return "present" if present else "missing"
    return ("recorded with other data files than this machine has: "
            + ", ".join(f"{k} {state(recorded.get(k))} there, {state(here.get(k))} here" for k in differ)
            + f"; put the files in ${data.DATA_ENV} (reprolib.data.fetch downloads them) to run these checks")


def chapter_inputs(name: str, profile: str) -> dict:
    """What executing chapter ``name`` at ``profile`` depends on: ``{"hash": ..., "parts": ...}``, where
    ``parts`` maps ``"profile"`` to the profile and each input file (by its path in the book) to
    :func:`file_hash`, and ``hash`` hashes ``parts``.

    The input files are the notebook, its parameter file, the source of every library module it imports
    (:func:`library_modules`) and, when its source mentions ``load_results`` or ``results/``, every
    ``results/*.json``: all of them rather than the ones it reads, a rule that never misses one."""
    check_profile(profile)
    notebook = NOTEBOOKS / f"{name}.py"
    if not notebook.is_file():
        raise ValueError(f"name must be a chapter of {NOTEBOOKS}, got {name!r}")
    source = notebook.read_text()
    files = {f"notebooks/{name}.py": notebook, f"params/{profile}/{name}.yaml": PARAMS / profile / f"{name}.yaml"}
    files.update({f"reprolib/{m}.py": provenance.PACKAGE / f"{m}.py" for m in library_modules(source)})
    if "load_results" in source or "results/" in source:
        files.update({f"results/{p.name}": p for p in sorted(RESULTS.glob("*.json"))})
    parts = {"profile": profile, **{key: file_hash(path) for key, path in files.items()}}
    present = data_present(name)
    if present is not None:
        parts["data"] = present
    return {"hash": hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16], "parts": parts}


def rebuild_reason(name: str, profile: str, inputs: dict, last: dict | None) -> str | None:
    """Why chapter ``name`` must be executed at ``profile`` again, or None when its last execution is
    reused: its last status (``last``, its row of timings.json) is "ok" at ``profile``, its executed
    notebook, claims file and inputs record exist, the recorded hash is that of ``inputs``
    (:func:`chapter_inputs`), and its recorded checks still pass (:func:`chapter_checks`)."""
    if last and last.get("status") != "ok":
        return "its last execution failed"
    if not last or last.get("profile") != profile or "executed" not in last:
        return f"no successful execution at {profile} recorded"
    output = CHAPTERS / f"{name}.ipynb"
    for path in (output, claims_path(output), inputs_path(output)):
        if not path.is_file():
            return f"{path.name} is missing"
    try:
        recorded = json.loads(inputs_path(output).read_text())
        old = recorded["parts"]
        if recorded["hash"] != inputs["hash"]:
            changed = sorted(k for k in old.keys() | inputs["parts"].keys() if old.get(k) != inputs["parts"].get(k))
            return f"changed: {', '.join(changed) or 'its inputs'}"
        chapter_checks(name, output)
    except (ValueError, TypeError, KeyError, AttributeError) as err:  # a damaged record or failed checks
        return f"its recorded execution is unusable ({type(err).__name__}: {err})"
    return None


def build(name: str, profile: str, last: dict | None, force: bool) -> tuple[dict, str]:
    """Execute chapter ``name`` at ``profile`` into ``book/chapters``, or reuse its last execution
    (:func:`rebuild_reason`; never with ``force``). Return its new row of timings.json and what to print
    after its name; raises when a cell or a check fails."""
    output = CHAPTERS / f"{name}.ipynb"
    inputs = chapter_inputs(name, profile)
    reason = "--force" if force else rebuild_reason(name, profile, inputs, last)
    if reason is None:  # the row keeps the seconds and time of the last execution
        return {**last, "reused": True}, "reused (inputs unchanged)"
    inputs_path(output).unlink(missing_ok=True)  # a failed or interrupted execution leaves no record
    executed = provenance.now()
    seconds = execute(name, profile, output)
    checks = chapter_checks(name, output)["checks"]  # a repeated id or a failed check fails the chapter
    add_box(output, chapter_box(name, profile, seconds, executed, checks))
    write_atomic(inputs_path(output), json.dumps(inputs, indent=1))
    row = {"profile": profile, "seconds": seconds, "status": "ok", "executed": executed, "reused": False}
    return row, f"{seconds:8.1f} s  ok  (executed: {reason})"


def read_timings() -> dict:
    """The chapters' last times and statuses; a damaged file is reported and started afresh."""
    if not TIMINGS.is_file():
        return {}
    try:
        timings = json.loads(TIMINGS.read_text())
        if not isinstance(timings, dict) or not all(isinstance(t, dict) and {"profile", "seconds", "status"} <= set(t)
                                                    for t in timings.values()):
            raise ValueError("not a mapping of chapters to their profile, seconds and status")
    except ValueError as err:
        print(f"ignoring the damaged {TIMINGS} ({err}); the build report starts afresh", file=sys.stderr)
        return {}
    return timings


def executed_chapters(timings: dict) -> dict:
    """Every chapter whose last execution succeeded and is on disk: name -> its row of timings.json
    (``profile``, ``executed``, ...) with :func:`chapter_checks` (``title``, ``checks``, ``sections``)."""
    out = {}
    for name in sorted(timings):
        output = CHAPTERS / f"{name}.ipynb"
        if timings[name].get("status") == "ok" and output.is_file():
            out[name] = {**timings[name], **chapter_checks(name, output)}
    return out


def write_claims(timings: dict) -> None:
    """The "Claims" page and the introduction's results at a glance (:func:`write_glance`), from the
    recorded checks of every chapter executed so far."""
    chapters_ = executed_chapters(timings)
    write_atomic(CLAIMS, claims.page(chapters_))
    write_glance(chapters_)


def figure_png(nb: nbformat.NotebookNode, label: str) -> bytes | None:
    """The PNG of the figure captioned ``**Figure <label>.**`` (:func:`reprolib.plotting.caption`) in an
    executed notebook: the last image shown before that caption in the same cell; None when there is none."""
    for cell in nb.cells:
        image = None
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" in data:
                image = data["image/png"]
            elif data.get("text/markdown", "").startswith(f"**Figure {label}.**") and image is not None:
                return base64.b64decode(image)
    return None


def write_glance(chapters_: dict) -> None:
    """``book/glance.md``, included at the top of the introduction: the counts of the Claims page and the
    figures of :data:`GLANCE_FIGURES`, taken from the executed chapters (``book/_static/glance/``), each
    linking to its chapter. A figure missing from this build is named as such."""
    GLANCE_IMAGES.mkdir(parents=True, exist_ok=True)
    every = [c for ch in chapters_.values() for c in ch["checks"]]
    evidence = [c for c in every if c.kind == "evidence"]
    rows = ["| paper | " + " | ".join(claims.VERDICTS) + " |", "|---|" + "---|" * len(claims.VERDICTS)]
    for paper, title in claims.PAPER_TITLES.items():  # evidence only: a narrow table (the Claims page has all)
        rows.append(f"| {title} | " + " | ".join(str(sum(c.paper_name == paper and c.verdict == v for c in evidence))
                                                   for v in claims.VERDICTS) + " |")
    parts = [f"{len(every)} checks in {len(chapters_)} chapters. The {len(evidence)} that are evidence, by verdict "
             f"(the other {len(every) - len(evidence)} check our code; each check is listed on the "
             "[Claims](claims.md) page):\n", "\n".join(rows), ""]
    for label, (name, what) in GLANCE_FIGURES.items():
        output = CHAPTERS / f"{name}.ipynb"
        png = figure_png(nbformat.read(output, as_version=4), label) if name in chapters_ else None
        if png is None:
            parts.append(f"- Figure {label} ({what}): not in this build; it is in [its chapter](chapters/{name}.ipynb).")
            continue
        write_atomic(GLANCE_IMAGES / f"{label}.png", png)
        title = chapters_[name]["title"]
        parts += [f"**{what}** (Figure {label}, [{title}](chapters/{name}.ipynb))\n",
                  f"![{what}: Figure {label} of the chapter {title}](_static/glance/{label}.png)\n"]
    write_atomic(GLANCE, "\n".join(parts) + "\n")


def strip_for_regression(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Keep text outputs only and drop run-specific metadata (timings, random cell ids),
    so that a rewritten reference differs from the old one only where outputs changed."""
    nb.metadata.pop("papermill", None)
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:03d}"
        for key in ("papermill", "execution"):
            cell.metadata.pop(key, None)
        for out in cell.get("outputs", []):
            for mime in STRIPPED:
                out.get("data", {}).pop(mime, None)
    return nb


def code_cells(name: str, profile: str = "ci") -> list[str]:
    """The code cells of chapter ``name`` as papermill executes them at ``profile``: the notebook's
    cells with the injected parameters cell after the one tagged ``parameters``."""
    cells = []
    for cell in jupytext.read(NOTEBOOKS / f"{name}.py").cells:
        if cell.cell_type == "code":
            cells.append(cell.source)
            if "parameters" in cell.metadata.get("tags", []):
                cells.append(translate_parameters("python3", "python", load(name, profile), "Parameters").strip())
    return cells


def stale_reference(name: str) -> str | None:
    """Why the nbval reference of ``name`` no longer matches ``notebooks/<name>.py`` (None when it does):
    the first code cell that differs, or a different number of code cells."""
    ref = [c.source.strip() for c in nbformat.read(REGRESSION / f"{name}.ipynb", as_version=4).cells if c.cell_type == "code"]
    now = [c.strip() for c in code_cells(name)]
    fix = f"rewrite it with `make regression NB={name}` (and say in the commit why its numbers changed)"
    for i, (a, b) in enumerate(zip(ref, now)):
        if a != b:
            first = next(line for line in b.splitlines() + [""] if line not in a.splitlines())
            return (f"tests/regression/{name}.ipynb is stale: code cell {i} differs from notebooks/{name}.py "
                    f"(first differing line: {first!r}); {fix}")
    if len(ref) != len(now):
        return (f"tests/regression/{name}.ipynb is stale: it has {len(ref)} code cells, notebooks/{name}.py "
                f"has {len(now)}; {fix}")
    return None


def run_column(row: dict) -> str:
    """How the chapter of timings row ``row`` came to the last build: "executed" or "reused (last executed <time>)"."""
    return f"reused (last executed {row['executed']})" if row.get("reused") else "executed"


def write_report(timings: dict) -> None:
    """The "Build report" page: one row per chapter (executed in this build, or reused with the seconds and
    time of its last execution), plus versions and the commit (:mod:`reprolib.provenance`)."""
    rows = "\n".join(f"| {name} | {t['profile']} | {t['seconds']:.1f} | {t['status']} | {run_column(t)} |"
                     for name, t in sorted(timings.items()))
    git, env = provenance.git_state(), provenance.environment()
    commit = git["git_commit"][:7] + (" (with uncommitted changes)" if git["uncommitted_changes"] else "")
    write_atomic(REPORT, f"""# Build report

Generated by `python -m reprolib.pipeline execute` at the last build. A chapter is executed again
only when its notebook, its parameters or a library module it imports changed (or a results file, for
the chapters that read them); a reused chapter's numbers come from its last execution, with the same inputs.

| chapter | profile | seconds | status | run |
|---|---|---|---|---|
{rows}

| | |
|---|---|
| built | {provenance.now()} |
| git commit | {commit} |
| Python | {env['python']} |
| torch | {env['torch']} |
| numpy | {env['numpy']} |
| machine | {env['machine']} |
""")


def vendor_mathjax() -> None:
    """Copy MathJax 3 (shipped by the PyPI package ``django-static-mathjax``) into
    ``book/_static/mathjax`` so the HTML renders equations without internet access."""
    import mathjax  # the package's import name; it holds static files only

    source = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (source / "tex-mml-chtml.js").is_file():
        raise FileNotFoundError(f"MathJax not found at {source}; reinstall django-static-mathjax")
    shutil.copytree(source, MATHJAX, dirs_exist_ok=True)


def site(html: Path | None = None, screenshots: Path | None = None, out: Path | None = None) -> Path:
    """The static site: a copy of the built HTML (``_build/html``, with its vendored MathJax) plus
    ``claims.json``, every recorded check of every executed chapter, and the browser tests' screenshots
    (``_build/screenshots``, when they ran) in ``screenshots/``. It needs no server-side code: it works from
    any static web server and from the file system. Written to a temporary folder, then moved to ``out``
    (default ``_build/site``); returns ``out``."""
    html, screenshots, out = html or HTML, screenshots or SCREENSHOTS, out or SITE
    if not (html / "index.html").is_file():
        raise FileNotFoundError(f"{html} has no index.html: run `make book` first")
    chapters_ = {name: {"title": ch["title"], "profile": ch["profile"], "executed": ch.get("executed"),
                        "checks": [dataclasses.asdict(c) for c in ch["checks"]]}
                 for name, ch in executed_chapters(read_timings()).items()}
    staged = out.with_name(out.name + ".partial")
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(html, staged)
    if screenshots.is_dir():
        shutil.copytree(screenshots, staged / "screenshots")
    (staged / ".nojekyll").touch()  # GitHub Pages serves the _static and _images folders as they are
    write_atomic(staged / "claims.json", json.dumps({**provenance.git_state(),
                                                     "chapters": chapters_}, indent=1))
    shutil.rmtree(out, ignore_errors=True)
    staged.rename(out)
    return out


def default_jobs() -> int:
    """One chapter per core this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def in_parallel(task, names: list[str], args: tuple, jobs: int, order: dict[str, float]):
    """Run ``task(name, *args)`` for every chapter in ``names``, ``jobs`` at a time in separate processes
    (the standard library's pool; every kernel computes with its own single thread), the longest first by
    ``order`` (name -> last seconds); with ``jobs == 1``, in this process and in the order given. Yields ``(name, result, error)`` as each finishes, ``error`` being the
    exception a chapter raised (``result`` is then None)."""
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be a positive int, got {jobs!r}")
    if jobs == 1 or len(names) == 1:  # in this process: simpler tracebacks, nothing to spawn
        for name in names:
            try:
                yield name, task(name, *args), None
            except Exception as err:  # noqa: BLE001 - reported by the caller, by chapter
                yield name, None, err
        return
    # spawn, not fork: the parent has torch (and its thread pools) loaded
    queue = sorted(names, key=lambda n: -order.get(n, 0.0))
    with concurrent.futures.ProcessPoolExecutor(min(jobs, len(queue)), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(task, name, *args): name for name in queue}
        for future in concurrent.futures.as_completed(futures):
            err = future.exception()
            yield futures[future], None if err else future.result(), err


def run(profile: str, only: str | None, force: bool = False, jobs: int | None = None) -> int:
    """Execute the chapters whose inputs changed (every one with ``force``; :func:`build`), ``jobs`` at a
    time (default :func:`default_jobs`), print their times, update the build report; return an exit code."""
    if not isinstance(force, bool):
        raise TypeError(f"force must be True or False, got {force!r}")
    missing = [name for name in chapters(only) if profile not in available(name)]
    if missing:  # the cpu profile belongs to the long experiments (python -m reprolib.experiments)
        print(f"no chapter ran: {', '.join(missing)} ha{'s' if len(missing) == 1 else 've'} no params/{profile}/ "
              f"file (profile {profile!r} is for: "
              f"{', '.join(n for n in chapters() if profile in available(n)) or 'no chapter'})", file=sys.stderr)
        return 2
    timings = read_timings()
    failed = []
    start = time.perf_counter()
    last = {name: timings[name].get("seconds", 0.0) for name in timings}
    names = chapters(only)
    for name, result, err in in_parallel(build_row, names, (profile, timings, force), jobs or default_jobs(), last):
        if err is None:
            timings[name], note = result
        else:  # every failure is reported by chapter, then the command exits non-zero
            timings[name] = {"profile": profile, "seconds": time.perf_counter() - start, "status": "FAILED"}
            note = "FAILED"
            failed.append(name)
            print(f"FAILED {name} ({profile}): {type(err).__name__}: {err}", file=sys.stderr)
        print(f"{name:<28} {profile:<6} {note}", flush=True)
    timings = {name: t for name, t in timings.items() if name in chapters()}  # rows of deleted chapters go
    write_atomic(TIMINGS, json.dumps(timings, indent=1))
    write_report(timings)
    write_claims(timings)
    print(f"{len(names)} chapter(s) in {time.perf_counter() - start:.0f} s of wall time", flush=True)
    if failed:
        print(f"{len(failed)} chapter(s) failed: {', '.join(sorted(failed))} (executed notebooks in {CHAPTERS})",
              file=sys.stderr)
        return 1
    return 0


def build_row(name: str, profile: str, timings: dict, force: bool) -> tuple[dict, str]:
    """:func:`build` of ``name`` with its row of ``timings`` (a module-level function: the pool pickles it)."""
    return build(name, profile, timings.get(name), force)


def regression_one(name: str) -> float:
    """Rewrite ``tests/regression/<name>.ipynb`` from a fresh ``ci`` execution; return its seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{name}.ipynb"
        seconds = execute(name, "ci", out)
        chapter_checks(name, out)  # a reference is never written from a run whose checks failed
        nb = strip_for_regression(nbformat.read(out, as_version=4))
        present = data_present(name)
        if present is not None:  # the data the outputs were made from (reference_skip_reason)
            nb.metadata["reprolib"] = {"data": present}
        nbformat.write(nb, REGRESSION / f"{name}.ipynb")
    return seconds


def regression(only: str | None = None, jobs: int | None = None) -> int:
    """Rewrite ``tests/regression/*.ipynb`` (or only one chapter's) from fresh ``ci`` executions, ``jobs`` at a
    time; return an exit code (1 when a chapter failed: its reference is left as it was)."""
    REGRESSION.mkdir(parents=True, exist_ok=True)
    last = {name: t.get("seconds", 0.0) for name, t in read_timings().items()}
    failed = []
    for name, seconds, err in in_parallel(regression_one, chapters(only), (), jobs or default_jobs(), last):
        if err is not None:
            failed.append(name)
            print(f"FAILED {name} (ci): {type(err).__name__}: {err}", file=sys.stderr)
        else:
            print(f"{name:<28} ci     {seconds:8.1f} s  -> {REGRESSION / name}.ipynb", flush=True)
    return 1 if failed else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reprolib.pipeline", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("execute", help="execute chapters into book/chapters and write the build report")
    ex.add_argument("--profile", default="ci", choices=PROFILES)
    ex.add_argument("--only", default=None, help="one chapter name, e.g. 01_linear_proof")
    ex.add_argument("--force", action="store_true", help="execute every chapter, even one whose inputs did not change")
    rg = sub.add_parser("regression", help="rewrite the nbval references from ci executions")
    rg.add_argument("--only", default=None, help="one chapter name, e.g. 01_linear_proof")
    for p in (ex, rg):
        p.add_argument("--jobs", type=int, default=None, help="chapters at a time (default: one per core)")
    sub.add_parser("static", help="copy MathJax into book/_static for the HTML build")
    sub.add_parser("site", help="the static site in _build/site: the HTML, claims.json and the screenshots")
    args = parser.parse_args(argv)
    if args.command == "execute":
        return run(args.profile, args.only or None, args.force, args.jobs)
    if args.command == "static":
        vendor_mathjax()
        return 0
    if args.command == "site":
        print(f"static site in {site()}")
        return 0
    return regression(args.only or None, args.jobs)


if __name__ == "__main__":
    sys.exit(main())
