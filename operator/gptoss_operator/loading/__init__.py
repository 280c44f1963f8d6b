"""LoRA adapters on running pods: read what each vLLM lists in ``/v1/models`` and, for
``spec.adapterLoading: Runtime``, load and unload adapters so each ready pod serves exactly
``spec.adapters`` without a restart (``decide`` pure, ``pods`` the HTTP seam, ``loop`` the task).
"""
