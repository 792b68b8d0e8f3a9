"""3GPP TS 32.298 charging data records (CDRs), BER-encoded, in files with or without TS 32.297 headers.

Records are decoded by pycrate's standard 3GPP modules or, when the source names one, by the vendor's own ASN.1 schema
compiled with asn1tools. One row per record: `record_type` (the root CHOICE's alternative, e.g. `pGWRecord`, or the
root type's name) and the record's fields as columns under their ASN.1 names. Well-known 3GPP octet strings become text
(TBCD digits, ISO 8601 timestamps, IP addresses, "mcc-mnc"); other octet strings become hex. Column types come from the
schema, not from the data, so every file of a record type has the same columns; where record types of one CHOICE give a
field name different types, the minority's columns are named `field@recordType`. Tags the schema does not know (a
vendor's private fields read with the standard schema) are skipped: name the vendor's schema to get them."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from questline.kit.errors import ConfigError
from questline.sources.formats.asn1_values import Compiled, Node, compile_type
from questline.sources.formats.base import RECORD, RawRecords, bad_records
from questline.sources.formats.ts32297 import split
from questline.sources.spec import BerFormat

RECORD_TYPE = "record_type"
RAW_LIMIT = 4096  # bytes of a bad record kept as hex: a broken header-less file can leave megabytes unreadable


def read(data: Path | bytes, fmt: BerFormat) -> RawRecords:
    """A record that does not decode, or a truncated tail, is a bad record (its bytes in hex, the decoder's message)."""
    buf = data.read_bytes() if isinstance(data, Path) else data
    codec = _codec(fmt)
    rows: list[dict[str, Any]] = []
    bad: list[tuple[int, str, str]] = []
    for number, (chunk, problem) in enumerate(split(buf, fmt.file_header)):
        if problem is None:
            try:
                rows.append({RECORD: number, **codec.row(chunk)})
                continue
            except Exception as exc:  # whatever the decoder raises rejects this record, not the file
                problem = " ".join(f"{type(exc).__name__}: {exc}".split())
        bad.append((number, chunk[:RAW_LIMIT].hex(), problem))
    return RawRecords(codec.frame(rows), bad_records(bad))


# ---- decoding: a codec per schema and record type --------------------------------------------------------------------


@dataclass(frozen=True)
class _Codec:
    decode: Callable[[bytes], Any]
    name: str
    choice: bool  # the root is a CHOICE: each alternative is a record type
    records: dict[str, tuple[dict[str, Compiled], Callable[[Any], dict[str, Any]]]]  # record type -> columns, convert

    def row(self, chunk: bytes) -> dict[str, Any]:
        value = self.decode(chunk)
        kind, inner = value if self.choice else (self.name, value)
        return {RECORD_TYPE: kind, **self.records[kind][1](inner)}

    def frame(self, rows: list[dict[str, Any]]) -> pl.DataFrame:
        """The rows under the columns of every record type among them, in schema order."""
        seen = {row[RECORD_TYPE] for row in rows}
        columns = {RECORD: pa.int64(), RECORD_TYPE: pa.string()}
        for kind, (members, _) in self.records.items():
            if kind in seen:
                columns.update((name, member.arrow) for name, member in members.items() if name not in columns)
        return pl.DataFrame(pa.Table.from_pylist(rows, schema=pa.schema(columns)))


def _make_codec(decode: Callable[[bytes], Any], name: str, root: Node) -> _Codec:
    if root.keyword != "CHOICE":
        return _Codec(decode, name, False, {name: _record_shape(name, compile_type(root), {})})
    alternatives = {kind: compile_type(node) for kind, node in root.members().items()}
    renames = _renames({kind: _record_shape(kind, t, {})[0] for kind, t in alternatives.items()})
    return _Codec(decode, name, True, {kind: _record_shape(kind, t, renames[kind]) for kind, t in alternatives.items()})


def _record_shape(
    kind: str, root: Compiled, renames: dict[str, str]
) -> tuple[dict[str, Compiled], Callable[[Any], dict[str, Any]]]:
    """A record's columns (a SEQUENCE's or SET's fields, or else the value under the record type's name), and how a
    decoded record becomes a row."""
    convert = root.convert
    if root.members is None:
        return {kind: root}, lambda value: {kind: convert(value)}
    if not renames:
        return root.members, convert
    columns = {renames.get(name, name): member for name, member in root.members.items()}
    return columns, lambda value: {renames.get(name, name): v for name, v in convert(value).items()}


def _renames(records: dict[str, dict[str, Compiled]]) -> dict[str, dict[str, str]]:
    """Where record types give one field name different types (an SMS record's single servingNodeType, a PGW record's
    list of them), the type most record types use keeps the name and the others become `name@recordType`: the same
    in every file, whichever record types it holds."""
    variants: dict[str, dict[pa.DataType, list[str]]] = {}
    for kind, columns in records.items():
        for name, column in columns.items():
            variants.setdefault(name, {}).setdefault(column.arrow, []).append(kind)
    renames: dict[str, dict[str, str]] = {kind: {} for kind in records}
    for name, kinds_by_type in variants.items():
        keep = max(kinds_by_type.values(), key=len)
        for kinds in kinds_by_type.values():
            for kind in kinds if kinds is not keep else ():
                renames[kind][name] = f"{name}@{kind}"
    return renames


def _codec(fmt: BerFormat) -> _Codec:
    if fmt.asn_schema is None:
        return _standard_codec(fmt.record_type)
    path = Path(fmt.asn_schema)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", field="format.asn_schema") from exc
    return _vendor_codec(str(path), mtime, fmt.record_type)


_PYCRATE_LOCK = threading.Lock()  # pycrate decodes into its shared module-level objects


@functools.cache
def _standard_codec(record_type: str) -> _Codec:
    from pycrate_asn1dir import CDR

    modules = [m for m in vars(CDR).values() if isinstance(m, type) and m.__name__.endswith("ChargingDataTypes")]
    found = (getattr(m, record_type.replace("-", "_")) for m in modules if record_type in getattr(m, "_type_", ()))
    root = next(found, None)
    if root is None:
        raise ConfigError(f"no type {record_type!r} in the standard 3GPP modules", field="format.record_type")
    root._SAFE_BND = False  # like asn1tools, accept values beyond size constraints: vendors overshoot them

    def decode(chunk: bytes) -> Any:
        with _PYCRATE_LOCK:
            root.from_ber(chunk)
            return root._val

    return _make_codec(decode, record_type, _PycrateNode(root))


@functools.lru_cache(maxsize=16)
def _vendor_codec(path: str, mtime_ns: int, record_type: str) -> _Codec:
    """Compiled once per schema file version (`mtime_ns` is part of the cache key)."""
    import asn1tools

    try:
        modules = asn1tools.pre_process_dict(asn1tools.parse_files(path))
        compiled = asn1tools.compile_dict(modules, "ber")
    except asn1tools.Error as exc:
        raise ConfigError(f"{path}: {exc}", field="format.asn_schema") from exc
    found = _lookup(modules, next(iter(modules)), record_type)
    if found is None or record_type not in compiled.types:
        raise ConfigError(f"no type {record_type!r} in {path}", field="format.record_type")
    decoder = compiled.types[record_type]
    return _make_codec(decoder.decode, record_type, _parsed_node(modules, *found, record_type))


# ---- schemas as nodes: pycrate objects or asn1tools' parsed modules --------------------------------------------------


@dataclass(frozen=True)
class _PycrateNode:
    obj: Any

    @property
    def keyword(self) -> str:
        return str(self.obj.TYPE)

    @property
    def names(self) -> tuple[str, ...]:
        from pycrate_asn1rt.glob import GLOBAL

        names, ref = [self.obj._name], self.obj._typeref
        while isinstance(getattr(ref, "called", None), tuple) and ref.called[1] not in names:
            module, name = ref.called
            names.append(name)
            ref = GLOBAL.MOD[module][name]._typeref if module in GLOBAL.MOD and name in GLOBAL.MOD[module] else None
        return tuple(names)

    def members(self) -> dict[str, Node]:
        return {name: _PycrateNode(obj) for name, obj in self.obj._cont.items()}

    def item(self) -> Node:
        return _PycrateNode(self.obj._cont)


@dataclass(frozen=True)
class _ParsedNode:
    modules: dict[str, Any]
    module: str
    definition: dict[str, Any]
    names: tuple[str, ...]

    @property
    def keyword(self) -> str:
        return str(self.definition["type"])

    def members(self) -> dict[str, Node]:
        members = [m for m in self.definition["members"] if m is not None]  # None: an extension marker
        return {m["name"]: _parsed_node(self.modules, self.module, m, m["name"]) for m in members}

    def item(self) -> Node:
        return _parsed_node(self.modules, self.module, self.definition["element"], "")


def _parsed_node(modules: dict[str, Any], module: str, definition: dict[str, Any], name: str) -> _ParsedNode:
    """Follow type references down to a built-in type, noting each type's name."""
    names = [name]
    while (found := _lookup(modules, module, definition["type"])) is not None and definition["type"] not in names:
        names.append(definition["type"])
        module, definition = found
    return _ParsedNode(modules, module, definition, tuple(names))


def _lookup(modules: dict[str, Any], module: str, name: str) -> tuple[str, dict[str, Any]] | None:
    """A type defined in `module`, else in any module of the schema."""
    for candidate in (module, *modules):
        if name in modules[candidate]["types"]:
            return candidate, modules[candidate]["types"][name]
    return None
