"""The console: server-rendered pages under ``/console`` for marketers, privacy officers and admins.

- ``users``: console users (argon2 hashes), roles, sign-in with rate limiting.
- ``sessions``: signed session cookies and CSRF tokens.
- ``audit``: every console action in the admin audit log, with the user's name.
- ``overview``: the per-audience overview from aggregate SQL; ``chart``: its SVG.
- ``web``: the routes and templates (``templates/``, ``static/``); ``words``: bokmål and English.
"""
