"""The ternary CPU backend: ternary-weight GGUFs (TQ1_0, TQ2_0) on a llama.cpp CPU build.

Same binary as the llama.cpp backend, installed and rendered by its code; only
the formats it accepts differ. bitnet.cpp's ``i2_s`` format needs bitnet.cpp's
own kernels, which are a later roadmap item: it is refused with a clear error.
"""

from __future__ import annotations

from dataclasses import replace

from aistack.backends.base import InstalledBackend, Progress, RenderInputs
from aistack.backends.llamacpp import image_install, install_llama_server, render_service
from aistack.errors import InstallError
from aistack.hardware.profile import HardwareProfile
from aistack.plan.model import Plan
from aistack.service import ServiceSpec

NAME = "ternary"
LLAMACPP_QUANTS = ("TQ1_0", "TQ2_0")


class TernaryBackend:
    name = NAME

    def install(self, plan: Plan, profile: HardwareProfile, progress: Progress) -> InstalledBackend:
        check_format(plan)
        return install_llama_server("cpu", progress, backend=self.name)

    def install_image(self, plan: Plan) -> InstalledBackend:
        check_format(plan)
        return image_install("cpu", backend=self.name)

    def render(self, plan: Plan, installed: InstalledBackend, inputs: RenderInputs) -> ServiceSpec:
        check_format(plan)
        # Ternary kernels are CPU kernels: nothing is offloaded.
        return render_service(replace(plan, params=replace(plan.params, n_gpu_layers=0)), installed, inputs)


def check_format(plan: Plan) -> None:
    quant = plan.quant.upper()
    if quant == "I2_S" or plan.build == "bitnet-cpu":
        raise InstallError(
            f"{plan.model_id} {plan.quant} needs bitnet.cpp's i2_s kernels, which aistack cannot install yet.",
            hint="Nothing was installed. Choose a TQ1_0 or TQ2_0 file of the model "
            "(aistack plan --quant TQ2_0) or another model.",
        )
    if quant not in LLAMACPP_QUANTS:
        raise InstallError(
            f"The ternary backend serves {' and '.join(LLAMACPP_QUANTS)} files; {plan.model_id} is {plan.quant}.",
            hint="Nothing was installed. Use --backend llama.cpp for this file.",
        )
