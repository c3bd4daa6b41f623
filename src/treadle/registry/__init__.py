"""The model registry: registered models, versions, approval, aliases with full history, webhooks."""

from treadle.registry._records import (
    Alias,
    AliasMove,
    DeleteReport,
    ModelVersion,
    RegisteredModel,
    ResolvedVersion,
    VersionNeeds,
)
from treadle.registry._service import RegistryService
from treadle.registry._webhooks import Delivery, Webhook, WebhookDispatcher, WebhookService, sign

__all__ = [
    "Alias",
    "AliasMove",
    "DeleteReport",
    "Delivery",
    "ModelVersion",
    "RegisteredModel",
    "RegistryService",
    "ResolvedVersion",
    "VersionNeeds",
    "Webhook",
    "WebhookDispatcher",
    "WebhookService",
    "sign",
]
