"""reprolib: the tested library behind the book's chapters.

One module per concept of Pascanu, Mikolov & Bengio (2013) and Kanai et al. (2017);
the module map (which chapter calls which module, and which module may use which) is on the
book's "How this book is built" page, ``book/design.md``. Notebooks only call, plot and explain.
"""

__version__ = "0.1.0"
