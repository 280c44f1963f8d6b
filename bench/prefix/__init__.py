"""The prefix routing benchmark's parts (``python bench/prefix_routing.py``)."""
