"""aistack.values: JSON round trip of frozen dataclasses, and the errors it names."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Literal, Optional

import pytest

from aistack import values


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class Leaf:
    name: str
    size_bytes: int | None = None


@dataclass(frozen=True)
class Tree:
    leaves: tuple[Leaf, ...] = ()
    pair: tuple[int, str] = (0, "")
    maybe: Optional[Leaf] = None
    kind: Literal["a", "b"] = "a"
    colour: Colour = Colour.RED
    ratio: float = 1.0
    flag: bool = False
    table: dict[str, int] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)
    either: int | str = 0


def roundtrip(v):
    return values.from_dict(type(v), json.loads(json.dumps(values.to_dict(v))))


def test_full_round_trip():
    t = Tree(
        leaves=(Leaf("a", 1), Leaf("b")),
        pair=(3, "x"),
        maybe=Leaf("m", 2**40),
        kind="b",
        colour=Colour.BLUE,
        ratio=0.25,
        flag=True,
        table={"k": 1},
        names=["p", "q"],
        either="text",
    )
    assert roundtrip(t) == t
    assert roundtrip(Tree()) == Tree()
    assert values.to_dict(t)["leaves"][1] == {"name": "b", "size_bytes": None}
    assert values.to_dict(t)["colour"] == "blue"


def test_tuples_come_back_as_tuples_and_float_accepts_int():
    t = values.from_dict(Tree, {"leaves": [{"name": "x"}], "pair": [1, "y"], "ratio": 2})
    assert isinstance(t.leaves, tuple) and isinstance(t.pair, tuple)
    assert t.ratio == 2.0 and isinstance(t.ratio, float)


def test_optional_accepts_null_and_value():
    assert values.from_dict(Tree, {"maybe": None}).maybe is None
    assert values.from_dict(Tree, {"maybe": {"name": "z"}}).maybe == Leaf("z")


@pytest.mark.parametrize("data, path_and_words", [
    ({"leaves": [{"name": "a"}, {"name": "b", "colour": "x"}]}, ["Tree.leaves[1]", "unknown key", "colour"]),
    ({"maybe": {"name": "m", "extra": 1}}, ["Tree.maybe", "extra"]),
    ({"surprise": 1}, ["Tree", "unknown key", "surprise"]),
    ({"leaves": [{}]}, ["Tree.leaves[0]", "missing key 'name'"]),
    ({"pair": [1]}, ["Tree.pair", "expected 2 items"]),
    ({"kind": "c"}, ["Tree.kind", "expected one of"]),
    ({"colour": "green"}, ["Tree.colour"]),
    ({"flag": 1}, ["Tree.flag", "expected bool"]),
    ({"leaves": [{"name": "a", "size_bytes": True}]}, ["Tree.leaves[0].size_bytes"]),
    ({"leaves": [{"name": "a", "size_bytes": 1.5}]}, ["Tree.leaves[0].size_bytes"]),
    ({"ratio": "fast"}, ["Tree.ratio", "expected a number"]),
    ({"leaves": {"name": "a"}}, ["Tree.leaves", "expected a list"]),
    ({"table": [1]}, ["Tree.table", "expected a table"]),
    ({"either": 1.5}, ["Tree.either"]),
])
def test_errors_name_the_path(data, path_and_words):
    with pytest.raises(values.ValueError_) as info:
        values.from_dict(Tree, data)
    for word in path_and_words:
        assert word in str(info.value)


def test_not_a_table_at_the_top():
    with pytest.raises(values.ValueError_, match="expected a table"):
        values.from_dict(Leaf, ["name"])


def test_hardware_profile_unknown_key_path():
    from aistack.hardware.profile import HardwareProfile

    data = {"os": {"system": "Linux", "arch": "x86_64"}, "cpu": {"cores": 4}, "memory": {"ram_total_bytes": 1}}
    with pytest.raises(values.ValueError_, match=r"HardwareProfile\.cpu: unknown key\(s\) \['cores'\]"):
        HardwareProfile.from_dict(data)
