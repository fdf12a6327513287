import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from opujax import devices
from opujax.devices import Camera, EmulatedDriver, HardwareError

N, M = 24, 160
DMD, CAMERA = (3, 16), (2, 128)


def binary(shape, seed=0):
  return (jax.random.uniform(jax.random.key(seed), shape) < 0.5).astype(jnp.float32)


def pair(mode="linear", camera=None, code=None, **faults):
  """An emulated-hardware OPU and the simulated OPU with the same medium, camera and error
  code (``code``: encoding options)."""
  camera, code = camera or Camera.ideal(), code or {}
  driver = EmulatedDriver(DMD, CAMERA, seed=4, camera=camera, **faults)
  hw = devices.make("hardware", N, M, driver=driver, mode=mode, camera=camera,
                    exposure=camera.exposure or 1.0, **code)
  sim = devices.make("opu", N, M, seed=4, mode=mode, dmd_shape=DMD, camera_shape=CAMERA,
                     camera=dataclasses.replace(camera, exposure=camera.exposure or 1.0), **code)
  return hw, sim


@pytest.mark.parametrize("mode", ["linear", "intensity"])
def test_emulated_hardware_equals_simulation(mode):
  hw, sim = pair(mode)
  x = binary((6, N))
  expected = sim.project(x, jax.random.key(0))
  np.testing.assert_allclose(hw.project(x, None), expected, rtol=1e-4,
                             atol=1e-4 * np.abs(expected).max())
  jitted = jax.jit(lambda x: hw.project(x, None))(x)
  np.testing.assert_allclose(jitted, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
  assert hw.log.frames == (2 if mode == "linear" else 1) * 6 * 2 + (16 if mode == "linear" else 0)


def test_common_mode_code_calibrates_the_all_ones_projection_and_equals_simulation():
  hw, sim = pair(code=dict(encoding="ternary", threshold=0.3, common_mode=True))
  np.testing.assert_allclose(hw.ones_reference, sim.ones_reference, rtol=1e-4,
                             atol=1e-4 * np.abs(sim.ones_reference).max())
  e = jax.random.normal(jax.random.key(1), (4, N)) + 0.5
  expected = sim.project(e, jax.random.key(0))
  np.testing.assert_allclose(hw.project(e, None), expected, rtol=1e-4,
                             atol=1e-4 * np.abs(expected).max())
  # I(a): 16 frames; P(1): 16 x (I(1 + a), I(1)); then 4 rows x 2 code x 2 anchor frames.
  assert hw.log.frames == 16 + 16 * 2 + 4 * 2 * 2


def test_calibrated_effective_matrix_equals_simulation():
  hw, sim = pair()
  np.testing.assert_allclose(hw.effective_matrix(), sim.effective_matrix(), rtol=1e-4,
                             atol=1e-4)


def test_noisy_hardware_matches_simulated_noise():
  cam = Camera(exposure=40.0, full_well=20_000.0, adc_bits=12)
  hw, sim = pair(camera=cam)
  x = binary((64, N), 1)
  ideal = np.asarray(x) @ np.asarray(sim.effective_matrix())
  err_hw = np.asarray(hw.project(x, None)) - ideal
  err_sim = np.asarray(sim.project(x, jax.random.key(1))) - ideal
  assert abs(err_hw.std() / err_sim.std() - 1) < 0.1
  assert abs(err_hw.mean()) < 0.1 * err_hw.std() + 0.05


def test_timeout_is_retried():
  hw, sim = pair(timeouts=1)
  x = binary((4, N))
  np.testing.assert_allclose(hw.project(x, None), sim.project(x, None), rtol=1e-4, atol=1e-3)
  assert hw.log.timeouts == 1


def test_persistent_timeout_is_a_clear_error():
  hw, _ = pair()
  hw.driver.timeouts = 5
  with pytest.raises(Exception, match="camera timed out"):
    jax.block_until_ready(hw.project(binary((2, N)), None))


@pytest.mark.parametrize("fault,counter", [("dropped", "bad_counters"),
                                           ("repeated", "bad_counters"),
                                           ("nan_frames", "bad_frames"),
                                           ("short_frames", "bad_frames")])
def test_bad_frames_are_detected_and_reacquired(fault, counter):
  hw, sim = pair()
  setattr(hw.driver, fault, 1)
  x = binary((4, N))
  np.testing.assert_allclose(hw.project(x, None), sim.project(x, None), rtol=1e-4, atol=1e-3)
  assert getattr(hw.log, counter) == 1


@pytest.mark.parametrize("fault,match", [("dropped", "dropped frame"),
                                         ("repeated", "repeated frame"),
                                         ("nan_frames", "non-finite pixel"),
                                         ("short_frames", "expected 8 frames of")])
def test_persistent_bad_frames_are_a_hardware_error(fault, match):
  hw, _ = pair()
  setattr(hw.driver, fault, 10)
  x = binary((4, N))
  with pytest.raises(HardwareError, match=match):  # outside jit: itself
    hw.project(x, None)
  setattr(hw.driver, fault, 10)
  with pytest.raises(jax.errors.JaxRuntimeError) as raised:  # what jit lets through
    jax.block_until_ready(jax.jit(lambda x: hw.project(x, None))(x))
  with pytest.raises(HardwareError, match=match):
    devices.raise_host_error(hw, raised.value)  # one type to catch: errors.HardwareError


def test_saturated_frames_are_reported():
  cam = Camera(exposure=1.0, shot_noise="off", read_noise=0.0, dark_electrons=0.0,
               full_well=30.0)
  hw, _ = pair(camera=cam)
  m = hw.measure(binary((4, N)), None)
  assert float(m.saturated) > 0 and hw.log.saturated_frames > 0
  strict = hw.replace(saturation="error")
  with pytest.raises(HardwareError, match="saturated pixels.*saturation='error'"):
    strict.measure(binary((4, N)), None)


def test_a_failing_driver_is_a_hardware_error():
  hw, _ = pair()

  def broken(patterns):
    raise OSError("USB device disconnected")

  hw.driver.display = broken
  with pytest.raises(HardwareError, match="driver failed.*USB device disconnected"):
    hw.measure(binary((2, N)), None)


def test_drivers_by_name():
  assert devices.find_driver("emulated") is EmulatedDriver
  assert devices.find_driver("opujax.devices.hardware:EmulatedDriver") is EmulatedDriver
  with pytest.raises(ValueError, match="Unknown driver 'lab'.*module:factory.*emulated"):
    devices.find_driver("lab")
  with pytest.raises(ValueError, match="cannot be loaded.*no_such_module"):
    devices.find_driver("no_such_module:make")
  hw = devices.make("hardware", N, M, driver="emulated", seed=4, camera=Camera.ideal(),
                    driver_options={"dmd_shape": DMD, "camera_shape": CAMERA,
                                    "camera": Camera.ideal()})
  _, sim = pair()
  x = binary((3, N))
  np.testing.assert_allclose(hw.project(x, None), sim.project(x, None), rtol=1e-4, atol=1e-3)


def test_no_driver_is_a_clear_error():
  with pytest.raises(ValueError, match="needs a driver"):
    devices.make("hardware", N, M)


def test_driver_refuses_non_binary_patterns():
  driver = EmulatedDriver(DMD, CAMERA)
  with pytest.raises(ValueError, match="binary"):
    driver.display(np.full((1, *DMD), 0.5))
  with pytest.raises(ValueError, match="patterns must be"):
    driver.display(np.zeros((1, 4, 4)))


def test_frame_counter_check():
  from opujax.devices.hardware import check_counters
  assert check_counters(np.arange(5, 9), 4) is None
  assert "dropped" in check_counters(np.array([5, 6, 8, 9]), 4)
  assert "repeated" in check_counters(np.array([5, 6, 6, 7]), 4)
  assert "expected 4" in check_counters(np.arange(3), 4)


HOLOGRAM = (32, 32)  # a grid whose pupil at grain 4 holds 49 modes: up to 98 outputs


def holography_pair(camera=None, **code):
  """An emulated-hardware OPU whose driver makes off-axis holograms, and the simulated
  holography OPU with the same medium, reference (A^2 = sigma^2 N) and camera."""
  camera = camera or Camera.ideal()
  driver = EmulatedDriver(DMD, HOLOGRAM, seed=4, camera=camera, grain=4.0,
                          reference_intensity=0.5 * N)
  hw = devices.make("hardware", N, 90, driver=driver, protocol="holography", camera=camera,
                    exposure=camera.exposure or 1.0, **code)
  sim = devices.make("opu", N, 90, seed=4, protocol="holography", dmd_shape=DMD,
                     camera_shape=HOLOGRAM,
                     camera=dataclasses.replace(camera, exposure=camera.exposure or 1.0), **code)
  return hw, sim


def test_emulated_holograms_decode_on_the_host_side_as_the_simulation():
  hw, sim = holography_pair()
  assert hw.reference.carrier == sim.reference.carrier
  assert hw.reference.amplitude == pytest.approx(sim.reference.amplitude, rel=1e-5)
  x = binary((6, N))
  expected = np.asarray(x) @ np.asarray(sim.effective_matrix())
  np.testing.assert_allclose(sim.project(x, None), expected, atol=1e-4 * np.abs(expected).max())
  for y in (hw.project(x, None), jax.jit(lambda x: hw.project(x, None))(x)):
    np.testing.assert_allclose(y, expected, atol=1e-4 * np.abs(expected).max())
  assert hw.log.frames == 16 + 6 * 2  # the reference's calibration, one frame a row
  assert hw.frames_per_row == 1 and hw.cost(10).camera_pixels == 10 * 32 * 32


def test_noisy_holograms_match_simulated_noise():
  cam = Camera(exposure=40.0, full_well=20_000.0, adc_bits=12)
  hw, sim = holography_pair(camera=cam, encoding="ternary", threshold=0.2, common_mode=True)
  e = jax.random.normal(jax.random.key(1), (48, N))
  ideal = np.asarray(devices.make("opu", N, 90, seed=4, protocol="holography", dmd_shape=DMD,
                                  camera_shape=HOLOGRAM, camera="ideal", encoding="ternary",
                                  threshold=0.2, common_mode=True).project(e, None))
  err_hw = np.asarray(hw.project(e, None)) - ideal
  err_sim = np.asarray(sim.project(e, jax.random.key(1))) - ideal
  assert abs(err_hw.std() / err_sim.std() - 1) < 0.15


def test_holography_through_a_driver_by_name():
  hw = devices.make("hardware", N, 90, driver="emulated", seed=4, protocol="holography",
                    camera=Camera.ideal(),
                    driver_options={"dmd_shape": DMD, "camera_shape": HOLOGRAM,
                                    "camera": Camera.ideal(), "reference_intensity": 12.0})
  _, sim = holography_pair()
  x = binary((3, N))
  np.testing.assert_allclose(hw.project(x, None), sim.project(x, None), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("options,match", [
    (dict(protocol="holography", roi=(0, 0, 4, 4)), "whole camera frame"),
    (dict(protocol="holography", anchor_pixels=3), "no anchor"),
    (dict(protocol="holography", carrier=(0.7, 0.0)), "Nyquist"),
    (dict(protocol="hologram"), "Unknown protocol"),
])
def test_bad_holography_options(options, match):
  driver = EmulatedDriver(DMD, HOLOGRAM, grain=4.0, reference_intensity=1.0)
  with pytest.raises(ValueError, match=match):
    devices.make("hardware", N, 90, driver=driver, **options)


def test_a_reference_beam_needs_a_speckle_field():
  with pytest.raises(ValueError, match="set grain"):
    EmulatedDriver(DMD, HOLOGRAM, reference_intensity=1.0)
