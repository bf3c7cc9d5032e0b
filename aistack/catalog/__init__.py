"""The model catalog: recipes as data files, validated on load.

``load_catalog()`` returns a ``Catalog`` of ``Recipe`` values; see
``aistack.catalog.loader`` for the recipe file format.
"""

from aistack.catalog.loader import load_catalog, load_file, parse_recipe
from aistack.catalog.model import PURPOSES, Arch, Artifact, Catalog, Recipe

__all__ = ["load_catalog", "load_file", "parse_recipe", "Arch", "Artifact", "Catalog", "Recipe", "PURPOSES"]
