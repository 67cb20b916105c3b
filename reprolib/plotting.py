"""Figure captions that state what was run and at what size."""

from __future__ import annotations

from IPython.display import Markdown, display


def caption(label: str, text: str, **sizes) -> None:
    """Display ``**Figure label.** text (profile sizes: k = v, ...)`` below a figure.

    Args:
        label: the figure's number, e.g. ``"1.2"``.
        text: what the figure shows.
        sizes: the run's sizes, printed as ``name = value``.
    """
    if not isinstance(label, str) or not label:
        raise ValueError("label must be a non-empty string such as '1.2'")
    if not isinstance(text, str) or not text:
        raise ValueError("text must be a non-empty string")
    run = ", ".join(f"{k} = {v}" for k, v in sizes.items())
    display(Markdown(f"**Figure {label}.** {text}" + (f" *Run: {run}.*" if run else "")))
