"""FHIR R4 REST routes under /fhir. Thin: fetch candidates → disclose → respond (gateway/disclosure)."""
from __future__ import annotations

import dataclasses
from datetime import UTC
from email.utils import format_datetime
from typing import Any

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from gateway.api import search
from gateway.api.capability import capability_statement
from gateway.api.errors import BadRequest, Forbidden, Gone, NotAcceptable, NotFound, UnsupportedMediaType
from gateway.api.respond import send
from gateway.api.responses import FHIR_JSON, FHIR_XML, fhir_response, negotiated_format
from gateway.api.security import disclosure
from gateway.disclosure import Disclosure, Released, searchset
from gateway.store import StoredResource, search_params


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


def _elements(resource: dict[str, Any], elements: list[str] | None) -> dict[str, Any]:
    if not elements:
        return resource
    keep = {"resourceType", "id", "meta", *elements}
    out = {k: v for k, v in resource.items() if k in keep}
    meta = dict(out.get("meta", {}))
    meta["tag"] = [*meta.get("tag", []), {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
                                          "code": "SUBSETTED"}]
    out["meta"] = meta
    return out


@router.get("/metadata")
def metadata(request: Request) -> Response:
    return fhir_response(request, capability_statement(base_url(request), [FHIR_JSON, FHIR_XML, "json", "xml"],
                                                       smart=True))


@router.get("/Patient/{patient_id}/$everything")
def everything(patient_id: str, request: Request, d: Disclosure = Depends(disclosure)) -> Response:
    gw = _gateway(request)
    params = list(request.query_params.multi_items())
    query = search.parse("Patient", [(k, v) for k, v in params if k in ("_count", "_offset", "_since")],
                         strict=_strict(request))
    since = None
    if request.query_params.get("_since"):
        _, since, _ = search.parse_date(request.query_params["_since"], "_since")
    compartment = gw.store.compartment(patient_id)  # holds the Patient itself unless it is missing or deleted
    if not any(s.resource_type == "Patient" and s.id == patient_id for s in compartment):
        patient = gw.store.get("Patient", patient_id)
        raise (Gone if patient else NotFound)(f"Patient/{patient_id} is not known")
    candidates = [s for s in compartment if since is None or s.last_updated >= since]
    released = d.decide(candidates, compartment)
    bundle, sent = searchset(base_url(request), f"Patient/{patient_id}/$everything", params, released,
                             offset=query.offset, count=query.count, outcome=d.notice_outcome())
    return send(request, d, "Patient/$everything", bundle, sent=sent)


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
    released = d.decide([stored])
    if not released:
        # Withheld: a notice says whom to ask; a hidden item is indistinguishable from a missing one.
        # The app's error handler audits the refusal with this request's decisions.
        lines = d.notice_lines()
        if lines:
            raise Forbidden(lines[0].text)
        raise NotFound(f"{stored.resource_type}/{stored.id} is not known")
    item: Released = released[0]
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
    if query.patient_ids is None and resource_type != "Patient" and not query.ids:
        raise BadRequest(f"searching {resource_type} needs a patient (or subject) parameter, or _id")
    if resource_type == "Patient" and not query.ids and not any(t.param == "identifier" for t in query.tokens):
        # A record locator finds a person; it does not let anyone browse the population.
        raise BadRequest("searching Patient needs identifying criteria: identifier (e.g. system|NHS number) or _id")
    candidates = gw.store.search(resource_type, ids=query.ids, tokens=query.tokens, dates=query.dates,
                                 patient_ids=query.patient_ids, sort=query.sort)
    if resource_type == "Patient" and len(candidates) > PATIENT_MATCHES_CAP:
        raise BadRequest(f"{len(candidates)} people match: narrow the search (at most {PATIENT_MATCHES_CAP} are "
                         "returned)")
    matches = d.decide(candidates)
    if query.elements:
        for r in matches:
            r.edited = _elements(r.resource, query.elements)
    page = matches[query.offset: query.offset + query.count] if query.count is not None else matches[query.offset:]
    includes = _includes(request, d, query, page)
    # The links name only the parameters the search applied (FHIR R4 search 3.1.1.4): an ignored one is left out.
    applied = [(k, v) for k, v in params if k not in query.ignored]
    bundle, sent = searchset(base_url(request), resource_type, applied, matches, offset=query.offset,
                             count=query.count, includes=includes, outcome=d.notice_outcome(),
                             summary_count=query.summary_count)
    return send(request, d, f"search-type {resource_type}", bundle, sent=sent)


def _includes(request: Request, d: Disclosure, query: search.SearchQuery, page: list[Released]) -> list[Released]:
    """_include / _revinclude of the page's matches, decided by the same disclosure."""
    if not query.include and not query.revinclude:
        return []
    gw = _gateway(request)
    wanted: list[tuple[str, str]] = []
    for spec in query.include:
        source, _, param = spec.partition(":")
        paths = [p for s, n, p, _ in search_params.INCLUDES if s == source and n == param.split(":")[0]]
        if not paths:
            raise BadRequest(f"_include {spec!r} is not supported")
        for released in page:
            for path in paths:
                for ref in search_params.walk(released.resource, path + ".reference"):
                    if isinstance(ref, str) and ref.count("/") == 1:
                        wanted.append(tuple(ref.split("/")))  # type: ignore[arg-type]
    matched = {(r.stored.resource_type, r.stored.id) for r in page}
    candidates = [s for s in gw.store.get_many(set(wanted)) if (s.resource_type, s.id) not in matched]
    for spec in query.revinclude:
        source, _, param = spec.partition(":")
        paths = [p for s, n, p, _ in search_params.INCLUDES if s == source and n == param]
        if not paths:
            raise BadRequest(f"_revinclude {spec!r} is not supported")
        patient_ids = sorted({r.stored.patient_id or r.stored.id for r in page})
        targets = {f"{t}/{i}" for t, i in matched}
        for s in gw.store.search(source, patient_ids=patient_ids):
            refs = {ref for path in paths for ref in search_params.walk(s.content, path + ".reference")}
            if refs & targets:
                candidates.append(s)
    return d.decide(candidates)
