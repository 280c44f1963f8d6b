"""The models the router serves and each one's configuration, as discovery last left them.

Statically, exactly the configured models. With cluster discovery, a model with a
GptOssDeployment is served with the spillover policy the deployment gives (its other knobs,
the latency target among them, stay as configured, or default); a configured model without
one keeps its configuration. The table is replaced whole, never edited in place, so a request
reads one consistent version.
"""

from __future__ import annotations

from collections.abc import Mapping

from gptoss_router.config.models import ModelConfig, SpilloverConfig

__all__ = ["Lineage", "ModelTable"]

# (parent, hosted_as, namespaces) of a discovered model; see ModelConfig.
Lineage = tuple[str | None, str | None, frozenset[str]]


class ModelTable:
    """Served models by name."""

    def __init__(self, configured: Mapping[str, ModelConfig], *, cluster_read: bool = True) -> None:
        self._configured = dict(configured)
        self._current = dict(configured)
        self._owners: dict[str, str] = {}
        # False until a cluster discovery has read everything it follows once: before that, a
        # model missing here may only not be read yet (``/readyz`` waits for it)
        self.cluster_read = cluster_read

    def get(self, model: str) -> ModelConfig | None:
        """The configuration of ``model``, if it is served."""
        return self._current.get(model)

    def __contains__(self, model: object) -> bool:
        return model in self._current

    def names(self) -> list[str]:
        """Every served model, configured ones first."""
        return list(self._current)

    def items(self) -> list[tuple[str, ModelConfig]]:
        """Served models and their configurations."""
        return list(self._current.items())

    def configured(self, model: str) -> ModelConfig | None:
        """What the configuration file says of ``model``."""
        return self._configured.get(model)

    def owner(self, model: str) -> str:
        """The GptOssDeployment (``namespace/name``) serving ``model`` when exactly one does,
        else an empty string."""
        return self._owners.get(model, "")

    def discovered(
        self,
        spillover: Mapping[str, SpilloverConfig],
        owners: Mapping[str, str] | None = None,
        *,
        lineage: Mapping[str, Lineage] | None = None,
    ) -> None:
        """The cluster serves these models with these policies (and no others); ``owners``
        names the one GptOssDeployment behind a model, where there is exactly one;
        ``lineage`` says, per model, its parent, the providers' model that may answer in its
        place and the namespaces serving it."""
        self._owners = dict(owners or {})
        current = dict(self._configured)
        found = lineage or {}
        for model, policy in spillover.items():
            base = self._configured.get(model, ModelConfig())
            tuned = policy.model_copy(update={"latency_target_s": base.spillover.latency_target_s})
            update: dict[str, object] = {"spillover": tuned}
            if model in found:
                parent, hosted_as, namespaces = found[model]
                update.update(parent=parent, hosted_as=hosted_as, namespaces=namespaces)
            current[model] = base.model_copy(update=update)
        self._current = current
