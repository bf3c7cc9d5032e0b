"""Data shipped inside the package (recipes, unit templates)."""
