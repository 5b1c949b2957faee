"""irqa: question answering over Chinese investor-relations filings, with citations.

The code lives in four packages: ``rag`` (filings → passages → retrieval → answers),
``embeddings`` (models and the vector index), ``api`` (HTTP and the web page) and
``eval`` (datasets, metrics, reports). This package holds the settings and the CLI
that wires them together.
"""

__version__ = "0.1.0"
