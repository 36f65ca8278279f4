"""Footfall's collector: receive -> validate -> identify -> enrich -> store, and out through export."""
