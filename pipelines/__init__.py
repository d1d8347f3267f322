"""ShopLake: a local-first customer-analytics lakehouse."""

__version__ = "0.1.0"
