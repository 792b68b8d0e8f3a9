"""SQLAlchemy models, one module per aggregate. Importing this package registers every table on `Base.metadata`."""

from questline.models.api_key import ApiKey
from questline.models.engine import BadgeAward, ProcessedFile, Reward, StreakState
from questline.models.mission import Assignment, Mission, MissionTemplate
from questline.models.ml_model import MlModel
from questline.models.outbox import OutboxEvent
from questline.models.region import Region
from questline.models.reject import Reject
from questline.models.score import SegmentSize, SubscriberScore
from questline.models.source import Source, SourceFile

__all__ = [
    "ApiKey",
    "Assignment",
    "BadgeAward",
    "Mission",
    "MissionTemplate",
    "MlModel",
    "OutboxEvent",
    "ProcessedFile",
    "Region",
    "Reject",
    "Reward",
    "SegmentSize",
    "Source",
    "SourceFile",
    "StreakState",
    "SubscriberScore",
]
