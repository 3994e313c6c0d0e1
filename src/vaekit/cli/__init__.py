"""The ``vaekit`` command line: parse, call one workflow, render its result."""

from .app import app, main

__all__ = ["app", "main"]
