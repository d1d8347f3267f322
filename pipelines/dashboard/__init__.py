"""The dashboard's data access (`data`) and its launcher (`server`); the Streamlit app lives in app/."""
