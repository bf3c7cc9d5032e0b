from __future__ import annotations

import pytest

from aistack.backends.registry import BACKENDS, get_backend
from aistack.errors import UsageError


def test_known_backends():
    assert set(BACKENDS) == {"llama.cpp", "ternary"}
    assert get_backend("llama.cpp").name == "llama.cpp"
    assert get_backend("ternary").name == "ternary"


def test_unknown_backend_lists_known_ones():
    with pytest.raises(UsageError) as exc:
        get_backend("mlx")
    assert "Unknown backend 'mlx'" in exc.value.message
    assert "llama.cpp, ternary" in exc.value.message
