"""The README documents what the code does: its tables are checked against the code's own definitions."""

from pathlib import Path

from questline.events.schema import ATTRIBUTES
from questline.events.vocabulary import EVENT_TYPES, UNIT_CONVERSIONS
from questline.sources.formats import READERS

README = (Path(__file__).parents[1] / "README.md").read_text()


def test_every_event_type_is_documented_with_its_kind_and_unit() -> None:
    for t in EVENT_TYPES.values():
        assert f"| `{t.name}` | {t.kind.value} | {t.metric} | {t.unit.value} |" in README, t.name


def test_every_attribute_unit_and_format_is_documented() -> None:
    for name in ATTRIBUTES:
        assert f"`{name}`" in README, name
    for unit in UNIT_CONVERSIONS:
        assert f"`{unit}`" in README, unit
    for fmt in READERS:
        assert f"`{fmt}`" in README, fmt
