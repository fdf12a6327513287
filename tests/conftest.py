"""Eight emulated CPU devices for the sharding tests; set before JAX is first used."""

import jax

jax.config.update("jax_num_cpu_devices", 8)
