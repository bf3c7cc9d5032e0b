from __future__ import annotations

import pytest

from aistack.backends.base import InstalledBackend, RenderInputs
from aistack.backends.ternary import TernaryBackend
from aistack.errors import InstallError

from backend_plans import cpu_plan, with_params

INSTALLED = InstalledBackend("ternary", "cpu", "/opt/llama/llama-server", None, "user")


def test_renders_tq2_on_cpu_only():
    plan = with_params(cpu_plan(backend="ternary", quant="TQ2_0"), n_gpu_layers=20)
    spec = TernaryBackend().render(plan, INSTALLED, RenderInputs(model_path="/m/t.gguf"))
    args = spec.args
    assert args[args.index("-ngl") + 1] == "0"
    assert args[args.index("-m") + 1] == "/m/t.gguf"
    assert spec.backend == "ternary"


def test_i2_s_is_refused_before_anything_is_installed():
    plan = cpu_plan(backend="ternary", build="bitnet-cpu", quant="i2_s")
    with pytest.raises(InstallError, match="bitnet.cpp's i2_s"):
        TernaryBackend().install(plan, None, lambda _m: None)  # type: ignore[arg-type]


def test_non_ternary_quant_is_refused():
    with pytest.raises(InstallError, match="TQ1_0 and TQ2_0"):
        TernaryBackend().render(cpu_plan(backend="ternary", quant="Q4_K_M"), INSTALLED, RenderInputs(model_path="/m"))
