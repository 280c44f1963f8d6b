"""Where and how a model runs, all pure: GPU products (``gpus``), model architectures, the vLLM
recipe per GPU generation (``recipes``), memory sizing (``sizing``) and where weights come from
(``weights``).
"""
