"""Analytics products computed in Python from the published marts (the sales forecast)."""
