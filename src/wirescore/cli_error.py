"""The error every `wirescore` command exits with: one line on stderr, status 1.

Its own module so that the command modules (cli.py, cli_models.py) share it without
importing each other."""
from __future__ import annotations

import click


class CliError(click.ClickException):
    """Prints 'wirescore: error: message' (one line) and exits 1."""

    exit_code = 1

    def show(self, file=None) -> None:
        click.echo(f"wirescore: error: {self.format_message()}", err=True)
