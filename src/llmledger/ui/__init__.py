"""Streamlit glue only: cached resources, shared widgets, formatting. The only place that imports streamlit."""
