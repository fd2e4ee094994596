"""LightEmoNet: architecture, preprocessing, data loaders and runtime.

Importing this package does not import TensorFlow; the submodules that need it
(``architecture``, ``export``) import it themselves.
"""
