"""The --format names and the adapters behind them (imported lazily: a broken adapter breaks only its format)."""
from __future__ import annotations

import importlib

from adapters.base import Adapter
from gateway.logging import get_logger

ADAPTERS: dict[str, str] = {
    "gp-connect": "adapters.gp_connect:GpConnectAdapter",
    "hl7v2": "adapters.community_hl7v2:Hl7v2Adapter",
    "social-care": "adapters.social_care:SocialCareAdapter",
    "cld": "adapters.cld:CldAdapter",
    "opt-out": "adapters.opt_out:OptOutAdapter",
}


def load_adapters() -> dict[str, Adapter]:
    loaded: dict[str, Adapter] = {}
    for name, target in ADAPTERS.items():
        module_name, _, class_name = target.partition(":")
        try:
            loaded[name] = getattr(importlib.import_module(module_name), class_name)()
        except (ImportError, AttributeError) as exc:
            get_logger("gateway.ingest").warning("adapter.unavailable", format=name, error=str(exc))
    return loaded
