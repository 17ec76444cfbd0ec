"""Dagster assets: thin wrappers that call the plain functions and report metadata."""
