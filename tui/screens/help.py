"""The help screen: what every key does."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# augplan TUI — keys

| where | key | does |
|---|---|---|
| anywhere | `1` `2` `3` `4` | Plan, Run, Browse, Models |
| anywhere | `ctrl+p` | command palette (every action below) |
| anywhere | `?` | this help |
| anywhere | `escape` | leave a text field (so letter keys act) |
| anywhere | `q` | quit (jobs stay in the store; resume them later) |
| Plan | `p` / Enter in a field | plan for the budget |
| Plan | `m` | run the suggested next pilot point |
| Plan | `x` | run the recommendation (generate, filter, write the training pairs) |
| Run | `s` | start a generation job (corpus, augmenter, strategy, passages) |
| Run | `c` | cancel the running (or selected) job after its current batch |
| Run | `r` | resume the selected interrupted / failed / cancelled run |
| Browse | `/` | search (Enter; an empty search lists the selection) |
| Browse | `e` | export the selection's accepted pairs as jsonl |
| Models | `v` `p` `b` | verify (sha256), pull, benchmark the selected model |
| lists | `f` | refresh from the store |

Every long task runs in a background worker; the interface stays responsive.
The last plan is kept as `plan-<corpus>.json` next to the store, and jobs are the store's runs,
so quitting and reopening shows the same plan and jobs.
"""


class HelpScreen(ModalScreen[None]):
    """Key bindings, as a modal over the app."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Markdown(HELP)
