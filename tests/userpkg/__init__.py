"""A user's package outside opujax: models (and later data and tasks) that the main job
trains by import path. The tests put ``tests/`` on ``sys.path``; opujax never imports it."""
