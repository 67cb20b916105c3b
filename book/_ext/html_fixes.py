"""Sphinx extension of the book: two fixes of the HTML that Jupyter Book 1's stack writes, found by tests/browser.

- Sphinx 7.4 lists sphinx-thebe's inline configuration script twice on every page, and the second copy throws
  "Identifier 'THEBE_JS_URL' has already been declared" (sphinx-doc/sphinx#13402, fixed in Sphinx 8.2; Jupyter
  Book 1 needs sphinx~=7.0).
- docutils puts the bibliography entries in a role="list" element but gives them role="doc-biblioentry", a role
  DPUB-ARIA 1.1 deprecates and that is not a list item. axe-core reports this as the critical violation
  aria-required-children. The entries become role="listitem".
"""


def _fix_page(app, pagename, templatename, context, doctree):
    """html-page-context: drop repeated scripts and give bibliography entries the listitem role."""
    seen, unique = set(), []
    for script in context.get("script_files", []):
        key = (getattr(script, "filename", script) or "", tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    if "script_files" in context:
        context["script_files"][:] = unique
    if "body" in context:
        context["body"] = context["body"].replace('role="doc-biblioentry"', 'role="listitem"')


def setup(app):
    app.connect("html-page-context", _fix_page)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
