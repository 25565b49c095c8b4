"""Outbound network access: the SSRF guard."""
