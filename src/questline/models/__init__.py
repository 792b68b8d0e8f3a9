"""SQLAlchemy models, one module per aggregate. Importing this package registers every table on `Base.metadata`."""

from questline.models.api_key import ApiKey
from questline.models.reject import Reject
from questline.models.source import Source, SourceFile

__all__ = ["ApiKey", "Reject", "Source", "SourceFile"]
