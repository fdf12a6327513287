import pytest

from opujax import devices
from opujax.devices import Budget, GPUSpec, OPUSpec, estimate


def test_opu_cost_by_hand():
  # 100 rows, ternary (2 binary frames) x anchor protocol (2 camera frames each).
  opu = devices.make("opu", 1000, 4000, encoding="ternary", dmd_shape=(40, 40),
                     camera_shape=(2, 2048))
  b = opu.cost(100)
  assert b.frames == 400 and b.dmd_frames == 400
  assert b.macs == 100 * 1000 * 4000
  assert b.optical_macs == 400 * 1500 * 4000  # 1000 input + 500 anchor mirrors
  assert b.bytes_uploaded == 400 * 1600 // 8
  assert b.bytes_read == 400 * 4000  # 8-bit pixels
  assert (b + b).frames == 800 and (3 * b).bytes_read == 3 * b.bytes_read


def test_estimate_by_hand():
  b = Budget(projections=10, macs=10 * 1000 * 2000, frames=20, dmd_frames=20,
             optical_macs=20 * 1500 * 2000, bytes_uploaded=20 * 200, bytes_read=20 * 2000)
  opu = OPUSpec(ops_per_s=1e12, power_w=30.0, frame_rate_hz=1000.0, dmd_bytes_per_s=1e6,
                camera_bytes_per_s=1e7)
  gpu = GPUSpec(flops_per_s=1e12, power_w=700.0, utilisation=0.5)
  e = estimate(b, opu, gpu)
  # frames: 20 / 1000 = 0.02 s; ops: 6e7 / 1e12 = 6e-5 s; io: 4000/1e6 + 40000/1e7 = 0.008 s
  assert e.opu_time_s == pytest.approx(0.02)
  assert e.opu_io_time_s == pytest.approx(0.008)
  assert e.opu_energy_j == pytest.approx(0.6)
  # 2 * 2e7 flops at 0.5e12 flop/s = 8e-5 s, times 700 W
  assert e.gpu_time_s == pytest.approx(8e-5)
  assert e.gpu_energy_j == pytest.approx(0.056)


def test_io_bound_opu():
  b = Budget(frames=1, bytes_uploaded=10**9)
  assert estimate(b, OPUSpec(dmd_bytes_per_s=1e9)).opu_time_s == pytest.approx(1.0)
