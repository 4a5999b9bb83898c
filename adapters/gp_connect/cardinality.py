"""STU3 -> R4 element shapes driven by the R4 definitions, for every element of a resource.

Many elements changed cardinality between STU3 and R4 (``Timing.repeat.when``, ``Location.type``,
``Observation.interpretation``...) and senders also send a single object where an array is due
(``Patient.generalPractitioner``). Rather than a mapper per element, the R4B model classes of
fhir.resources say, for each element, whether it repeats and which datatype / backbone element it
holds; :func:`conform` walks a resource once against them:

- an element R4 repeats but that came as one value is wrapped in an array;
- an element R4 allows once that came as an array keeps its first item, the rest kept as
  unmapped content (never dropped);
- an element R4 does not have at that place is kept as unmapped content, with its path.

Reading the model metadata is introspection, not validation; it is cached per model class, so a
resource costs one pass over its own JSON.
"""
from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource
from pydantic import BaseModel

from adapters.gp_connect.fields import keep_unmapped


@dataclass(frozen=True)
class ElementShape:
    repeats: bool
    model: type[BaseModel] | None  # the datatype / backbone model of a complex element; None for a primitive


def resource_model(resource_type: str) -> type[Resource] | None:
    """The R4B model class of a resource type, or None when R4 has no such resource."""
    try:
        model = get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError, ImportError):
        return None
    return model if isinstance(model, type) and issubclass(model, Resource) else None


@cache
def shapes(model: type[BaseModel]) -> dict[str, ElementShape]:
    """JSON element name -> shape, for every element of an R4B model (``_x`` companions included)."""
    found: dict[str, ElementShape] = {}
    for name, info in model.model_fields.items():
        found[info.alias or name] = _shape(info.annotation)
    return found


def _shape(annotation: Any) -> ElementShape:
    repeats = False
    inner = annotation
    while True:  # peel Optional[...] / X | None and List[...]
        origin = typing.get_origin(inner)
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(inner) if a is not type(None)]
            inner = args[0] if len(args) == 1 else inner
            if len(args) != 1:
                break
        elif origin is list:
            repeats = True
            inner = typing.get_args(inner)[0]
        else:
            break
    get_model = getattr(inner, "get_model_klass", None)
    model = get_model() if callable(get_model) else None
    if model is not None and issubclass(model, Resource):
        model = None  # a resource inside a resource (contained / Bundle entries) is converted on its own
    return ElementShape(repeats, model)


def conform(resource: dict[str, Any], model: type[BaseModel]) -> None:
    """Reshape ``resource`` (already renamed to R4 element names) to the R4 cardinalities, in place."""
    _conform(resource, model, resource, "")


def _conform(node: dict[str, Any], model: type[BaseModel], resource: dict[str, Any], path: str) -> None:
    known = shapes(model)
    for key in list(node):
        if key in ("resourceType", "contained") and node is resource:
            continue  # contained resources are STU3 resources of their own: converted separately
        where = f"{path}{key}"
        shape = known.get(key)
        if shape is None:
            keep_unmapped(resource, where, node.pop(key))
        elif _reshaped(node, key, shape, resource, where) and shape.model is not None:
            _descend(node[key], shape.model, resource, where)


def _reshaped(node: dict[str, Any], key: str, shape: ElementShape, resource: dict[str, Any], where: str) -> bool:
    """``node[key]`` wrapped in or taken out of an array as R4 wants it; False when nothing of it is left."""
    value = node[key]
    if shape.repeats and not isinstance(value, list):
        node[key] = [value]
    elif not shape.repeats and isinstance(value, list):
        _one(node, key, value, resource, where)
    return key in node


def _descend(value: Any, model: type[BaseModel], resource: dict[str, Any], where: str) -> None:
    """Conform the complex element(s) ``value`` to their own model."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, dict):
                _conform(item, model, resource, f"{where}[{i}].")
    elif isinstance(value, dict):
        _conform(value, model, resource, f"{where}.")


def _one(node: dict[str, Any], key: str, items: list[Any], resource: dict[str, Any], where: str) -> Any:
    """An array where R4 allows one value: the first item; the others kept, not dropped."""
    if not items:
        del node[key]
        return None
    node[key] = items[0]
    if len(items) > 1:
        keep_unmapped(resource, f"{where}[1:]", items[1:])
    return items[0]
