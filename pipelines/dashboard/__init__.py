"""The dashboard's reads and its launcher; the Streamlit app itself lives in app/.

`backends` (published DuckDB snapshot or Snowflake), `queries` (the pages' warehouse SQL), `live`
(recent clickstream straight from the lake), `ingestion` (ledger roll-ups), `server`/`serve` (launcher).
"""
