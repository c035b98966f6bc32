"""kimitui's bundled themes (installed as ``kimitui.themes``): TOML files read as resources.

A regular package, not a namespace one, so ``importlib.resources.files`` gives one folder.
"""
