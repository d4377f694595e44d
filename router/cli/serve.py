"""`router serve`: run the daemon in the foreground."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click

from router.cli.common import local_backend_options, parse_backend_options
from router.config import build_settings
from router.logs import configure

PATH = click.Path(path_type=Path)


@click.command()
@click.option("--socket", type=PATH, help="Unix socket to serve on [default: <state-dir>/router.sock].")
@click.option("--listen", metavar="HOST:PORT", help="Also (or only) serve on TCP; needs TLS or --insecure.")
@click.option(
    "--http-listen",
    metavar="HOST:PORT",
    help="Also serve the OpenAI-compatible HTTP API on TCP; needs TLS or --insecure.",
)
@click.option(
    "--http-socket", type=PATH, help="Also serve the OpenAI-compatible HTTP API on this Unix socket."
)
@click.option("--state-dir", type=PATH, help="Where the socket and decisions.db live.")
@click.option("--policy", type=PATH, help="Routing policy YAML [default: the shipped default policy].")
@local_backend_options
@click.option("--cloud-url", help="OpenAI-compatible base URL, e.g. https://api.openai.com/v1.")
@click.option("--cloud-model", help="Cloud model name, e.g. gpt-4o-mini.")
@click.option(
    "--cloud-key-file", type=PATH, help="File holding the cloud API key (or set ROUTER_CLOUD_API_KEY)."
)
@click.option("--n-ctx", type=int, help="Local context size in tokens [4096].")
@click.option("--queue-size", type=int, help="Requests that may wait for the local model [16].")
@click.option(
    "--insecure", is_flag=True, default=None, help="Allow plaintext TCP with --listen or --http-listen."
)
@click.option("--tls-cert", type=PATH, help="TLS certificate (PEM) for --listen and --http-listen.")
@click.option("--tls-key", type=PATH, help="TLS private key (PEM) for --listen and --http-listen.")
@click.option(
    "--tls-client-ca", type=PATH, help="Require client certificates signed by this CA (mutual TLS)."
)
@click.option(
    "--metrics-listen", metavar="HOST:PORT", help="Serve Prometheus metrics at http://HOST:PORT/metrics."
)
@click.option(
    "--retention-days", type=float, help="Prune decision rows older than this, daily [30; 0 keeps all]."
)
@click.option("--app-tokens", type=PATH, help="Require per-app bearer tokens listed in this file.")
@click.option("--default-deadline-s", type=float, help="Deadline of calls that set none, in seconds [120].")
@click.option(
    "--cloud-fallback-after-s",
    type=float,
    help="With a local fallback: seconds the cloud has to start answering [5].",
)
@click.option(
    "--stream-stall-s", type=float, help="Cancel a stream whose client reads nothing this long [10]."
)
@click.option("--max-connections", type=int, help="Client connections at most (also fd-limited) [4096].")
@click.option(
    "--max-concurrent-rpcs", type=int, help="Calls in progress at most; more get RESOURCE_EXHAUSTED [512]."
)
@click.option("--socket-group", help="Group that owns the Unix socket (mode 0660).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--log-format", type=click.Choice(["auto", "json", "console"]))
def serve(**flags: Any) -> None:
    """Run the daemon in the foreground until SIGTERM or Ctrl-C.

    Every flag can also be set by an environment variable ROUTER_<FLAG>, e.g. ROUTER_CLOUD_URL.
    """
    from router.daemon import serve as run

    flags["backend_options"] = parse_backend_options(flags["backend_options"])
    settings = build_settings(**flags)
    configure(settings.log_level, settings.log_format)
    asyncio.run(run(settings))
