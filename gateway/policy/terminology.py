"""SNOMED CT hierarchies in category matchers: ECL expressions, their cached expansions, and the
client that makes those expansions with a FHIR terminology server.

A matcher may say ``ecl: ["<< 74732009 |Mental disorder|"]``. The gateway needs no terminology server
at run time: each expression's expansion is a FHIR ValueSet in the pack (``valuesets/*.json``),
holding the expression (``compose.include.filter`` "constraint"), the server that expanded it (the
``valueset-expansionSource`` extension), the SNOMED CT edition and version it used
(``expansion.parameter`` ``used-codesystem``), when (``expansion.timestamp``) and the concepts
(``expansion.contains``). Those files are policy content like any other: they are part of the
pack's content hash, so every expansion is versioned with the policy that uses it, and they are
published with it. ``gateway policy expand`` (re)makes them with ``ValueSet/$expand``.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

SNOMED = "http://snomed.info/sct"
IMPLICIT_ECL = SNOMED + "?fhir_vs=ecl/"
EXPANSION_SOURCE = "http://hl7.org/fhir/StructureDefinition/valueset-expansionSource"
# Marks an expansion written by hand rather than by a terminology server (what it holds, and why).
CURATED = "https://fhir.care-gateway.example/StructureDefinition/expansion-curated"
CACHE_DIR = "valuesets"


def normalise_ecl(ecl: str) -> str:
    """The expression without its terms (``|Mental disorder|``) and insignificant spaces: two ways of
    writing one expression share one cached expansion."""
    text = re.sub(r"\|[^|]*\|", " ", ecl)
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"\s*([<>!:=(),{}^*.])\s*", r"\1", text)


def cache_name(ecl: str) -> str:
    """A readable file name for an expression's cached expansion, e.g.
    ``descendants-or-self-of-74732009-mental-disorder.json``."""
    words = ecl
    for op, word in (("<<", " descendants-or-self-of "), ("<!", " children-of "), (">>", " ancestors-or-self-of "),
                     (">!", " parents-of "), ("<", " descendants-of "), (">", " ancestors-of "), ("^", " members-of ")):
        words = words.replace(op, word)
    slug = re.sub(r"[^a-z0-9]+", "-", words.lower()).strip("-")[:90].strip("-") or "ecl"
    if len(slug) >= 90 or not re.search(r"[0-9]", slug):
        slug += "-" + hashlib.sha256(normalise_ecl(ecl).encode()).hexdigest()[:8]
    return slug + ".json"


@dataclass(frozen=True)
class Expansion:
    """One cached expansion, as read from the pack."""

    file: str  # relative path in the pack
    ecl: str  # as written in the file
    codes: frozenset[str]  # "system|code"
    displays: dict[str, str]  # "system|code" -> display
    server: str | None  # the terminology server that made it; None: written by hand
    code_system_version: str | None  # e.g. http://snomed.info/sct|http://snomed.info/sct/83821000000107/version/...
    timestamp: str | None
    curated: str | None = None  # why and how a hand-made expansion was made

    @property
    def key(self) -> str:
        return normalise_ecl(self.ecl)


def ecl_of(valueset: dict[str, Any]) -> str | None:
    """The ECL a cached ValueSet expands: its compose filter, else its implicit URL."""
    for include in (valueset.get("compose") or {}).get("include") or []:
        for f in include.get("filter") or []:
            if f.get("property") == "constraint" and f.get("op") == "=" and f.get("value"):
                return str(f["value"])
    url = str(valueset.get("url") or "")
    return url.split("?fhir_vs=ecl/", 1)[1] if "?fhir_vs=ecl/" in url else None


def _flatten(contains: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    stack = list(reversed(contains))
    while stack:
        c = stack.pop()
        if c.get("code") is not None and not c.get("abstract"):
            out.append(c)
        stack.extend(reversed(c.get("contains") or []))
    return out


def _parameter(expansion: dict[str, Any], *names: str) -> str | None:
    for p in expansion.get("parameter") or []:
        if p.get("name") in names:
            for key in ("valueUri", "valueString", "valueCanonical", "valueCode"):
                if p.get(key):
                    return str(p[key])
    return None


def _extension(element: dict[str, Any], url: str) -> str | None:
    for e in element.get("extension") or []:
        if e.get("url") == url:
            return next((str(v) for k, v in e.items() if k.startswith("value")), None)
    return None


def read_expansion(file: str, valueset: dict[str, Any]) -> Expansion | None:
    ecl = ecl_of(valueset)
    if ecl is None:
        return None
    expansion = valueset.get("expansion") or {}
    concepts = _flatten(expansion.get("contains") or [])
    codes = {f"{c.get('system', '')}|{c['code']}": str(c.get("display") or "") for c in concepts}
    return Expansion(file, ecl, frozenset(codes), codes, _extension(expansion, EXPANSION_SOURCE),
                     _parameter(expansion, "used-codesystem", "version"), expansion.get("timestamp"),
                     _extension(valueset, CURATED))


def ecls_in(categories: dict[str, Any]) -> list[tuple[str, tuple[str | int, ...]]]:
    """Every ECL expression in categories.yaml's matchers (and their exceptions), with its path."""
    found: list[tuple[str, tuple[str | int, ...]]] = []

    def walk(matcher: dict[str, Any], path: tuple[str | int, ...]) -> None:
        for j, e in enumerate(matcher.get("ecl") or ()):
            found.append((str(e), path + ("ecl", j)))
        for k, u in enumerate(matcher.get("unless") or ()):
            if isinstance(u, dict):
                walk(u, path + ("unless", k))

    for name, d in ((categories or {}).get("categories") or {}).items():
        for i, m in enumerate((d or {}).get("match") or ()):
            if isinstance(m, dict):
                walk(m, ("categories", name, "match", i))
    return found


def expressions(categories: dict[str, Any]) -> list[str]:
    """The distinct expressions categories.yaml names (the first spelling of each)."""
    found: dict[str, str] = {}
    for ecl, _ in ecls_in(categories):
        found.setdefault(normalise_ecl(ecl), ecl)
    return list(found.values())


def cached_expansions(documents: Any) -> dict[str, Expansion]:
    """The readable cached expansions among the pack's valuesets/ documents, by normalised ECL."""
    out: dict[str, Expansion] = {}
    for doc in documents:
        found = read_expansion(doc.file, doc.data) if isinstance(doc.data, dict) else None
        if found is not None:
            out.setdefault(found.key, found)
    return out


# -- making expansions: a FHIR terminology server's ValueSet/$expand ---------------------------------

class TerminologyError(Exception):
    pass


@dataclass(frozen=True)
class Fetched:
    ecl: str
    server: str
    contains: list[dict[str, Any]]
    parameters: list[dict[str, Any]]
    identifier: str | None
    pages: int

    @property
    def concepts(self) -> int:
        return len({(c.get("system"), c["code"]) for c in self.contains})

    @property
    def code_system(self) -> str | None:
        return _parameter({"parameter": self.parameters}, "used-codesystem", "version")


def implicit_url(ecl: str) -> str:
    return IMPLICIT_ECL + ecl


def expand(client: Any, server: str, ecl: str, *, count: int = 1000, system_version: str | None = None,
           max_pages: int = 10_000) -> Fetched:
    """All concepts of ``ecl`` from ``server``'s ``ValueSet/$expand``, page by page (offset/count).

    ``client`` is an ``httpx.Client``."""
    base = server.rstrip("/") + "/ValueSet/$expand"
    contains: list[dict[str, Any]] = []
    parameters: list[dict[str, Any]] = []
    identifier: str | None = None
    offset, pages = 0, 0
    while pages < max_pages:
        params: dict[str, Any] = {"url": implicit_url(ecl), "offset": offset, "count": count}
        if system_version:
            params["system-version"] = system_version
        try:
            response = client.get(base, params=params, headers={"Accept": "application/fhir+json"})
        except Exception as exc:  # httpx.HTTPError and friends: name the expression and the server
            raise TerminologyError(f"{server}: {exc}") from exc
        pages += 1
        body = _json(response)
        if response.status_code >= 400 or body.get("resourceType") != "ValueSet":
            raise TerminologyError(f"{server} refused to expand {ecl!r} (HTTP {response.status_code}): "
                                   f"{_diagnostics(body) or response.text[:300]}")
        expansion = body.get("expansion") or {}
        page = expansion.get("contains") or []
        if pages == 1:
            parameters = [p for p in expansion.get("parameter") or []
                          if p.get("name") in ("used-codesystem", "version", "displayLanguage")]
            identifier = expansion.get("identifier")
        contains += _flatten(page)
        total = expansion.get("total")
        offset += len(page)
        if not page or (isinstance(total, int) and offset >= total) or (total is None and len(page) < count):
            break
    else:
        raise TerminologyError(f"{server}: {ecl!r} did not finish in {max_pages} pages")
    return Fetched(ecl, server, contains, parameters, identifier, pages)


def _json(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _diagnostics(body: dict[str, Any]) -> str:
    if body.get("resourceType") != "OperationOutcome":
        return ""
    return "; ".join(str(i.get("diagnostics") or (i.get("details") or {}).get("text") or i.get("code"))
                     for i in body.get("issue") or [])


def valueset_for(fetched: Fetched, *, now: datetime | None = None) -> dict[str, Any]:
    """The cache file's content: a FHIR R4 ValueSet with the expression, the server, the code
    system version it used, when, and the concepts (sorted, so that re-expanding unchanged
    content changes nothing but the timestamp)."""
    concepts = {(c.get("system", SNOMED), str(c["code"])): c for c in fetched.contains}
    version = _parameter({"parameter": fetched.parameters}, "used-codesystem", "version")
    include: dict[str, Any] = {"system": SNOMED,
                               "filter": [{"property": "constraint", "op": "=", "value": fetched.ecl}]}
    if version and "|" in version:
        include["version"] = version.split("|", 1)[1]
    expansion: dict[str, Any] = {
        "extension": [{"url": EXPANSION_SOURCE, "valueUri": fetched.server}],
        "timestamp": (now or datetime.now(UTC)).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "total": len(concepts),
    }
    if fetched.identifier:
        expansion["identifier"] = fetched.identifier
    if fetched.parameters:
        expansion["parameter"] = fetched.parameters
    ordered = sorted(concepts.items(), key=lambda kv: (kv[0][0], _num(kv[0][1])))
    expansion["contains"] = [{"system": system, "code": code, **({"display": c["display"]} if c.get("display") else {})}
                             for (system, code), c in ordered]
    name = cache_name(fetched.ecl).removesuffix(".json")
    return {"resourceType": "ValueSet", "id": name[:64],
            "url": implicit_url(fetched.ecl), "name": re.sub(r"[^A-Za-z0-9]", "_", name)[:100], "status": "active",
            "description": f"Cached expansion of the SNOMED CT expression {fetched.ecl} made by {fetched.server} "
                           f"(gateway policy expand).",
            "compose": {"include": [include]}, "expansion": expansion}


def _num(code: str) -> tuple[int, str]:
    return (int(code), "") if code.isdigit() else (0, code)


def dumps(valueset: dict[str, Any]) -> bytes:
    return orjson.dumps(valueset, option=orjson.OPT_INDENT_2) + b"\n"


def write_cache(directory: Path, fetched: Fetched, existing: dict[str, Expansion]) -> tuple[Path, bool]:
    """Write (or keep) the cache file of one expansion; returns its path and whether it changed.

    A file whose expression, concepts and code system version are unchanged is left as it is, so
    re-running ``expand`` does not make a new policy version for nothing."""
    valueset = valueset_for(fetched)
    old = existing.get(normalise_ecl(fetched.ecl))
    target = directory / (old.file if old is not None else f"{CACHE_DIR}/{cache_name(fetched.ecl)}")
    if old is None and target.exists():  # another expression's file by the same name: never overwrite it
        digest = hashlib.sha256(normalise_ecl(fetched.ecl).encode()).hexdigest()[:8]
        target = target.with_name(f"{target.stem}-{digest}.json")
    if old is not None:
        new = read_expansion(old.file, valueset)
        assert new is not None
        if (new.codes == old.codes and new.code_system_version == old.code_system_version
                and old.server == fetched.server and new.displays == old.displays):
            return target, False
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(dumps(valueset))
    return target, True


def url_for(server: str, ecl: str) -> str:
    """The GET request the expansion starts with (for messages)."""
    return f"{server.rstrip('/')}/ValueSet/$expand?url={quote(implicit_url(ecl), safe=':/?=')}"
