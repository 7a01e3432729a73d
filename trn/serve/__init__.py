"""``trn serve``: an HTTP API and a live dashboard over the same functions as ``import trn``.

:mod:`~trn.serve.app` builds the Starlette app, :mod:`~trn.serve.guard` checks every request
(Host, body size, bearer token), the ``routes_*`` modules answer, ``static/`` is the dashboard.
The server only reads job dirs and starts jobs detached, so it never imports torch and jobs
outlive it.
"""
