"""Message templates: Jinja2 in a sandbox that bounds what a render may cost (limits.py),
offers only what cannot exceed those bounds (sandbox.py, filters.py), and renders off the
event loop (render.py). Errors carry the field and the template line."""

from core.templating.limits import RENDER_SECONDS
from core.templating.render import RenderBusy, TemplateProblem, render_async, render_fields

__all__ = ["RENDER_SECONDS", "RenderBusy", "TemplateProblem", "render_async", "render_fields"]
