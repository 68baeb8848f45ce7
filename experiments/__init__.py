"""Experiments beside the product (each with its own report)."""
