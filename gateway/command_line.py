"""How every `gateway` command that touches data opens the gateway: it says on stderr which database and
which policy it uses, and stops with a clear message (exit 2) when `gateway init` has not prepared them."""
from __future__ import annotations

import typer
from rich.console import Console

from gateway.deployment import NotInitialised, database_label
from gateway.settings import Settings
from gateway.wiring import Gateway, build_gateway

err = Console(stderr=True)


def open_gateway(settings: Settings) -> Gateway:
    try:
        gw = build_gateway(settings)
    except NotInitialised as exc:
        err.print(f"[red]{exc}[/]", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    err.print(f"database {database_label(settings)} · policy {settings.policy_dir} "
              f"(version {gw.policies.version})", style="dim", highlight=False, soft_wrap=True)
    return gw
