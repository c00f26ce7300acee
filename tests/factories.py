"""factory_boy factories for the ledger."""

from __future__ import annotations

import factory

from campaigns.models import AgentProfile, Campaign, Contact, DoNotCall
from telephony.models import CallerID, Trunk


class TrunkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Trunk

    name = factory.Sequence(lambda n: f"trunk-{n}")
    host = "127.0.0.1"
    port = 5080


class CallerIDFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CallerID

    trunk = factory.SubFactory(TrunkFactory)
    number = factory.Sequence(lambda n: f"+1415555{n:04d}")


class AgentProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AgentProfile

    name = factory.Sequence(lambda n: f"agent-{n}")
    prompt_template = "You are calling {{name}} about their appointment."


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"campaign-{n}")
    agent = factory.SubFactory(AgentProfileFactory)
    trunk = factory.SubFactory(TrunkFactory)


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    campaign = factory.SubFactory(CampaignFactory)
    phone_e164 = factory.Sequence(lambda n: f"+1212555{n:04d}")
    name = factory.Faker("name")
    time_zones = factory.LazyFunction(lambda: ["America/New_York"])


class DoNotCallFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DoNotCall

    phone_e164 = factory.Sequence(lambda n: f"+1646555{n:04d}")
