"""FHIR R4 REST routes under /fhir. Thin: fetch candidates → disclose → respond (gateway/disclosure)."""
from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import orjson
from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from gateway.api import search, shaping, smart
from gateway.api.capability import capability_statement
from gateway.api.errors import BadRequest, Forbidden, Gone, NotAcceptable, NotFound, UnsupportedMediaType
from gateway.api.respond import send
from gateway.api.responses import FHIR_JSON, FHIR_XML, fhir_response, negotiated_format
from gateway.api.security import disclosure
from gateway.disclosure import Disclosure, Released, searchset
from gateway.store import ResourceStore, StoredResource, search_params
from gateway.store.resources import clinical_date


async def negotiate(request: Request) -> None:  # async: no thread hop for a header check
    """406 before any work when the caller accepts no format we write."""
    fmt = negotiated_format(request)
    if fmt is None:
        raise NotAcceptable("this server writes application/fhir+json and application/fhir+xml")
    request.state.fhir_format = fmt


router = APIRouter(prefix="/fhir", dependencies=[Depends(negotiate)])
PATIENT_MATCHES_CAP = 10  # a person search that matches more is too vague to answer


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


def _gateway(request: Request) -> Any:
    return request.app.state.gateway


def _check_type(resource_type: str) -> None:
    if resource_type not in search_params.SEARCHABLE_TYPES:
        raise NotFound(f"resource type {resource_type!r} is not served here", code="not-supported")


def _strict(request: Request) -> bool:
    return "handling=strict" in request.headers.get("prefer", "").replace(" ", "")


@router.get("/metadata")
def metadata(request: Request) -> Response:
    return fhir_response(request, capability_statement(base_url(request), [FHIR_JSON, FHIR_XML, "json", "xml"],
                                                       token_url=_token_endpoint(request),
                                                       cors=bool(_gateway(request).settings.cors_origins)))


def _token_endpoint(request: Request) -> str | None:
    """The token endpoint exactly as the SMART discovery document states it: one source, so the two agree."""
    discovery = smart.smart_configuration(request)
    endpoint = orjson.loads(bytes(discovery.body)).get("token_endpoint")
    return endpoint if isinstance(endpoint, str) else None


EVERYTHING_PARAMS = ("_count", "_offset", "_since", "_type", "start", "end")


@router.get("/Patient/{patient_id}/$everything")
def everything(patient_id: str, request: Request, d: Disclosure = Depends(disclosure)) -> Response:
    return _everything(request, d, patient_id, list(request.query_params.multi_items()))


@router.post("/Patient/{patient_id}/$everything")
async def everything_post(patient_id: str, request: Request, d: Disclosure = Depends(disclosure)) -> Response:
    """The operation invoked by POST (as HAPI's client does): parameters in a Parameters resource, a form,
    or the URL; an empty body is no parameters."""
    params = list(request.query_params.multi_items())
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/x-www-form-urlencoded":
        form = await request.form()
        params += [(k, str(v)) for k, v in form.multi_items()]
    else:
        raw = await request.body()
        if raw.strip():
            if media not in ("application/fhir+json", "application/json", ""):
                raise UnsupportedMediaType("POST $everything takes a Parameters resource as application/fhir+json")
            params += _operation_parameters(raw)
    return await run_in_threadpool(_everything, request, d, patient_id, params)


def _operation_parameters(raw: bytes) -> list[tuple[str, str]]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise BadRequest("the body of POST $everything must be a Parameters resource")
    out = []
    for parameter in body.get("parameter") or []:
        if not isinstance(parameter, dict) or not isinstance(parameter.get("name"), str):
            raise BadRequest("each Parameters.parameter needs a name")
        value = next((v for k, v in parameter.items() if k.startswith("value")), None)
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise BadRequest(f"parameter {parameter['name']!r} needs a primitive value[x]")
        out.append((parameter["name"], str(value)))
    return out


def _everything(request: Request, d: Disclosure, patient_id: str, params: list[tuple[str, str]]) -> Response:
    gw = _gateway(request)
    strict = _strict(request)
    query = search.parse("Patient", [(k, v) for k, v in params if k in ("_count", "_offset")], strict=strict)
    since = start = end = None
    types: set[str] | None = None
    for name, value in params:
        if name == "_since":
            _, since, _ = search.parse_date(value, "_since")
        elif name == "start":
            _, start, _ = search.parse_date(value, "start")
        elif name == "end":
            _, _, end = search.parse_date(value, "end")
        elif name == "_type":
            wanted = {t.strip() for t in value.split(",") if t.strip()}
            unknown = sorted(wanted - set(search_params.SEARCHABLE_TYPES))
            if unknown:
                raise BadRequest(f"_type: {', '.join(unknown)} not served here", code="not-supported")
            types = wanted if types is None else types & wanted
        elif name not in EVERYTHING_PARAMS and name not in ("_format", "_pretty") and strict:
            raise BadRequest(f"unknown parameter {name!r} for $everything", code="not-supported")
    applied = [(k, v) for k, v in params if k in EVERYTHING_PARAMS]
    compartment = gw.store.compartment(patient_id)  # holds the Patient itself unless it is missing or deleted
    if not any(s.resource_type == "Patient" and s.id == patient_id for s in compartment):
        patient = gw.store.get("Patient", patient_id)
        raise (Gone if patient else NotFound)(f"Patient/{patient_id} is not known")
    candidates = [s for s in compartment if (since is None or s.last_updated >= since)
                  and (types is None or s.resource_type in types) and _in_care_period(s, start, end)]
    released = d.decide(candidates, compartment)
    bundle, sent = searchset(base_url(request), f"Patient/{patient_id}/$everything", applied, released,
                             offset=query.offset, count=query.count, outcome=d.notice_outcome())
    return send(request, d, "Patient/$everything", bundle, sent=sent)


def _in_care_period(stored: StoredResource, start: datetime | None, end: datetime | None) -> bool:
    """start / end of $everything: items with a clinical date outside the period are left out; items
    without one (the Patient, its care team, directory entries) are always in."""
    if start is None and end is None:
        return True
    when = clinical_date(stored.content)
    return when is None or ((start is None or when >= start) and (end is None or when < end))


@router.get("/{resource_type}/{rid}/_history/{vid}")
def vread(resource_type: str, rid: str, vid: str, request: Request, d: Disclosure = Depends(disclosure)) -> Response:
    _check_type(resource_type)
    gw = _gateway(request)
    current = gw.store.get(resource_type, rid)
    if current is None or not (vid.isascii() and vid.isdigit()) or len(vid) > 9:
        raise NotFound(f"{resource_type}/{rid}/_history/{vid} is not known")
    version = gw.store.get_version(resource_type, rid, int(vid))
    if version is None:
        raise NotFound(f"{resource_type}/{rid}/_history/{vid} is not known")
    raw, deleted = version
    if deleted:
        raise Gone(f"{resource_type}/{rid} version {vid} was deleted")
    return _release_one(request, d, _as_version(current, raw, int(vid)), "vread")


def _as_version(current: StoredResource, raw: str, version_id: int) -> StoredResource:
    """An older version's text: its labels are unknown until the disclosure service derives them."""
    if version_id == current.version_id:
        return current
    return dataclasses.replace(current, raw=raw, version_id=version_id, labels_version=None)


@router.get("/{resource_type}/{rid}/_history")
def history(resource_type: str, rid: str, request: Request, d: Disclosure = Depends(disclosure)) -> Response:
    _check_type(resource_type)
    gw = _gateway(request)
    current = gw.store.get(resource_type, rid)
    if current is None:
        raise NotFound(f"{resource_type}/{rid} is not known")
    versions = gw.store.history(resource_type, rid)
    candidates = [_as_version(current, raw, v) for v, _, deleted, raw in versions if not deleted]
    released = d.decide(candidates)
    url = f"{base_url(request)}/{resource_type}/{rid}"
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "history", "total": len(released)}
    if released:
        bundle["entry"] = [{"fullUrl": url, "resource": r.body(),
                            "request": {"method": "PUT" if r.stored.version_id > 1 else "POST",
                                        "url": f"{resource_type}/{rid}" if r.stored.version_id > 1 else resource_type},
                            "response": {"status": "200" if r.stored.version_id > 1 else "201",
                                         "etag": f'W/"{r.stored.version_id}"'}}
                           for r in released]
    return send(request, d, "history-instance", bundle, sent=released)


@router.get("/{resource_type}/{rid}")
def read(resource_type: str, rid: str, request: Request, d: Disclosure = Depends(disclosure)) -> Response:
    _check_type(resource_type)
    stored = _gateway(request).store.get(resource_type, rid)
    if stored is None:
        raise NotFound(f"{resource_type}/{rid} is not known")
    if stored.deleted:
        raise Gone(f"{resource_type}/{rid} has been deleted")
    return _release_one(request, d, stored, "read")


def _release_one(request: Request, d: Disclosure, stored: StoredResource, interaction: str) -> Response:
    # _summary / _elements apply to a read as to a search (FHIR R4 search 3.1.1.5); nothing else is read here.
    shape = search.parse(stored.resource_type, [(k, v) for k, v in request.query_params.multi_items()
                                                if k in ("_summary", "_elements")], strict=True)
    if shape.summary_count:
        raise BadRequest("_summary=count applies to searches, not to a read")
    released = d.decide([stored])
    if not released:
        # Withheld: a notice says whom to ask; a hidden item is indistinguishable from a missing one.
        # The app's error handler audits the refusal with this request's decisions.
        lines = d.notice_lines()
        if lines:
            raise Forbidden(lines[0].text)
        raise NotFound(f"{stored.resource_type}/{stored.id} is not known")
    item: Released = released[0]
    _shape(released, shape)
    etag = f'W/"{item.stored.version_id}"'
    headers = {"ETag": etag, "Last-Modified": format_datetime(item.stored.last_updated.astimezone(UTC), usegmt=True)}
    if request.headers.get("if-none-match") == etag:
        return send(request, d, interaction, {}, sent=released, status=304, headers=headers, not_modified=True)
    return send(request, d, interaction, item.body(), sent=released, headers=headers)


@router.get("/{resource_type}")
def search_type(resource_type: str, request: Request, d: Disclosure = Depends(disclosure)) -> Response:
    return _search(request, d, resource_type, list(request.query_params.multi_items()))


@router.post("/{resource_type}/_search")
async def search_post(resource_type: str, request: Request, d: Disclosure = Depends(disclosure)) -> Response:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("POST _search takes application/x-www-form-urlencoded parameters")
    form = await request.form()
    params = list(request.query_params.multi_items()) + [(k, str(v)) for k, v in form.multi_items()]
    return await run_in_threadpool(_search, request, d, resource_type, params)


def _search(request: Request, d: Disclosure, resource_type: str, params: list[tuple[str, str]]) -> Response:
    _check_type(resource_type)
    gw = _gateway(request)
    query = search.parse(resource_type, params, strict=_strict(request))
    if resource_type == "Patient":
        if not _identifies_a_person(query):
            # A record locator finds a person; it does not let anyone browse the population.
            raise BadRequest("searching Patient needs identifying criteria: identifier (system|value, e.g. an NHS "
                             "number), _id, or a name (name, family or given) with a full birthdate (YYYY-MM-DD)")
    elif resource_type in search_params.DIRECTORY_TYPES:
        if query.patient_ids is None and not query.ids and not any(t.code for t in query.tokens):
            raise BadRequest(f"searching {resource_type} needs _id, identifier (system|value), a name or a "
                             "reference to look up")
    elif query.patient_ids is None and not query.ids:
        raise BadRequest(f"searching {resource_type} needs a patient (or subject) parameter, or _id: a search "
                         "across all patients' records is refused by design")
    candidates = gw.store.search(resource_type, ids=query.ids, tokens=query.tokens, dates=query.dates,
                                 patient_ids=query.patient_ids, sort=query.sort)
    if resource_type == "Patient" and len(candidates) > PATIENT_MATCHES_CAP:
        raise BadRequest(f"{len(candidates)} people match: narrow the search (at most {PATIENT_MATCHES_CAP} are "
                         "returned)")
    matches = d.decide(candidates)
    page = matches[query.offset: query.offset + query.count] if query.count is not None else matches[query.offset:]
    _shape(page, query)
    includes = _includes(request, d, query, resource_type, page) if not query.summary_count else []
    # The links name only the parameters the search applied (FHIR R4 search 3.1.1.4): an ignored one is left out.
    applied = [(k, v) for k, v in params if k not in query.ignored]
    bundle, sent = searchset(base_url(request), resource_type, applied, matches, offset=query.offset,
                             count=query.count, includes=includes, outcome=d.notice_outcome(),
                             summary_count=query.summary_count)
    return send(request, d, f"search-type {resource_type}", bundle, sent=sent)


def _identifies_a_person(query: search.SearchQuery) -> bool:
    if query.ids or any(t.param == "identifier" and t.code for t in query.tokens):
        return True
    named = any(t.param in ("name", "family", "given") for t in query.tokens)
    born = any(c.param == "birthdate" and c.prefix == "eq" and c.high - c.low <= timedelta(days=1)
               for c in query.dates)
    return named and born


def _shape(items: list[Released], query: search.SearchQuery) -> None:
    """_summary / _elements: each item's subset (after the disclosure's own redaction)."""
    for r in items:
        if query.summary:
            r.edited = shaping.summary(r.resource, query.summary)
        elif query.elements:
            r.edited = shaping.elements(r.resource, query.elements)


def _includes(request: Request, d: Disclosure, query: search.SearchQuery, resource_type: str,
              page: list[Released]) -> list[Released]:
    """_include / _revinclude of the page's matches (not of every match), decided by the same disclosure."""
    if not query.include and not query.revinclude:
        return []
    store = _gateway(request).store
    matched = {(r.stored.resource_type, r.stored.id) for r in page}
    wanted = {ref for spec in query.include for ref in _included_refs(spec, resource_type, page)}
    candidates = [s for s in store.get_many(wanted) if (s.resource_type, s.id) not in matched]
    for spec in query.revinclude:
        candidates += _revincluded(store, spec, resource_type, page, matched)
    return d.decide(candidates)


def _supported(kind: str, spec: str, key: str, resource_type: str,
               known: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The element paths of an _include / _revinclude value ("Type:param" is its key); refused when not known."""
    paths = known.get(key)
    if not paths:
        raise BadRequest(f"{kind} {spec!r} is not supported on {resource_type} (supported: "
                         f"{', '.join(sorted(known)) or 'none'})")
    return paths


def _included_refs(spec: str, resource_type: str, page: list[Released]) -> list[tuple[str, str]]:
    """(type, id) of what the page's matches name at the parameter's paths (of the target type, if given)."""
    source, _, rest = spec.partition(":")
    param, _, target = rest.partition(":")
    paths = _supported("_include", spec, f"{source}:{param}", resource_type, search_params.includes_for(resource_type))
    refs = []
    for released in page:
        for path in paths:
            for ref in search_params.walk(released.resource, path + ".reference"):
                if isinstance(ref, str) and ref.count("/") == 1 and (not target or ref.startswith(target + "/")):
                    kind, rid = ref.split("/")
                    refs.append((kind, rid))
    return refs


def _revincluded(store: ResourceStore, spec: str, resource_type: str, page: list[Released],
                 matched: set[tuple[str, str]]) -> list[StoredResource]:
    """The source type's resources, in the page's patient compartments, that name one of the matches."""
    source = spec.partition(":")[0]
    paths = _supported("_revinclude", spec, spec, resource_type, search_params.revincludes_for(resource_type))
    patient_ids = sorted({r.stored.patient_id or r.stored.id for r in page})
    targets = {f"{t}/{i}" for t, i in matched}
    found = []
    for s in store.search(source, patient_ids=patient_ids) if patient_ids else []:
        refs = {ref for path in paths for ref in search_params.walk(s.content, path + ".reference")}
        if refs & targets:
            found.append(s)
    return found
