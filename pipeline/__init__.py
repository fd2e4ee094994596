"""The video pipeline: source -> frames -> faces -> emotions -> tracks -> timelines -> sink.

Importing this package starts nothing: no TensorFlow, no Ray.
"""
