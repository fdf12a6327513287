"""opujax: Direct Feedback Alignment in JAX/Flax, with the error projected optically."""
