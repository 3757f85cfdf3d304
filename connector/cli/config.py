"""``consent-sync check-config``: the effective settings, secrets masked."""

from connector.cli import shell


def check_config() -> None:
    """Print the effective settings (file + environment) as JSON, secrets masked."""
    from connector.settings import masked

    shell.print_json(masked(shell.settings()))
