"""SearchQA: multi-turn search-then-answer over a generated fictional world or a QA dataset.

``gymnasium.make("turngym/SearchQA-v0")`` (or ``-Easy-v0``, ``-Medium-v0``,
``-Hard-v0``, ``-Huge-v0``). The environment is :class:`SearchQAEnv` in
``env.py``; worlds in ``world.py``; dataset loaders in ``loaders.py``;
retrievers in ``retrieval.py`` (BM25), ``remote.py`` (Search-R1 HTTP) and
``dense.py`` (MiniLM). Importing this package stays light: import those
modules for their contents.
"""
