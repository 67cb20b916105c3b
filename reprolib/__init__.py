"""reprolib: the tested library behind the book's chapters.

One module per concept of Pascanu, Mikolov & Bengio (2013) and Kanai et al. (2017);
see ``DESIGN.md`` for the module map. Notebooks only call, plot and explain.
"""

__version__ = "0.1.0"
