"""The model registry: registered models, versions, approval, aliases with full history, webhooks."""

from treadle.registry._records import Alias, AliasMove, DeleteReport, ModelVersion, RegisteredModel, VersionNeeds
from treadle.registry._service import RegistryService

__all__ = ["Alias", "AliasMove", "DeleteReport", "ModelVersion", "RegisteredModel", "RegistryService", "VersionNeeds"]
