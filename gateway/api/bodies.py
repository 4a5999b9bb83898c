"""JSON request bodies parsed only after the caller is authenticated.

FastAPI parses a declared body model (and refuses malformed JSON) before any dependency runs, so an
anonymous caller could probe the validation of `/policy/*` and `/audit/*`. Routes there take their
body through :func:`json_body` instead: a dependency that runs after the router's authentication
dependency, with the model still declared in the OpenAPI document (:func:`body_doc`).
"""
from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Depends
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from gateway.api.errors import BadRequest, UnsupportedMediaType

Model = TypeVar("Model", bound=BaseModel)


def json_body(model: type[Model]) -> Any:
    async def parse(request: Request) -> Model:
        media = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if media and media != "application/json" and not media.endswith("+json"):
            raise UnsupportedMediaType("the body must be application/json")
        raw = await request.body()
        if b"\\u0000" in raw:  # valid JSON, but no field of ours holds NUL (and PostgreSQL text cannot)
            raise BadRequest("body: NUL characters are not allowed")
        try:
            return model.model_validate_json(raw or b"{}")
        except ValidationError as exc:
            first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid body"}
            where = ".".join(str(p) for p in first.get("loc", ())) or "body"
            raise BadRequest(f"body.{where}: {first.get('msg')}") from None

    return Depends(parse)


def body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` declaring ``model`` as the route's JSON request body."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
