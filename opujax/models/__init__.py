"""Reference Flax models: MLP, CNN (LeNet-5), a BatchNorm ResNet, a decoder-only
Transformer LM (Linen), and a BatchNorm + dropout CNN in NNX (`NNXCNN`)."""

from opujax.models.nets import (CNN, MLP, NORMS, POSITIONS, STEMS, Block, ResBlock, ResNet,
                                TransformerLM, param_count)
from opujax.models.nnx_nets import CNN as NNXCNN

__all__ = ["Block", "CNN", "MLP", "NNXCNN", "NORMS", "POSITIONS", "ResBlock", "ResNet", "STEMS",
           "TransformerLM", "param_count"]
