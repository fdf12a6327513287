"""What a projection costs: frames, optical operations, bytes, and time and energy.

Every device reports a `Budget` for the work it did (`device.cost(rows)`); budgets
add up over a run. `estimate` turns one into time and energy on an OPU and on a GPU.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Budget:
  """Counts of work done. ``macs`` is the dense projection rows x in x out that the
  learning rule needed (what a GPU would compute); ``optical_macs`` is what the optics
  did: camera frames x active mirrors x pixels read; ``camera_pixels`` the pixels read,
  camera frames x pixels a frame (the outputs, or a whole hologram)."""

  projections: int = 0
  macs: int = 0
  frames: int = 0
  dmd_frames: int = 0
  optical_macs: int = 0
  bytes_uploaded: int = 0
  bytes_read: int = 0
  camera_pixels: int = 0

  def __add__(self, other: "Budget") -> "Budget":
    return Budget(*(a + b for a, b in zip(dataclasses.astuple(self),
                                          dataclasses.astuple(other))))

  def __mul__(self, n: int) -> "Budget":
    return Budget(*(a * n for a in dataclasses.astuple(self)))

  __rmul__ = __mul__


@dataclasses.dataclass(frozen=True)
class OPUSpec:
  """Published figures of the photonic co-processor (LightOn OPU).

  ops_per_s: 1500 TeraOPS, and power_w: 30 W, as quoted for the LightOn OPU in
    Launay et al., "Hardware Beyond Backpropagation: a Photonic Co-Processor for
    Direct Feedback Alignment" (NeurIPS Beyond Backprop workshop, 2020).
  frame_rate_hz: 1.5 kHz, the lower end of the published 1.5-20 kHz range (DMD and
    camera bound); a DMD alone flips binary patterns at up to ~20 kHz.
  dmd_bytes_per_s: 2.5 GB/s, a DMD of 1M mirrors refreshed at 20 kHz (1 bit a mirror).
  camera_bytes_per_s: 6.25 GB/s, a 4-lane CoaXPress-12 link (50 Gbit/s).
  """

  ops_per_s: float = 1.5e15
  power_w: float = 30.0
  frame_rate_hz: float = 1.5e3
  dmd_bytes_per_s: float = 2.5e9
  camera_bytes_per_s: float = 6.25e9


@dataclasses.dataclass(frozen=True)
class GPUSpec:
  """An H100-class GPU: 989 TFLOP/s dense BF16 tensor-core peak and 700 W board power
  (NVIDIA H100 SXM5 datasheet). utilisation scales the peak to what a run attains."""

  flops_per_s: float = 989e12
  power_w: float = 700.0
  utilisation: float = 1.0


@dataclasses.dataclass(frozen=True)
class Estimate:
  opu_time_s: float
  opu_energy_j: float
  opu_io_time_s: float
  gpu_time_s: float
  gpu_energy_j: float


def opu_bounds(budget: Budget, opu: OPUSpec = OPUSpec()) -> dict[str, float]:
  """The budget's time (s) on each of the OPU's limits: ``frames_s`` (frame rate),
  ``optics_s`` (ops rate), ``dmd_s`` (upload link) and ``camera_s`` (readout link)."""
  return {"frames_s": budget.frames / opu.frame_rate_hz,
          "optics_s": budget.optical_macs / opu.ops_per_s,
          "dmd_s": budget.bytes_uploaded / opu.dmd_bytes_per_s,
          "camera_s": budget.bytes_read / opu.camera_bytes_per_s}


def estimate(budget: Budget, opu: OPUSpec = OPUSpec(), gpu: GPUSpec = GPUSpec()) -> Estimate:
  """Time and energy of the budget's work on an OPU and on a GPU.

  OPU time is bound by the slowest of: frames / frame rate, optical MACs / ops rate,
  and I/O (bytes up to the DMD plus bytes read off the camera over their links).
  GPU time is 2 * macs / (flops_per_s * utilisation), a dense real projection.
  Energy is power x time on each side.
  """
  t = opu_bounds(budget, opu)
  io = t["dmd_s"] + t["camera_s"]
  opu_time = max(t["frames_s"], t["optics_s"], io)
  gpu_time = 2 * budget.macs / (gpu.flops_per_s * gpu.utilisation)
  return Estimate(opu_time, opu_time * opu.power_w, io, gpu_time, gpu_time * gpu.power_w)
