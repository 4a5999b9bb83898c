"""FHIR R4 REST routes under /fhir. Thin: fetch candidates, hand them to enforcement, audit, respond."""
from __future__ import annotations

import dataclasses
from datetime import UTC
from email.utils import format_datetime
from typing import Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from gateway.api import search
from gateway.api.bundles import searchset
from gateway.api.capability import capability_statement
from gateway.api.disclosure import audited
from gateway.api.enforcement import ContextCache, Filtered, Released, enforce
from gateway.api.errors import BadRequest, Forbidden, Gone, NotAcceptable, NotFound, UnsupportedMediaType
from gateway.api.responses import FHIR_JSON, FHIR_XML, fhir_response, negotiated_format
from gateway.api.security import authorize
from gateway.requester import Requester
from gateway.store import StoredResource, search_params

async def negotiate(request: Request) -> None:  # async: no thread hop for a header check
    """406 before any work when the caller accepts no format we write."""
    fmt = negotiated_format(request)
    if fmt is None:
        raise NotAcceptable("this server writes application/fhir+json and application/fhir+xml")
    request.state.fhir_format = fmt


router = APIRouter(prefix="/fhir", dependencies=[Depends(negotiate)])


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
def everything(patient_id: str, request: Request, requester: Requester = Depends(authorize)) -> Response:
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
    contexts = ContextCache(gw.store)
    filtered = enforce(gw.policies.engine, requester, contexts, candidates, compartment)
    bundle = searchset(base_url(request), f"Patient/{patient_id}/$everything", params, filtered,
                       offset=query.offset, count=query.count)
    return audited(request, requester, "Patient/$everything", bundle, filtered=filtered,
                   rule_ids=request.state.request_rule_ids, obligations=request.state.request_obligations)


@router.get("/{resource_type}/{rid}/_history/{vid}")
def vread(resource_type: str, rid: str, vid: str, request: Request,
          requester: Requester = Depends(authorize)) -> Response:
    _check_type(resource_type)
    gw = _gateway(request)
    current = gw.store.get(resource_type, rid)
    if current is None or not (vid.isascii() and vid.isdigit()):
        raise NotFound(f"{resource_type}/{rid}/_history/{vid} is not known")
    version = gw.store.get_version(resource_type, rid, int(vid))
    if version is None:
        raise NotFound(f"{resource_type}/{rid}/_history/{vid} is not known")
    raw, deleted = version
    if deleted:
        raise Gone(f"{resource_type}/{rid} version {vid} was deleted")
    stored = dataclasses.replace(current, raw=raw, version_id=int(vid))
    return _release_one(request, requester, stored, "vread")


@router.get("/{resource_type}/{rid}/_history")
def history(resource_type: str, rid: str, request: Request, requester: Requester = Depends(authorize)) -> Response:
    _check_type(resource_type)
    gw = _gateway(request)
    current = gw.store.get(resource_type, rid)
    if current is None:
        raise NotFound(f"{resource_type}/{rid} is not known")
    versions = gw.store.history(resource_type, rid)
    candidates = [dataclasses.replace(current, raw=raw, version_id=v, deleted=d) for v, _, d, raw in versions if not d]
    filtered = enforce(gw.policies.engine, requester, ContextCache(gw.store), candidates)
    bundle = {"resourceType": "Bundle", "type": "history", "total": len(filtered.released),
              "entry": [{"fullUrl": f"{base_url(request)}/{resource_type}/{rid}", "resource": r.body()}
                        for r in filtered.released]}
    return audited(request, requester, "history-instance", bundle, filtered=filtered,
                   rule_ids=request.state.request_rule_ids)


@router.get("/{resource_type}/{rid}")
def read(resource_type: str, rid: str, request: Request, requester: Requester = Depends(authorize)) -> Response:
    _check_type(resource_type)
    stored = _gateway(request).store.get(resource_type, rid)
    if stored is None:
        raise NotFound(f"{resource_type}/{rid} is not known")
    if stored.deleted:
        raise Gone(f"{resource_type}/{rid} has been deleted")
    return _release_one(request, requester, stored, "read")


def _release_one(request: Request, requester: Requester, stored: StoredResource, interaction: str) -> Response:
    gw = _gateway(request)
    filtered = enforce(gw.policies.engine, requester, ContextCache(gw.store), [stored])
    if not filtered.released:
        # Withheld: a notice says whom to ask; a hidden item is indistinguishable from a missing one.
        if filtered.notices:
            raise _Withheld(filtered, filtered.notices[0].message)
        raise _Withheld(filtered, None)
    released: Released = filtered.released[0]
    etag = f'W/"{released.stored.version_id}"'
    headers = {"ETag": etag, "Last-Modified": format_datetime(released.stored.last_updated.astimezone(UTC),
                                                               usegmt=True)}
    if request.headers.get("if-none-match") == etag:
        return audited(request, requester, interaction, {}, filtered=filtered, status=304, headers=headers,
                       rule_ids=request.state.request_rule_ids)
    return audited(request, requester, interaction, released.body(), filtered=filtered, headers=headers,
                   rule_ids=request.state.request_rule_ids, obligations=request.state.request_obligations)


class _Withheld(Exception):
    """Raised by a read whose item the policy withholds; the app's handler audits and answers it."""

    def __init__(self, filtered: Filtered, message: str | None) -> None:
        self.filtered = filtered
        self.error = Forbidden(message) if message else NotFound("not known")


@router.get("/{resource_type}")
def search_type(resource_type: str, request: Request, requester: Requester = Depends(authorize)) -> Response:
    return _search(request, requester, resource_type, list(request.query_params.multi_items()))


@router.post("/{resource_type}/_search")
async def search_post(resource_type: str, request: Request, requester: Requester = Depends(authorize)) -> Response:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("POST _search takes application/x-www-form-urlencoded parameters")
    form = await request.form()
    params = list(request.query_params.multi_items()) + [(k, str(v)) for k, v in form.multi_items()]
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_search, request, requester, resource_type, params)


def _search(request: Request, requester: Requester, resource_type: str, params: list[tuple[str, str]]) -> Response:
    _check_type(resource_type)
    gw = _gateway(request)
    query = search.parse(resource_type, params, strict=_strict(request))
    if query.patient_ids is None and resource_type != "Patient" and not query.ids:
        raise BadRequest(f"searching {resource_type} needs a patient (or subject) parameter, or _id")
    candidates = gw.store.search(resource_type, ids=query.ids, tokens=query.tokens, dates=query.dates,
                                 patient_ids=query.patient_ids, sort=query.sort)
    filtered = enforce(gw.policies.engine, requester, ContextCache(gw.store), candidates)
    if query.elements:
        for r in filtered.released:
            r.edited = _elements(r.resource, query.elements)
    includes = _includes(request, requester, query, filtered)
    # The links name only the parameters the search applied (FHIR R4 search 3.1.1.4): an ignored one is left out.
    applied = [(k, v) for k, v in params if k not in query.ignored]
    bundle = searchset(base_url(request), resource_type, applied, filtered, offset=query.offset, count=query.count,
                       includes=includes, summary_count=query.summary_count)
    return audited(request, requester, f"search-type {resource_type}", bundle, filtered=filtered,
                   rule_ids=request.state.request_rule_ids, obligations=request.state.request_obligations)


def _includes(request: Request, requester: Requester, query: search.SearchQuery, filtered: Filtered) -> list[Released]:
    """_include / _revinclude: follow the references of INCLUDES, through the same policy."""
    if not query.include and not query.revinclude:
        return []
    gw = _gateway(request)
    wanted: list[tuple[str, str]] = []
    for spec in query.include:
        source, _, param = spec.partition(":")
        paths = [p for s, n, p, _ in search_params.INCLUDES if s == source and n == param.split(":")[0]]
        if not paths:
            raise BadRequest(f"_include {spec!r} is not supported")
        for released in filtered.released:
            for path in paths:
                for ref in search_params.walk(released.resource, path + ".reference"):
                    if isinstance(ref, str) and ref.count("/") == 1:
                        wanted.append(tuple(ref.split("/")))  # type: ignore[arg-type]
    matched = {(r.stored.resource_type, r.stored.id) for r in filtered.released}
    candidates = [s for s in gw.store.get_many(set(wanted)) if (s.resource_type, s.id) not in matched]
    for spec in query.revinclude:
        source, _, param = spec.partition(":")
        paths = [p for s, n, p, _ in search_params.INCLUDES if s == source and n == param]
        if not paths:
            raise BadRequest(f"_revinclude {spec!r} is not supported")
        patient_ids = sorted({r.stored.patient_id or r.stored.id for r in filtered.released})
        targets = {f"{t}/{i}" for t, i in matched}
        for s in gw.store.search(source, patient_ids=patient_ids):
            refs = {ref for path in paths for ref in search_params.walk(s.content, path + ".reference")}
            if refs & targets:
                candidates.append(s)
    extra = enforce(gw.policies.engine, requester, ContextCache(gw.store), candidates)
    for bucket, items in extra.audit_items.items():
        filtered.audit_items[bucket].extend(items)
    filtered.notices.extend(extra.notices)
    filtered.obligations.update(extra.obligations)
    return extra.released
