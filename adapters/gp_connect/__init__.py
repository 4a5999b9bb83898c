"""GP Connect Access Record: Structured (FHIR STU3 Bundle) -> FHIR R4 resources.

Modules, one idea each: ``decode`` (bytes -> Bundle dict), ``index`` (ids, references, patient,
practice), ``walk`` (the one tree walk), ``terminology`` (code-system / extension renames),
``cardinality`` (every element reshaped to its R4 cardinality, from the R4B model metadata),
``fields`` + ``common`` (typed element moves), one module per group of resources whose elements
R4 renamed or restructured (``administrative``, ``clinical``, ``medication``, ``immunization``,
``observation``, ``encounter``, ``requests``, ``documents``), ``lists`` (id-less Lists and their
record-incompleteness warnings), ``registry`` (type -> mapper), ``convert`` (one entry),
``care_team`` (the derived GP CareTeam) and ``adapter`` (the Adapter protocol).
"""
from adapters.gp_connect.adapter import GpConnectAdapter

__all__ = ["GpConnectAdapter"]
