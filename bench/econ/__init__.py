"""The economic autoscaler's trace-driven simulator (``python bench/economics.py``)."""
