"""Read and write stored resources. The read path returns dicts parsed by orjson, never models.

A read hands back each resource's stored JSON text (``raw``) and parses it only when something
asks for ``content``: a released, unredacted resource goes out as that text (``orjson.Fragment``)
without ever becoming a dict, which is most of a large ``$everything``.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gateway.core_table import core_table
from gateway.store import search_params
from gateway.store.tables import ResourceRow, ResourceVersionRow, SearchTokenRow
from gateway.times import as_utc

R = core_table(ResourceRow)
V = core_table(ResourceVersionRow)
T = core_table(SearchTokenRow)

UpsertOutcome = Literal["created", "updated", "unchanged", "stale"]
DatePrefix = Literal["eq", "ne", "lt", "le", "gt", "ge"]


# Not frozen: a frozen dataclass pays object.__setattr__ per field, a cost at ~200 rows per
# $everything. Treat instances as read-only all the same (dataclasses.replace for a changed copy).
@dataclass(slots=True)
class StoredResource:
    resource_type: str
    id: str
    version_id: int
    last_updated: datetime
    deleted: bool
    patient_id: str | None
    categories: tuple[str, ...]
    holder_org: str | None
    holder_team: str | None
    raw: str  # the resource's JSON exactly as stored (orjson's output, written once at ingest)
    # ``categories`` are labels made under the category definitions that hash to ``labels_version``
    # (None: unknown, e.g. an older version's text); the disclosure service re-labels any other.
    labels_version: str | None = None
    label_section: str | None = None  # the adapter's section hint, kept so labels can be re-derived
    _content: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def content(self) -> dict[str, Any]:
        """The parsed resource (parsed on first use; callers must not mutate it)."""
        if self._content is None:
            self._content = orjson.loads(self.raw)
        return self._content

    @property
    def parsed(self) -> bool:
        """Whether anything has asked for ``content`` yet."""
        return self._content is not None

    @property
    def ref(self) -> str:
        return f"{self.resource_type}/{self.id}"


@dataclass(frozen=True)
class UpsertResult:
    outcome: UpsertOutcome
    resource_type: str
    id: str
    version_id: int


@dataclass(frozen=True)
class TokenCriterion:
    """An index-row match: token (system|code), string (normalised prefix), reference (Type/id or id)."""

    param: str
    system: str | None  # None: any system; "" : no system
    code: str | None  # None: any code (``identifier=system|``)
    match: Literal["exact", "prefix", "reference"] = "exact"


@dataclass(frozen=True)
class DateCriterion:
    column: search_params.DateColumn
    prefix: DatePrefix
    low: datetime
    high: datetime  # exclusive upper bound of the value's precision
    param: str | None = None  # for column "index"




def _parse_date(text: str) -> datetime | None:
    span = date_range(text)
    return span[0] if span else None


def date_range(text: str) -> tuple[datetime, datetime] | None:
    """The range [low, high) a stored date, dateTime or instant covers at its precision."""
    try:
        if len(text) == 4:
            low = datetime(int(text), 1, 1, tzinfo=UTC)
            return low, low.replace(year=low.year + 1)
        if len(text) == 7:
            year, month = int(text[:4]), int(text[5:7])
            return (datetime(year, month, 1, tzinfo=UTC),
                    datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC))
        when = as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
        if when is None:
            return None
        return when, when + (timedelta(days=1) if len(text) == 10 else timedelta(seconds=1))
    except ValueError:
        return None


def clinical_date(resource: dict[str, Any]) -> datetime | None:
    for param in search_params.params_for(resource["resourceType"]).values():
        if param.type == "date" and param.name == "date":
            for path in param.paths:
                for value in search_params.walk(resource, path):
                    if isinstance(value, str) and (parsed := _parse_date(value)):
                        return parsed
    return None


def index_tokens(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """The search_token rows of one resource: tokens as (system, code); strings normalised
    (search_params.normalise); references as written ("Type/id"); dates other than the resource's
    clinical date and lastUpdated as their text with the range [low, high) they cover."""
    rows = []
    rtype, rid = resource["resourceType"], resource["id"]

    def row(param: str, system: str | None, code: str, low: datetime | None = None,
            high: datetime | None = None) -> None:
        rows.append({"resource_type": rtype, "resource_id": rid, "param": param, "system": system,
                     "code": code[:256], "low": low, "high": high})

    for param in search_params.params_for(rtype).values():
        if param.name == "_id" or (param.type == "date" and param.column != "index"):
            continue
        for value in search_params.values(resource, param):
            if param.type == "token":
                for system, code in search_params.tokens(value):
                    row(param.name, None if param.where else system, str(code))
            elif param.type == "string" and isinstance(value, str):
                row(param.name, None, search_params.normalise(value))
            elif param.type == "reference" and isinstance(value, dict) and isinstance(value.get("reference"), str):
                row(param.name, None, value["reference"])
            elif param.type == "date" and isinstance(value, str) and (span := date_range(value)):
                row(param.name, None, value, *span)
    return rows


# The columns a StoredResource is made of, in its field order: rows are unpacked by position, which
# is several times cheaper than named access on a Row (it matters at ~200 rows per $everything).
_COLUMNS = (R.c.resource_type, R.c.id, R.c.version_id, R.c.last_updated, R.c.deleted, R.c.patient_id,
            R.c.categories, R.c.holder_org, R.c.holder_team, R.c.content, R.c.labels_version, R.c.label_section)


def _rows_to_stored(rows: Iterable[Sequence[Any]]) -> list[StoredResource]:
    # Rows written by one ingest batch share timestamps and label sets: convert each distinct value
    # once (SQLite hands back naive datetimes, and a categories string needs splitting).
    times: dict[Any, datetime] = {}
    labels: dict[str, tuple[str, ...]] = {}
    out = []
    for rtype, rid, version, updated, deleted, patient_id, categories, org, team, content, lv, section in rows:
        when = times.get(updated)
        if when is None:
            when = times[updated] = as_utc(updated) or datetime.now(UTC)
        cats = labels.get(categories)
        if cats is None:
            cats = labels[categories] = tuple(categories.split()) if categories else ()
        out.append(StoredResource(rtype, rid, version, when, deleted, patient_id, cats, org, team, content, lv,
                                  section))
    return out


def _compartment_query(since: bool, types: bool) -> sa.Select[Any]:
    query = sa.select(*_COLUMNS).where(
        sa.or_(R.c.patient_id == sa.bindparam("patient_id"),
               sa.and_(R.c.resource_type == "Patient", R.c.id == sa.bindparam("patient_id"))),
        R.c.deleted.is_(False),
    )
    if since:
        query = query.where(R.c.last_updated >= sa.bindparam("since"))
    if types:
        query = query.where(R.c.resource_type.in_(sa.bindparam("types", expanding=True)))
    return query.order_by(R.c.resource_type, R.c.id)


# Built once: a request binds values instead of building (and cache-keying) a new statement.
_COMPARTMENT = {(s, t): _compartment_query(s, t) for s in (False, True) for t in (False, True)}
_GET = sa.select(*_COLUMNS).where(R.c.resource_type == sa.bindparam("rtype"), R.c.id == sa.bindparam("rid"))
# Built once (every read decides the items a released one names through it): a call binds the list.
_GET_MANY = sa.select(*_COLUMNS).where(sa.tuple_(R.c.resource_type, R.c.id).in_(sa.bindparam("refs", expanding=True)),
                                       R.c.deleted.is_(False))


class ResourceStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- writing ---------------------------------------------------------------------------------
    def upsert(
        self,
        resource: dict[str, Any],
        *,
        patient_id: str | None,
        categories: Sequence[str] = (),
        holder_org: str | None = None,
        holder_team: str | None = None,
        source_system: str | None = None,
        source_id: str | None = None,
        source_updated: datetime | None = None,
        labels_version: str | None = None,
        label_section: str | None = None,
        connection: Connection | None = None,
    ) -> UpsertResult:
        """Insert or update; an older source version never overwrites a newer one (invariant 6)."""
        if connection is None:
            with self.engine.begin() as conn:
                return self.upsert(resource, patient_id=patient_id, categories=categories, holder_org=holder_org,
                                   holder_team=holder_team, source_system=source_system, source_id=source_id,
                                   source_updated=source_updated, labels_version=labels_version,
                                   label_section=label_section, connection=conn)
        from gateway.store.bulk import BulkWriter  # one write path: a single upsert is a batch of one

        writer = BulkWriter(connection)
        result = writer.upsert(resource, patient_id=patient_id, categories=categories, holder_org=holder_org,
                               holder_team=holder_team, source_system=source_system, source_id=source_id,
                               source_updated=source_updated, labels_version=labels_version,
                               label_section=label_section)
        writer.flush()
        return result

    def delete(self, resource_type: str, rid: str) -> bool:
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(R.c.version_id, R.c.content).where(
                R.c.resource_type == resource_type, R.c.id == rid, R.c.deleted.is_(False))).first()
            if row is None:
                return False
            now = datetime.now(UTC)
            conn.execute(R.update().where(R.c.resource_type == resource_type, R.c.id == rid)
                         .values(deleted=True, version_id=row.version_id + 1, last_updated=now))
            conn.execute(V.insert().values(resource_type=resource_type, id=rid, version_id=row.version_id + 1,
                                           last_updated=now, deleted=True, content=row.content))
            conn.execute(T.delete().where(T.c.resource_type == resource_type, T.c.resource_id == rid))
            return True

    # -- reading ---------------------------------------------------------------------------------
    def get(self, resource_type: str, rid: str) -> StoredResource | None:
        with self.engine.connect() as conn:
            row = conn.execute(_GET, {"rtype": resource_type, "rid": rid}).first()
        return _rows_to_stored([row])[0] if row else None

    def get_version(self, resource_type: str, rid: str, version_id: int) -> tuple[str, bool] | None:
        """One version's JSON text and whether it was a deletion."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(V.c.content, V.c.deleted).where(
                V.c.resource_type == resource_type, V.c.id == rid, V.c.version_id == version_id)).first()
        return (row.content, row.deleted) if row else None

    def history(self, resource_type: str, rid: str) -> list[tuple[int, datetime, bool, str]]:
        """Every version, newest first: (version, last updated, deleted, JSON text)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(V).where(V.c.resource_type == resource_type, V.c.id == rid)
                                .order_by(V.c.version_id.desc())).all()
        return [(r.version_id, as_utc(r.last_updated), r.deleted, r.content) for r in rows]

    def find_by_identifier(self, resource_type: str, system: str | None, value: str) -> list[StoredResource]:
        return self.search(resource_type, tokens=[TokenCriterion("identifier", system, value)])

    def compartment(self, patient_id: str, *, since: datetime | None = None,
                    types: Iterable[str] | None = None) -> list[StoredResource]:
        """Everything about one patient (the Patient itself included), oldest first."""
        params: dict[str, Any] = {"patient_id": patient_id}
        if since is not None:
            params["since"] = since
        if types:
            params["types"] = list(types)
        with self.engine.connect() as conn:
            rows = conn.execute(_COMPARTMENT[(since is not None, "types" in params)], params).all()
        return _rows_to_stored(rows)

    def search(
        self,
        resource_type: str,
        *,
        ids: Sequence[str] = (),
        tokens: Sequence[TokenCriterion] = (),
        dates: Sequence[DateCriterion] = (),
        patient_ids: Sequence[str] | None = None,
        sort: str | None = None,
        include_deleted: bool = False,
        limit: int | None = None,
    ) -> list[StoredResource]:
        query = sa.select(*_COLUMNS).where(R.c.resource_type == resource_type)
        if not include_deleted:
            query = query.where(R.c.deleted.is_(False))
        if ids:
            query = query.where(R.c.id.in_(list(ids)))
        if patient_ids is not None:
            query = query.where(R.c.patient_id.in_(list(patient_ids)) if resource_type != "Patient"
                                else R.c.id.in_(list(patient_ids)))
        for criterion in tokens:
            query = query.where(R.c.id.in_(_token_match(resource_type, criterion)))
        for date in dates:
            if date.column == "index":
                rows_of = sa.select(T.c.resource_id).where(T.c.resource_type == resource_type, T.c.param == date.param,
                                                            _range_clause(T.c.low, T.c.high, date))
                query = query.where(R.c.id.in_(rows_of))
            else:
                query = query.where(_date_clause(R.c[date.column], date))
        order = {"date": R.c.clinical_date.asc(), "-date": R.c.clinical_date.desc(),
                 "_lastUpdated": R.c.last_updated.asc(), "-_lastUpdated": R.c.last_updated.desc()}
        query = query.order_by(order.get(sort or "", R.c.last_updated.asc()), R.c.id)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return _rows_to_stored(rows)

    def get_many(self, refs: Iterable[tuple[str, str]]) -> list[StoredResource]:
        refs = list(refs)
        if not refs:
            return []
        with self.engine.connect() as conn:
            rows = conn.execute(_GET_MANY, {"refs": refs}).all()
        return _rows_to_stored(rows)

    def source_keys(self, refs: Iterable[str]) -> dict[str, tuple[str | None, str | None]]:
        """"Type/id" -> (source system, source record id) of each stored resource named."""
        pairs = [tuple(r.split("/", 1)) for r in refs if r.count("/") == 1]
        if not pairs:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(R.c.resource_type, R.c.id, R.c.source_system, R.c.source_id).where(
                sa.tuple_(R.c.resource_type, R.c.id).in_(pairs))).all()
        return {f"{r.resource_type}/{r.id}": (r.source_system, r.source_id) for r in rows}

    # -- labels (a cache of the policy's view: gateway/disclosure/labels.py) -------------------------
    def labelled_otherwise(self, version: str, *, batch: int = 2000) -> Iterable[list[StoredResource]]:
        """Current rows whose stored labels were made under other category definitions, in batches."""
        return self._batches(sa.or_(R.c.labels_version.is_(None), R.c.labels_version != version), batch=batch)

    def scan(self, *, batch: int = 2000) -> Iterable[list[StoredResource]]:
        """Every current (not deleted) row, in batches (IG reports over the stored corpus)."""
        return self._batches(batch=batch)

    def _batches(self, *conditions: sa.ColumnElement[bool], batch: int) -> Iterator[list[StoredResource]]:
        """Current rows meeting ``conditions``, in (type, id) order, ``batch`` at a time (keyset paging)."""
        after: tuple[str, str] = ("", "")
        while True:
            query = (sa.select(*_COLUMNS)
                     .where(*conditions, R.c.deleted.is_(False),
                            sa.tuple_(R.c.resource_type, R.c.id)
                            > sa.tuple_(sa.literal(after[0]), sa.literal(after[1])))
                     .order_by(R.c.resource_type, R.c.id).limit(batch))
            with self.engine.connect() as conn:
                rows = _rows_to_stored(conn.execute(query).all())
            if not rows:
                return
            yield rows
            after = (rows[-1].resource_type, rows[-1].id)

    def store_labels(self, updates: Sequence[tuple[str, str, int, tuple[str, ...]]], version: str) -> int:
        """Write labels made under ``version``; a row that changed meanwhile keeps its own."""
        if not updates:
            return 0
        statement = R.update().where(R.c.resource_type == sa.bindparam("k_type"), R.c.id == sa.bindparam("k_id"),
                                     R.c.version_id == sa.bindparam("k_version"))
        with self.engine.begin() as conn:
            conn.execute(statement, [{"k_type": t, "k_id": i, "k_version": v, "categories": " ".join(c),
                                      "labels_version": version} for t, i, v, c in updates])
        return len(updates)

    def count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(R)).scalar_one()


def _token_match(resource_type: str, criterion: TokenCriterion) -> sa.Select[Any]:
    """The ids of resources with an index row that matches one token, string or reference criterion."""
    match = sa.select(T.c.resource_id).where(T.c.resource_type == resource_type, T.c.param == criterion.param)
    if criterion.code is None:
        pass
    elif criterion.match == "prefix":
        match = match.where(T.c.code.like(_like_literal(criterion.code) + "%", escape="\\"))
    elif criterion.match == "reference" and "/" not in criterion.code:
        match = match.where(sa.or_(T.c.code == criterion.code,
                                   T.c.code.like("%/" + _like_literal(criterion.code), escape="\\")))
    else:
        match = match.where(T.c.code == criterion.code)
    if criterion.system == "":
        match = match.where(T.c.system.is_(None))
    elif criterion.system is not None:
        match = match.where(T.c.system == criterion.system)
    return match


def _like_literal(text: str) -> str:
    """``text`` matched literally inside a LIKE pattern (escape character: backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _date_clause(column: sa.ColumnElement[Any], c: DateCriterion) -> sa.ColumnElement[bool]:
    # The value's precision makes a range [low, high): eq means "within it", as FHIR search says.
    return {
        "eq": sa.and_(column >= c.low, column < c.high),
        "ne": sa.or_(column < c.low, column >= c.high),
        "lt": column < c.low,
        "le": column < c.high,
        "gt": column >= c.high,
        "ge": column >= c.low,
    }[c.prefix]


def _range_clause(low: sa.ColumnElement[Any], high: sa.ColumnElement[Any], c: DateCriterion) -> sa.ColumnElement[bool]:
    # A stored value is a range too (its precision): eq means the search range contains it (FHIR R4
    # search, date); lt / gt ask whether any of it lies before / after the search range.
    return {
        "eq": sa.and_(low >= c.low, high <= c.high),
        "ne": sa.or_(low < c.low, high > c.high),
        "lt": low < c.low,
        "le": low < c.high,
        "gt": high > c.high,
        "ge": high > c.low,
    }[c.prefix]
