"""Data quality: dbt tests and freshness, volume bands, ingest ledger counts, anomalies, the clickstream monitor."""
