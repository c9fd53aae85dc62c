"""The channels a reminder reaches a client on: email, SMS and WhatsApp.

One table, `CHANNELS`, keyed by `core.enums.Channel`, says per channel whether the
business's send window holds its messages back (SMS and WhatsApp: texts at night annoy;
email waits in the inbox) and which platform provider the *_BACKEND settings choose for
it. Where it reaches a client is `Client.address_on(channel)` (core.models). The rest of
the package is the providers and a business's own accounts:

- `providers.py`: the Provider protocol, the outgoing message, the provider's answer and
  failure, and the sandbox provider (nothing leaves);
- `smtp.py`: email over SMTP; `twilio_messages.py`: SMS and WhatsApp through Twilio's API;
- `business_email.py`, `business_twilio.py`: a business's own SMTP servers and Twilio
  account, used in place of the platform's; `business_accounts.py`: what the two share;
  `smtp_probe.py`, `twilio_accounts.py`: checking them (a test message; the account and
  messaging service fetched from Twilio) before they are saved or when tested.

The worker's send activity (activities/) and the API (sender verification, the SMTP and
Twilio checks) both build their providers here. `twilio_webhooks.py` reads Twilio's
callbacks (signatures, statuses, STOP/START/HELP, WhatsApp addresses); the API's routes
for them and what they change in the database are in api/webhooks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.business_email import BusinessEmailProvider
from channels.business_twilio import BusinessTwilioProvider
from channels.providers import Provider, SandboxProvider
from core.enums import Channel
from core.models import Business, Client
from core.settings import EmailBackend, MessagingBackend, Settings


def _email_provider(settings: Settings) -> Provider:
    if settings.EMAIL_BACKEND == EmailBackend.smtp:
        from channels.smtp import SmtpProvider

        return SmtpProvider(settings)
    return SandboxProvider()


def _twilio_provider(channel: Channel) -> Callable[[Settings], Provider]:
    def build(settings: Settings) -> Provider:
        backend = settings.SMS_BACKEND if channel == Channel.sms else settings.WHATSAPP_BACKEND
        if backend == MessagingBackend.twilio:
            from channels.twilio_messages import TwilioProvider

            return TwilioProvider(settings, channel.value)
        return SandboxProvider()

    return build


@dataclass(frozen=True)
class ChannelSpec:
    channel: Channel
    # Held back outside the business's send window (workflows/window.py).
    windowed: bool
    # The platform's provider, as the settings choose (sandbox: nothing leaves).
    platform_provider: Callable[[Settings], Provider]


CHANNELS: dict[Channel, ChannelSpec] = {
    Channel.email: ChannelSpec(Channel.email, windowed=False, platform_provider=_email_provider),
    Channel.sms: ChannelSpec(
        Channel.sms, windowed=True, platform_provider=_twilio_provider(Channel.sms)
    ),
    Channel.whatsapp: ChannelSpec(
        Channel.whatsapp, windowed=True, platform_provider=_twilio_provider(Channel.whatsapp)
    ),
}
# Every channel's name, in the order a business's defaults fall back through them.
ALL_CHANNELS = tuple(channel.value for channel in CHANNELS)
WINDOWED_CHANNELS = tuple(spec.channel.value for spec in CHANNELS.values() if spec.windowed)


def fallback_channels(client: Client, business: Business, used: Iterable[str]) -> list[str]:
    """The client's other channels in their order of preference (theirs, then the
    business's, then the rest) that could carry a message: not opted out, with an address,
    not among `used`."""
    tried = set(used)
    order = [*client.preferred_channels, *business.default_channels, *ALL_CHANNELS]
    return [
        channel
        for channel in dict.fromkeys(order)
        if channel not in tried
        and channel not in (client.opted_out_channels or [])
        and client.address_on(channel)
    ]


def build_provider(settings: Settings, channel: str) -> Provider:
    """The platform's provider for `channel`, as the *_BACKEND settings say."""
    return CHANNELS[Channel(channel)].platform_provider(settings)


def build_providers(settings: Settings) -> dict[str, Provider]:
    """The platform's provider per channel (see build_provider)."""
    return {channel: build_provider(settings, channel) for channel in ALL_CHANNELS}


def business_provider(
    channel: str,
    platform: Provider,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> Provider:
    """What a send on `channel` goes through: the business's own SMTP server or Twilio
    account when it has saved one, else `platform`."""
    if Channel(channel) == Channel.email:
        return BusinessEmailProvider(platform, sessionmaker, settings)
    return BusinessTwilioProvider(platform, channel, sessionmaker, settings)
