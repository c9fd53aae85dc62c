from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class BounceAnswer(BaseModel):
    # The same for every report that reads as one: whether it matched a message of ours
    # is nobody's business but ours.
    status: Literal["accepted"] = "accepted"
