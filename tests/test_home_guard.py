from pathlib import Path

import platformdirs
import pytest

from aistack import paths


def test_dirs_point_at_test_home(_guard_home):
    d = paths.dirs()
    for p in (d.config, d.state, d.cache, d.data, d.models):
        assert _guard_home in p.parents


def test_writing_real_state_dir_is_an_error():
    real = Path(platformdirs.user_state_dir("aistack", appauthor=False))
    with pytest.raises(AssertionError, match="real user dir"):
        (real / "x").mkdir(parents=True)
    with pytest.raises(AssertionError, match="real user dir"):
        open(real / "state.json", "w")
