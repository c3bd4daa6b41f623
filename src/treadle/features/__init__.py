"""Feature store: definitions (entities, feature views, on-demand views), point-in-time training
frames, an online store with materialization and real-time push."""

from treadle.features._definitions import (
    DatasetSource,
    Entity,
    FeatureView,
    Field,
    OnDemandFeatureView,
    RequestSource,
)
from treadle.features._offline import JoinOptions
from treadle.features._records import (
    ApplyReport,
    EntityRecord,
    FeatureViewRecord,
    FeatureViewVersion,
    FieldChange,
    ObjectChange,
)
from treadle.features._repo import load_definitions
from treadle.features._routes import online_router
from treadle.features._sdk import apply, bind, get_online_features, get_training_frame, materialize, push
from treadle.features._service import FeatureService

__all__ = [
    "ApplyReport",
    "DatasetSource",
    "Entity",
    "EntityRecord",
    "FeatureService",
    "FeatureView",
    "FeatureViewRecord",
    "FeatureViewVersion",
    "Field",
    "FieldChange",
    "JoinOptions",
    "ObjectChange",
    "OnDemandFeatureView",
    "RequestSource",
    "apply",
    "bind",
    "get_online_features",
    "get_training_frame",
    "load_definitions",
    "materialize",
    "online_router",
    "push",
]
