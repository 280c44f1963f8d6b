"""The router chaos benchmark's parts (``python bench/router_chaos.py``)."""
