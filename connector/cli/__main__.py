"""``python -m connector.cli``: the same as the ``consent-sync`` script."""

from connector.cli.root import main

main()
