"""Reading XLA's compiled executables: which matrix products a step really performs, and
the memory it needs."""

import math
import re
from typing import NamedTuple

_DEF = re.compile(r"%([\w.\-]+) = \w+\[([\d,]*)\]")
_DOT = re.compile(r"%[\w.\-]+ = \w+\[([\d,]*)\]\S* dot\(%([\w.\-]+), %([\w.\-]+)\), "
                  r"lhs_contracting_dims=\{([\d,]*)\}")


class Dot(NamedTuple):
  out_shape: tuple[int, ...]
  contraction: int

  @property
  def flops(self) -> int:
    return 2 * math.prod(self.out_shape) * self.contraction


def _shape(text: str) -> tuple[int, ...]:
  return tuple(int(d) for d in text.split(",") if d)


def dots(hlo_text: str) -> list[Dot]:
  """Every dot of an HLO module's text, with its output shape and contraction size."""
  shapes = {name: _shape(dims) for name, dims in _DEF.findall(hlo_text)}
  out = []
  for dims, lhs, _, contracting in _DOT.findall(hlo_text):
    lhs_shape = shapes[lhs]
    out.append(Dot(_shape(dims), math.prod(lhs_shape[int(d)] for d in contracting.split(",")
                                           if d)))
  return out


def peak_bytes(compiled) -> int:
  """Compiled peak memory of a ``jit(...).lower(...).compile()``: temporaries, arguments
  and outputs, less the outputs that reuse donated arguments."""
  m = compiled.memory_analysis()
  return (m.temp_size_in_bytes + m.argument_size_in_bytes + m.output_size_in_bytes
          - m.alias_size_in_bytes)
