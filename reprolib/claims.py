"""Every check the book prints, recorded: the data behind the *Claims* page.

A chapter closes each claim with :func:`check`, which prints one line (as the chapters always
did: ``<claim>: True``) and records the check with the paper's place it tests (``source``), its
**kind** and a **verdict**:

* ``kind="evidence"``: a measurement that could have come out otherwise (a training run, a
  growth rate, a count over random networks);
* ``kind="identity"``: holds by construction, or is a theorem the chapter proves and checks
  numerically (the norm-clipped cosine is 1, ρ(J) < 1 right after the projection). Such a check
  tests our code, not the paper, and the Claims page does not count it as evidence.

The verdict says what became of the paper's claim: one of :data:`VERDICTS`. A claim the paper
gets wrong is not a failure of the build; it is the verdict ``"paper wrong"``, with the id of
the deviation that explains it. What fails the build is a check whose outcome differs from the
one the chapter's text states (``held != expected``): the pipeline names the chapter and the check.

When the environment variable ``REPROLIB_CLAIMS`` names a file (the pipeline sets it for each
chapter it executes), every record is appended to it as one JSON line; the pipeline turns the
files of all chapters into ``book/claims.md``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass

import numpy as np

#: the environment variable naming the file that records are appended to
ENV = "REPROLIB_CLAIMS"
KINDS = ("evidence", "identity")
#: what became of a paper's claim
VERDICTS = ("reproduced", "reproduced qualitatively", "not reproduced", "not run", "paper wrong")
#: a check's ``source`` starts with the paper it quotes
PAPERS = ("Pascanu", "Kanai")
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


@dataclass(frozen=True)
class Check:
    """One recorded check (see :func:`check`)."""

    id: str
    claim: str
    held: bool | None  # None: not run
    source: str
    kind: str
    verdict: str
    expected: bool | None
    paper: str | None = None
    ours: str | None = None
    deviation: str | None = None
    reason: str | None = None
    line: str = ""

    @property
    def failed(self) -> bool:
        """The outcome differs from the one the chapter states: a failure of the build."""
        return self.held is not None and self.held != self.expected

    @property
    def paper_name(self) -> str:
        return self.source.split()[0]


#: the checks made in this process, in order (what a test or a notebook session can inspect)
RECORDED: list[Check] = []


def _text(name: str, value, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise (TypeError if not isinstance(value, str) else ValueError)(
            f"{name} must be a non-empty string, got {value!r}")
    return value


def _validate(c: Check) -> None:
    if not isinstance(c.id, str) or not _ID.match(c.id):
        raise ValueError(f"id must be lower-case letters, digits, '.', '_' or '-' (e.g. '7.1-lemma-1'), got {c.id!r}")
    _text("claim", c.claim)
    _text("source", c.source)
    if c.paper_name not in PAPERS:
        raise ValueError(f"source must start with the paper it quotes, one of {PAPERS} (e.g. 'Pascanu eq. 7'), "
                         f"got {c.source!r}")
    if c.kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {c.kind!r}")
    if c.verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, got {c.verdict!r}")
    if c.verdict == "paper wrong" and not c.deviation:
        raise ValueError("verdict 'paper wrong' needs deviation=, the id of the entry on the Deviations page")
    if c.verdict == "not run" and not c.reason:
        raise ValueError("verdict 'not run' needs reason=")
    for name in ("paper", "ours", "deviation", "reason"):
        _text(name, getattr(c, name), required=False)


def _record(c: Check) -> Check:
    _validate(c)
    RECORDED.append(c)
    path = os.environ.get(ENV)
    if path:
        with open(path, "a") as f:  # one line per check; the pipeline reads the file after the chapter ran
            f.write(json.dumps(asdict(c)) + "\n")
    return c


def _as_bool(name: str, value) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be a bool (wrap comparisons of tensors in bool(...)), got {type(value).__name__}")


def check(id: str, claim: str, held, *, source: str, kind: str = "evidence", verdict: str | None = None,
          expected: bool = True, paper=None, ours=None, deviation: str | None = None, line: str | None = None,
          show: bool = True) -> None:
    """Print ``<claim>: <held>`` (or ``line``) and record the check.

    Returns nothing, so that a check on the last line of a notebook cell adds no output of its own.

    Args:
        id: unique within the chapter, e.g. ``"7.1-lemma-1"``.
        claim: the statement checked, as the reader sees it.
        held: whether it held in this run.
        source: the paper's place, starting with the paper: ``"Pascanu eq. 7"``, ``"Pascanu supp. Table 3"``,
            ``"Kanai Lemma 3"``.
        kind: ``"evidence"`` or ``"identity"`` (module docstring).
        verdict: one of :data:`VERDICTS`; by default ``"reproduced"`` when ``held`` else ``"not reproduced"``.
        expected: the outcome the chapter's text states; a different outcome fails the build.
        paper, ours: the paper's value and ours, for the Claims table (converted with ``str``).
        deviation: the Deviations page's id when the verdict is ``"paper wrong"`` (or to point at one).
        line: the printed line, when it is not ``<claim>: <held>``.
        show: ``False`` records without printing: for a second check on a line that another check printed
            (pass that line as ``line``, so the Claims page can find its section).
    """
    held = _as_bool("held", held)
    expected = _as_bool("expected", expected)
    if verdict is None:
        verdict = "reproduced" if held else "not reproduced"
    text = f"{claim}: {held}" if line is None else line
    _record(Check(id=id, claim=claim, held=held, source=source, kind=kind, verdict=verdict, expected=expected,
                  paper=None if paper is None else str(paper), ours=None if ours is None else str(ours),
                  deviation=deviation, line=_text("line", text)))
    if show:
        print(text)


def not_run(id: str, claim: str, *, source: str, reason: str, paper=None, kind: str = "evidence") -> None:
    """Print ``not run: <claim> (<reason>)`` and record a claim this build did not test."""
    text = f"not run: {claim} ({reason})"
    _record(Check(id=id, claim=claim, held=None, source=source, kind=kind, verdict="not run", expected=None,
                  paper=None if paper is None else str(paper), reason=reason, line=text))
    print(text)


def read(path) -> list[Check]:
    """The checks recorded in a file written under ``REPROLIB_CLAIMS`` (validated again; nothing is executed)."""
    checks = []
    with open(path) as f:
        for n, raw in enumerate(f, 1):
            try:
                c = Check(**json.loads(raw))
                _validate(c)
            except (TypeError, ValueError) as err:
                raise ValueError(f"{path}, line {n}: not a check record ({err})") from None
            checks.append(c)
    return checks


# --- the Claims page ---------------------------------------------------------------------------

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*$")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|$#])")
PAPER_TITLES = {"Pascanu": "Pascanu, Mikolov & Bengio", "Kanai": "Kanai, Fujiwara & Iwamura"}


def slug(heading: str) -> str:
    """The anchor MyST gives a heading (``myst_heading_anchors``): math dropped, lower case, spaces to '-',
    punctuation dropped."""
    text = re.sub(r"\$[^$]*\$", "", heading)
    return re.sub(r"[^\w\u4e00-\u9fff\- ]", "", text.lower().replace(" ", "-"))


def locate(checks: list[Check], nb: dict) -> list[str | None]:
    """The heading of the section whose cell printed each check, matched in order in the stdout of ``nb``
    (several checks may share one printed line)."""
    blocks, heading = [], None  # (heading, stdout) of each code cell
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for text in "".join(cell["source"]).splitlines():
                m = _HEADING.match(text)
                if m and len(m.group(1)) <= 3:
                    heading = m.group(2)
        elif cell["cell_type"] == "code":
            blocks.append((heading, "".join("".join(o.get("text", "")) for o in cell.get("outputs", [])
                                            if o.get("name") == "stdout")))
    found, j, pos = [], 0, 0
    for c in checks:
        for k in range(j, len(blocks)):
            out = blocks[k][1]
            at = out.find(c.line, pos if k == j else 0)
            if at < 0 and k == j:
                at = out.find(c.line)  # a second check recorded on the line the previous one printed
            if at >= 0:
                j, pos = k, max(pos if k == j else 0, at + len(c.line))
                found.append(blocks[k][0])
                break
        else:
            found.append(None)
    return found


def _md(text) -> str:
    return "" if text is None else _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")


def _verdict(c: Check) -> str:
    if c.verdict == "paper wrong":
        return f"the paper is wrong here ({c.deviation})"
    if c.verdict == "not run":
        return f"not run: {_md(c.reason)}"
    return c.verdict + (f" ({c.deviation})" if c.deviation else "")


def summary(chapters: dict[str, dict]) -> str:
    """Counts per verdict, per paper and kind, over ``{name: {"checks": [...], ...}}``."""
    rows = ["| paper | kind | " + " | ".join(VERDICTS) + " | total |", "|---|---|" + "---|" * (len(VERDICTS) + 1)]
    every = [c for ch in chapters.values() for c in ch["checks"]]
    for paper, title in PAPER_TITLES.items():
        for kind in KINDS:
            sel = [c for c in every if c.paper_name == paper and c.kind == kind]
            counts = [sum(c.verdict == v for c in sel) for v in VERDICTS]
            rows.append(f"| {title} | {kind} | " + " | ".join(map(str, counts)) + f" | {len(sel)} |")
    return "\n".join(rows)


def page(chapters: dict[str, dict]) -> str:
    """The Claims page. ``chapters`` maps a chapter's notebook name to ``{"title", "profile", "checks",
    "sections"}``, ``sections`` being :func:`locate`'s headings."""
    every = [c for ch in chapters.values() for c in ch["checks"]]
    n_ev = sum(c.kind == "evidence" for c in every)
    parts = [f"""# Claims

Every check that a chapter prints, with the place in the paper it tests, the paper's value and ours, and a
verdict. Generated by `python -m reprolib.pipeline execute` from the checks recorded in the last build of each
chapter (`reprolib.claims`); nothing on this page is typed by hand.

- **Evidence** is a measurement that could have come out otherwise: a training run, a growth rate, a count over
  random networks.
- **Identity** holds by construction or is a theorem the chapter proves and checks numerically (a projection
  that satisfies its constraint, an equation that is an exact rewriting). Such a check tests our code, not the
  paper, and is not counted as evidence for the paper's claims.
- Verdicts: *reproduced*; *reproduced qualitatively* (the effect, not the paper's number); *not reproduced*;
  *not run* (with the reason); *the paper is wrong here* (with the id of its entry on the
  [Deviations](deviations.md) page).

## At a glance

{len(every)} checks in {len(chapters)} chapters, {n_ev} of them evidence.

{summary(chapters)}
"""]
    for name, ch in chapters.items():
        parts.append(f"## {_md(ch['title'])}\n\nProfile `{ch['profile']}`; {len(ch['checks'])} checks.\n\n"
                     f"| claim | source | paper | ours | verdict | kind | section |\n|---|---|---|---|---|---|---|")
        for c, sec in zip(ch["checks"], ch["sections"]):
            ours = c.ours if c.ours is not None else ("—" if c.held is None else ("holds" if c.held else "does not hold"))
            label = sec.split(" ")[0] if sec and sec[0].isdigit() else (sec or "").replace("$", "")  # "7.1", or a heading
            link = f"[{_md(label)}](chapters/{name}.ipynb#{slug(sec)})" if sec else ""
            parts.append(f"| {_md(c.claim)} | {_md(c.source)} | {_md(c.paper) or '—'} | {_md(ours)} | "
                         f"{_verdict(c)} | {c.kind} | {link} |")
        parts.append("")
    return "\n".join(parts)
