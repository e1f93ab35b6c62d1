"""LLM Ledger: plan and watch what LLM calls cost. Core package, importable without Streamlit."""

__version__ = "0.1.0"
