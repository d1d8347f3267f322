"""Errors meant for people: the CLI prints their message as one line, without a traceback."""


class ShopLakeError(Exception):
    """A problem the user can fix; the message names what to fix."""
