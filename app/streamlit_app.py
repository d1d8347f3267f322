"""ShopLake dashboard: `shoplake dashboard` runs this with Streamlit (pages in app_pages/)."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

APP_DIR = Path(__file__).resolve().parent
if str(APP_DIR) not in sys.path:  # AppTest and `streamlit run` from elsewhere both find shoplake_ui
    sys.path.insert(0, str(APP_DIR))

import shoplake_ui as ui  # noqa: E402

st.set_page_config(page_title="ShopLake", page_icon=":material/storefront:", layout="wide")

PAGES = [
    st.Page(APP_DIR / "app_pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page(APP_DIR / "app_pages/sales.py", title="Sales", icon=":material/sell:"),
    st.Page(APP_DIR / "app_pages/customers.py", title="Customers", icon=":material/groups:"),
    st.Page(APP_DIR / "app_pages/clickstream.py", title="Clickstream", icon=":material/bolt:"),
    st.Page(APP_DIR / "app_pages/data_quality.py", title="Data quality", icon=":material/fact_check:"),
    st.Page(APP_DIR / "app_pages/anomalies.py", title="Anomalies & forecast", icon=":material/query_stats:"),
]

page = st.navigation(PAGES)
ui.sidebar()
page.run()
