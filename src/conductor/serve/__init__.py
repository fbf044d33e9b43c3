"""``conductor serve``: the operator console in a browser, through textual-serve.

``access`` holds the rules (which hosts may be served, where the token comes from, whether a
request may pass) with no web framework imported; ``server`` is the aiohttp side, imported only
when ``conductor serve`` runs.
"""
