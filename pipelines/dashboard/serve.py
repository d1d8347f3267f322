"""Process entry for the dashboard server: import the heavy libraries once, then hand over to Streamlit.

Streamlit imports a page's modules on the first script run, i.e. while the first visitor waits;
loading pandas, Altair, DuckDB and the data layer before the server starts keeps that out of the
first render. Usage: python -m pipelines.dashboard.serve <streamlit run arguments...>
"""

from __future__ import annotations

import sys


def main() -> None:
    import altair  # noqa: F401
    import duckdb  # noqa: F401
    import pandas  # noqa: F401
    from streamlit.web import cli

    from pipelines.dashboard import backends, ingestion, live, queries  # noqa: F401

    sys.argv = ["streamlit", "run", *sys.argv[1:]]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
