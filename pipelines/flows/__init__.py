"""Prefect flows: thin wrappers over the same plain functions the CLI calls.

Importing this package does not import Prefect; `server.py` must set Prefect's environment
(API URL, home) before Prefect is imported, and the flow modules import it.
"""
