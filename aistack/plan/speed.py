"""Predicted decode speed: memory bandwidth over bytes read per token.

Decoding one token streams every *active* weight once plus the KV cache of the
context so far, so it is memory-bandwidth bound::

    seconds/token = Σ_devices  bytes_read_on(d) / (bandwidth(d) · efficiency(d))
    tokens/s      = 1 / seconds/token

* bytes read per token = (weights − input embedding) × active/total parameters
  (MoE reads only the routed experts; the input embedding is a row lookup)
  + the KV cache at the working context (``min(n_ctx, 4096)`` tokens: a chat
  turn, not a full window).
* bandwidth: the GPU's peak (bus width × memory clock, from the probe, or a
  recorded figure); Apple: the chip's unified-memory bandwidth; CPU: the
  profile's figure when recorded, else estimated from the platform (below) and
  the estimate is named in ``speed_basis``.
* efficiency (fraction of peak that llama.cpp/MLX decode reaches, from public
  benchmark reports): CUDA 0.75, ROCm 0.60, Vulkan 0.55, SYCL 0.50, Metal 0.70,
  MLX 0.75, CPU 0.60.

CPU bandwidth estimate without a recorded figure: Apple chips use their
unified bandwidth; otherwise dual-channel DDR4-3200 (51.2 GB/s) for desktops,
single channel (25.6 GB/s) for machines with ≤ 8 GiB RAM, 8 channels of
DDR4-3200 (204.8 GB/s) for servers (≥ 32 cores and ≥ 64 GiB) — and never more
than 12 GB/s per physical core, since a few cores cannot saturate many
channels.
"""

from __future__ import annotations

from aistack.hardware.profile import HardwareProfile

GiB = 1024**3

EFFICIENCY = {
    "cuda": 0.75,
    "rocm": 0.60,
    "vulkan": 0.55,
    "sycl": 0.50,
    "metal": 0.70,
    "mlx": 0.75,
    "cpu": 0.60,
    "bitnet-cpu": 0.60,
}
PER_CORE_GBPS = 12.0
WORKING_CTX = 4096
MIN_TPS = 8.0  # below this a chat feels broken; the planner prefers faster candidates


def cpu_bandwidth(profile: HardwareProfile) -> tuple[float, str]:
    """(GB/s, how it was obtained) for the CPU side."""
    if profile.memory.bandwidth_gbps:
        return profile.memory.bandwidth_gbps, f"RAM {profile.memory.bandwidth_gbps:.0f} GB/s (recorded)"
    if profile.apple and profile.apple.bandwidth_gbps:
        return profile.apple.bandwidth_gbps, f"unified memory {profile.apple.bandwidth_gbps:.0f} GB/s ({profile.apple.chip})"
    cores = profile.cpu.physical_cores or max(1, (profile.cpu.logical_cores or 2) // 2)
    ram = profile.memory.ram_total_bytes
    if cores >= 32 and ram >= 64 * GiB:
        bw, what = 204.8, "server, 8-channel DDR4-3200 assumed"
    elif ram <= 8 * GiB:
        bw, what = 25.6, "single-channel DDR4-3200 assumed (≤ 8 GiB RAM)"
    else:
        bw, what = 51.2, "dual-channel DDR4-3200 assumed"
    cap = cores * PER_CORE_GBPS
    if cap < bw:
        return cap, f"RAM ~{cap:.0f} GB/s estimated ({what}, capped at {PER_CORE_GBPS:.0f} GB/s x {cores} cores)"
    return bw, f"RAM ~{bw:.0f} GB/s estimated ({what})"


def gpu_bandwidth(gpu) -> float | None:
    if gpu.bandwidth_gbps:
        return gpu.bandwidth_gbps
    if gpu.memory_bus_width_bits and gpu.memory_clock_max_mhz:
        # NVML reports the memory clock such that bus/8 x clock x 2 is the
        # data rate (double data rate); GDDR6X figures come out right this way.
        return gpu.memory_bus_width_bits / 8 * gpu.memory_clock_max_mhz * 2 / 1000
    return None


def decode_tps(reads: list[tuple[float, float, str]]) -> float | None:
    """``reads``: (bytes read per token, bandwidth GB/s, build kind) per device."""
    seconds = 0.0
    for nbytes, gbps, kind in reads:
        if nbytes <= 0:
            continue
        if not gbps:
            return None
        seconds += nbytes / (gbps * 1e9 * EFFICIENCY.get(kind, 0.5))
    return round(1.0 / seconds, 1) if seconds > 0 else None
