"""Filings in, index generations out: ``extract`` → ``normalize`` → ``parse`` → ``chunk`` → embed → commit.

``pipeline`` runs the stages in that order; each stage is a module of its own and imports only the
stages before it (``decode`` is ``extract``'s text decoder, ``tokens`` is ``chunk``'s budget).
"""
