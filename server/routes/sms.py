"""Route handlers: see the module docstring once filled in."""

ROUTES: list = []
