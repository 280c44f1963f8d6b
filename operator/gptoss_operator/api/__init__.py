"""Typed views of a ``GptOssDeployment``'s spec and status (group ``gptoss.dev/v1alpha1``).

The hand-written CRD in ``crds/gptossdeployments.gptoss.dev.yaml`` is the source of truth for
the API server; these models are what the operator's code reads and writes. A test walks both
and requires the same fields, types, defaults and bounds. Field names are snake_case here and
camelCase on the wire (``model_validate`` accepts the wire form; dump with ``by_alias=True``).
Descriptions live in the CRD, where ``kubectl explain`` shows them.

``wire`` holds the base model and the constrained types both halves share; ``spec`` what users
write; ``status`` what the operator reports.
"""
