"""Supervisors keep a rendered ``ServiceSpec`` running. One module each."""
