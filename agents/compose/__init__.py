"""Workflow composition (#11): a Plan of typed operations -> one graph chained from verified fragments."""
