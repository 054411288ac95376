"""WASender (wasenderapi.com) adapter: webhook parser and the pure side of its media fetch.

Pure like the rest of ``archive``: no I/O, clock or environment. See ``parser.py`` for the
event mapping and ``media.py`` for the decrypt-media request the fetcher sends.
"""
