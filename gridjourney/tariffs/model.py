"""The utility's tariffs, as `tariffs.yaml` writes them: the pydantic models the file is validated into.

A tariff has a fixed charge per month and one kind of energy charge: `flat` (one rate per kWh),
`tiered` (blocks of the month's kWh, each at its rate) or `time_of_use` (seasons of months; in each,
the local hours of weekdays and of weekends are split into named periods, each with its rate).
Holidays of the file's calendar are priced as weekend days. Rates and charges are decimals in the
file's currency. What the models cannot say alone (hours that overlap or are missing, a period with
no rate, tiers that do not increase, months in no season) is checked by the loader
(tariffs/checks.py), which locates every problem as file:line:column. Pure data, no I/O.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from gridjourney.dsl.windows import TimeWindow, windows_from_text
from gridjourney.events.fields import NoNul

TARIFF_NAME = r"^[a-z][a-z0-9_]*$"
KINDS = ("flat", "tiered", "time_of_use")

Money = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=6)]
Hours = Annotated[list[TimeWindow], BeforeValidator(windows_from_text), Field(min_length=1)]
# period name -> the local hours it covers, e.g. {peak: ["16:00-21:00"], off_peak: [...]}
Schedule = dict[Annotated[str, Field(pattern=TARIFF_NAME)], Hours]
# The title customers read: it travels in `customer.updated` payloads (scoring/tariff_scores.py),
# so it must be text the event store can hold (no NUL, no lone surrogate).
Title = Annotated[str, StringConstraints(min_length=1, max_length=80), NoNul]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Flat(Strict):
    rate: Money = Field(description="Per kWh.")


class Tier(Strict):
    up_to: Annotated[Decimal, Field(gt=0)] | None = Field(
        None, description="The tier ends at this many kWh in the month; the last tier has none."
    )
    rate: Money = Field(description="Per kWh within the tier.")


class Tiered(Strict):
    tiers: list[Tier] = Field(min_length=1, description="In increasing order of `up_to`.")


class Season(Strict):
    months: list[Annotated[int, Field(ge=1, le=12)]] = Field(min_length=1, description="1 = January.")
    rates: dict[Annotated[str, Field(pattern=TARIFF_NAME)], Money] = Field(
        min_length=1, description="Per kWh, by period."
    )
    weekdays: Schedule = Field(description="Monday to Friday: each period's hours; together all 24.")
    weekends: Schedule | None = Field(
        None, description="Saturday, Sunday and holidays (default: as weekdays)."
    )


class Tariff(Strict):
    name: Title | None = Field(None, description="As customers read it.")
    group: str = Field(
        "residential",
        pattern=TARIFF_NAME,
        description="Customers are offered only the tariffs of their current tariff's group.",
    )
    fixed_monthly: Money = Field(Decimal(0), description="Fixed charge per month.")
    flat: Flat | None = None
    tiered: Tiered | None = None
    time_of_use: dict[Annotated[str, Field(pattern=TARIFF_NAME)], Season] | None = Field(
        None, description="Seasons by name."
    )

    @property
    def kind(self) -> str:
        return next(kind for kind in KINDS if getattr(self, kind) is not None)

    def title(self, tariff_id: str) -> str:
        return self.name or tariff_id.replace("_", " ")


class Coaching(Strict):
    shift_goal: Money = Field(
        Decimal(60),
        description="`peak_shift_kwh` is the kWh a year to move out of the peak to save this much more.",
    )


class TariffFile(Strict):
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$", description="ISO 4217 code of every amount.")
    holidays: str = Field("US", description="Holiday calendar (country code, e.g. US, GB-ENG).")
    default: str = Field(description="The tariff of customers whose `tariff` attribute is unset.")
    coaching: Coaching = Coaching()
    tariffs: dict[Annotated[str, Field(pattern=TARIFF_NAME)], Tariff] = Field(min_length=1)
