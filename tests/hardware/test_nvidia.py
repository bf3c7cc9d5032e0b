from __future__ import annotations

import pytest

from aistack.hardware.probe import probe
from aistack.hardware.sources.nvidia import SOURCE, bandwidth_gbps, driver_present

from .conftest import FIXTURES, linux_ctx, nvml

ROOT = FIXTURES / "linux" / "wsl2_i7_13700k"  # any Linux tree: the NVML fake is what matters here


def read(name: str):
    fake = nvml(name)
    facts = SOURCE.read(linux_ctx(ROOT, nvml=fake))
    return facts, fake


def test_bandwidth_formula_matches_published_figures():
    assert bandwidth_gbps(384, 10501) == pytest.approx(1008.0, abs=1)  # RTX 4090: 1008 GB/s
    assert bandwidth_gbps(320, 9501) == pytest.approx(760.0, abs=1)  # RTX 3080: 760 GB/s
    assert bandwidth_gbps(5120, 1215) == pytest.approx(1555.0, abs=1)  # A100 40 GB: 1555 GB/s
    assert bandwidth_gbps(None, 9501) is None
    assert bandwidth_gbps(384, 0) is None


def test_rtx4090():
    facts, fake = read("rtx4090")
    assert facts.warnings == []
    (g,) = facts.gpus
    assert g.vendor == "nvidia" and g.index == 0
    assert g.name == "NVIDIA GeForce RTX 4090"
    assert g.uuid == "GPU-5f3c9b1e-8a2d-4c61-9f0e-2b7d41c8a903"
    assert g.vram_total_bytes == 25757220864
    assert g.vram_free_bytes == 25394413568
    assert g.vram_used_bytes == 362807296
    assert g.compute_capability == "8.9"
    assert g.driver_version == "550.54.14"
    assert g.cuda_driver_version == "12.4"
    assert g.memory_bus_width_bits == 384
    assert g.memory_clock_max_mhz == 10501
    assert g.bandwidth_gbps == 1008.1
    assert (g.pcie_generation, g.pcie_width) == (4, 16)
    assert g.power_limit_watts == 450.0
    assert g.mig_enabled is False  # GeForce: "Not Supported" is not an error
    assert g.pci_bus_id == "00000000:01:00.0"
    assert "/dev/nvidia0" in g.device_nodes and "/dev/nvidiactl" in g.device_nodes
    assert fake.shutdown_calls == 1


def test_rtx3080_old_driver_without_bus_width_query():
    facts, _ = read("rtx3080")
    (g,) = facts.gpus
    assert g.name == "NVIDIA GeForce RTX 3080"
    assert g.vram_total_bytes == 10 * 1024**3
    assert g.compute_capability == "8.6"
    assert g.cuda_driver_version == "11.4"
    assert g.memory_clock_max_mhz == 9501
    assert g.memory_bus_width_bits is None and g.bandwidth_gbps is None
    assert g.power_limit_watts == 320.0
    assert facts.warnings == []  # Function Not Found on an old driver is quiet


def test_a100_with_mig_enabled_is_reported_not_crashed():
    facts, _ = read("a100_mig")
    assert [g.index for g in facts.gpus] == [0, 1]
    mig, whole = facts.gpus
    assert mig.mig_enabled is True and whole.mig_enabled is False
    assert mig.compute_capability == "8.0"
    assert mig.vram_total_bytes == 40 * 1024**3
    assert mig.bandwidth_gbps == pytest.approx(1555.2)
    assert whole.device_nodes[-1] == "/dev/nvidia1"
    assert len(facts.warnings) == 1 and "MIG" in facts.warnings[0].message
    assert "nvidia-smi -i 0 -mig 0" in facts.warnings[0].message


@pytest.mark.parametrize("name, words", [
    ("version_mismatch", ["version mismatch", "reboot"]),
    ("no_library", ["libnvidia-ml.so", "not found"]),
    ("driver_not_loaded", ["not loaded"]),
])
def test_nvml_init_failures_become_one_warning(name, words):
    facts, fake = read(name)
    assert facts.gpus == ()
    (w,) = facts.warnings
    for word in words:
        assert word in w.message
    assert fake.shutdown_calls == 0


def test_per_field_error_other_than_unsupported_is_a_warning_and_the_rest_survives():
    fake = nvml("rtx4090")
    fake.record["devices"][0]["errors"]["nvmlDeviceGetPowerManagementLimit"] = 4  # no permission
    facts = SOURCE.read(linux_ctx(ROOT, nvml=fake))
    (g,) = facts.gpus
    assert g.power_limit_watts is None
    assert g.vram_total_bytes == 25757220864 and g.bandwidth_gbps == 1008.1
    assert any("power limit" in w.message and "Insufficient Permissions" in w.message for w in facts.warnings)


def test_version_mismatch_profile_still_has_everything_else():
    profile = probe(ctx=linux_ctx(ROOT, nvml=nvml("version_mismatch")))
    assert profile.gpus == ()
    assert profile.cpu.brand == "13th Gen Intel(R) Core(TM) i7-13700K"
    assert profile.memory.ram_total_bytes == 16336932 * 1024
    assert [w.source for w in profile.warnings] == ["nvidia"]
    assert "version mismatch" in profile.warnings[0].message


def test_missing_pynvml_module_is_a_warning(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_pynvml(name, *args, **kwargs):
        if name == "pynvml":
            raise ImportError("No module named 'pynvml'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pynvml)
    (tmp_path / "proc/driver/nvidia").mkdir(parents=True)
    (tmp_path / "proc/driver/nvidia/version").write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14\n")
    facts = SOURCE.read(linux_ctx(tmp_path, nvml=None))
    assert facts.gpus == ()
    assert "nvidia-ml-py" in facts.warnings[0].message


def test_no_kernel_driver_skips_nvml_entirely(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def guard(name, *args, **kwargs):
        assert name != "pynvml", "pynvml must not be loaded without an NVIDIA driver"
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", guard)
    facts = SOURCE.read(linux_ctx(tmp_path, nvml=None))
    assert facts.gpus == () and "no NVIDIA kernel driver" in facts.warnings[0].message
    assert not driver_present(linux_ctx(tmp_path))
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev/dxg").write_text("")  # WSL2: the driver lives on the Windows side
    assert driver_present(linux_ctx(tmp_path))
