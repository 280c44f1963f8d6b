"""The operator scale benchmark's parts (``python bench/operator_scale.py``)."""
