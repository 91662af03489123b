"""WebShop: shopping for a written goal in a 100,000-product catalogue, with WebShop's reward.

``gymnasium.make("turngym/WebShop-v0")`` (100,000 products) or ``"turngym/WebShop-Small-v0"``
(2,000). The environment is :class:`WebShopEnv` in ``env.py``; the reward in ``reward.py``;
pages and their renderings in ``pages.py``; products and goals in ``products.py``; the
seeded generator in ``generator.py`` (word lists in ``vocabulary.py``); WebShop's own files
in ``loaders.py``; SQLite storage and search in ``catalogue.py``. Importing this package
stays light: import those modules for their contents.
"""
