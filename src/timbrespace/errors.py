"""Errors a user can act on: the CLI prints them as one line and exits non-zero."""


class TimbrespaceError(Exception):
    """A problem with the user's input (file, folder, field, option), stated in one line."""
