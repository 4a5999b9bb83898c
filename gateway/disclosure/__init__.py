"""The disclosure service: one policy snapshot per request, every item and element decided under it,
notices and the audit record built from those same decisions (docs/architecture.md).

Public surface: :class:`DisclosureService` (one per gateway process), :class:`Disclosure` (one
request), :class:`Refused`, :class:`Caller`, :class:`Released`, :func:`searchset`, :func:`relabel`;
the IG analysis API lives in :mod:`gateway.disclosure.analysis`.
"""
from gateway.disclosure.bundle import searchset
from gateway.disclosure.enforce import Decisions, Released
from gateway.disclosure.labels import LiveLabels, relabel
from gateway.disclosure.service import Caller, Disclosure, DisclosureService, Refused

__all__ = ["Caller", "Decisions", "Disclosure", "DisclosureService", "LiveLabels", "Refused", "Released",
           "relabel", "searchset"]
