"""The sandbox bounds memory as well as time, and its compiled templates are safe to share
between the render threads."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from core.templating import render_fields
from tests.template_attacks import ATTACKS

ROOT = Path(__file__).resolve().parents[2]
# A few hundred megabytes: the interpreter needs a few dozen, every attack asks for gigabytes.
ADDRESS_SPACE = 256 * 2**20
# Renders every attack in a process that cannot grow past ADDRESS_SPACE, where any
# gigabyte-sized value would be a MemoryError (which render_fields never hides).
SCRIPT = """
import json, resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from core.templating import TemplateProblem, render_fields
from tests.template_attacks import ATTACKS
outcomes = {}
for name, (source, _) in ATTACKS.items():
    try:
        render_fields({"body": source}, {"client": {"name": "Bob Builder"}})
        outcomes[name] = "rendered"
    except TemplateProblem:
        outcomes[name] = "refused"
    except MemoryError:
        outcomes[name] = "out of memory"
print(json.dumps(outcomes))
"""


def test_every_attack_is_refused_in_a_process_capped_at_a_few_hundred_megabytes() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ADDRESS_SPACE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,  # a guard against hanging the run, never an assertion
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == dict.fromkeys(ATTACKS, "refused")


def test_one_compiled_template_renders_each_context_correctly_from_many_threads() -> None:
    source = "{% for n in range(count) %}{{ name }}{{ loop.index }};{% endfor %}"
    contexts = [{"name": f"client{i}", "count": i % 7 + 1} for i in range(200)]
    expected = ["".join(f"client{i}{n};" for n in range(1, i % 7 + 2)) for i in range(200)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        rendered = list(pool.map(lambda c: render_fields({"body": source}, c)["body"], contexts))

    assert rendered == expected
