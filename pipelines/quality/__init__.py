"""Data quality checks, anomaly and clickstream alerts, the sales forecast, and alert delivery."""
