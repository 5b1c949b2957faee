"""Filings → passages → retrieval → answers."""
