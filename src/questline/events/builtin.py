"""The built-in CloudEvents source behind `POST /v1/events`: events whose `type` is `io.questline.<event type>`,
`subject` the subscriber, `data` the value (1 by default for counted types) and attributes — the exact inverse
of `envelope.to_cloudevents`.
Operators with their own event types configure a CloudEvents source of their own and post with `?source=`."""

from __future__ import annotations

from questline.events.envelope import CE_TYPE_PREFIX
from questline.events.schema import ATTRIBUTES
from questline.events.vocabulary import EVENT_TYPE_NAMES, EVENT_TYPES, Unit
from questline.sources.spec import CloudEventsFormat, FieldSpec, Location, Mapping, SourceSpec, ValueSpec

NAME = "events"

HTTP_EVENTS = SourceSpec(
    name=NAME,
    kind="app",  # type: ignore[arg-type]
    format=CloudEventsFormat(),
    location=Location(http=True),
    description="CloudEvents posted to /v1/events with Questline's own event types",
    mapping=Mapping(
        subscriber_id=FieldSpec(field="subject"),
        event_time=FieldSpec(field="time", format="iso8601"),
        event_type=FieldSpec(field="type", lookup={CE_TYPE_PREFIX + name: name for name in EVENT_TYPE_NAMES}),
        value=ValueSpec(  # counted events may leave out their value of 1; measured ones must carry it
            default=FieldSpec(field="data.value"),
            by_type={
                t.name: FieldSpec(field="data.value", default=1) for t in EVENT_TYPES.values() if t.unit == Unit.COUNT
            },
        ),
        attributes={name: FieldSpec(field=f"data.{name}") for name in ATTRIBUTES},
        natural_key=["source", "id"],  # the spec's own uniqueness rule
    ),
)
