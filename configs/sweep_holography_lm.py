"""python -m opujax.sweep --config configs/sweep_holography_lm.py --parallel 2

The character LM's optical DFA through holography (shakespeare_holography_dfa_opu)
against the reference beam's power, 300 steps, seed 0, with the anchor protocol on
independent pixels (shakespeare_dfa_opu, the shipped device; on MNIST the anchor protocol
does as well on a speckle field, configs/sweep_holography.py) and digital DFA at the same
steps as references, and holography through the packed rectangle
(shakespeare_packed_holography_dfa_opu); validation loss, camera frames and pixels per
projection.
"""


def get_config():
  return {
      "base": "configs/shakespeare_holography_dfa_opu.py",
      "axes": {
          "device.options.reference_power": [0.25, 1.0, 4.0],
      },
      "fixed": {"steps": 300},
      "seeds": [0],
      "references": ["configs/shakespeare_packed_holography_dfa_opu.py",
                     "configs/shakespeare_dfa_opu.py", "configs/shakespeare_dfa.py"],
      "metrics": ["validation_loss", "frames_per_projection", "camera_pixels_per_projection"],
  }
