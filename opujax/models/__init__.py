"""Reference Flax models: MLP, CNN (LeNet-5) and a decoder-only Transformer LM."""

from opujax.models.nets import CNN, MLP, Block, TransformerLM, param_count

__all__ = ["Block", "CNN", "MLP", "TransformerLM", "param_count"]
