"""`gridjourney standins`: the provider stand-ins (Twilio SMS, SendGrid email, Web Push) as a process of
their own, for a staging deployment (docker-compose.yml's `staging` profile) that must not reach the
real providers. `gridjourney run` serves the same stand-ins inside the embedded stack."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated

import typer
from rich.console import Console

from gridjourney.config import get_settings
from gridjourney.logs import configure_logging

console = Console()


def standins(
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 in a container).")] = "127.0.0.1",
) -> None:
    """Serve the provider stand-ins on the configured ports (sms_standin_port, email_standin_port,
    push_standin_port) until stopped. The SendGrid stand-in signs its webhook posts to public_base_url;
    the key to verify them with is printed at start (GRIDJOURNEY_SENDGRID_WEBHOOK_PUBLIC_KEY of the API)."""
    from gridjourney.channels.push_standin import push_standin_from_settings
    from gridjourney.channels.sendgrid_standin import standin_from_settings as email_standin_from_settings
    from gridjourney.channels.twilio_standin import standin_from_settings as sms_standin_from_settings
    from gridjourney.cli.run import install_stop_handlers
    from gridjourney.inbound.sendgrid_keys import webhook_public_key

    configure_logging(logging.INFO)
    settings = get_settings()

    async def main() -> None:
        stop = asyncio.Event()
        install_stop_handlers(stop)
        sms = sms_standin_from_settings(settings)
        email = email_standin_from_settings(settings)
        push = push_standin_from_settings(settings)
        async with contextlib.AsyncExitStack() as stack:
            for server in (sms, email, push):
                server.host = host
                await server.start()
                stack.push_async_callback(server.stop)
            console.print(f"SMS (Twilio) stand-in: {sms.base_url}")
            console.print(f"Email (SendGrid) stand-in: {email.base_url}; its webhook key:")
            key = webhook_public_key(settings.model_copy(update={"sendgrid_webhook_public_key": None}))
            print(key, flush=True)  # whole on one line, to be copied
            console.print(f"Push stand-in: {push.base_url}")
            await stop.wait()

    asyncio.run(main())
