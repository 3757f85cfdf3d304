"""The ``consent-sync`` command line: one module per command group (see :mod:`connector.cli.root`).

:mod:`connector.cli.shell` holds what every command needs: settings, the store, output, exit codes.
"""

from connector.cli.root import app, main

__all__ = ["app", "main"]
