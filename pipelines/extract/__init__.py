"""Database sources: read ERP tables from a SQL database into the contract-checked batch ingest.

`config` reads the sources' YAML (beside the contracts), `reader` turns a connection URL and a query
into Arrow record batches (ADBC for PostgreSQL, SQLAlchemy for the rest), `cursor` keeps the
incremental high-water marks in the ledger, and `run` (`shoplake extract`) lands the rows in chunks
through `pipelines.batch.ingest.landing_frames`. See docs/erp.md.
"""
