"""A footer whose keys wrap onto a second row when one row cannot hold them all.

Textual's Footer lays its keys out in one row and cuts the rest off: at 60
columns the review gate lost "approve turn", "split" and the palette. This one
measures its keys and, when they do not fit, shows them in two rows.
"""

from __future__ import annotations

from math import ceil

from textual import events
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

GAP = 1  # the compact footer's margin after each key


class WrappingFooter(Footer):
    DEFAULT_CSS = """
    WrappingFooter.-wrapped {
        layout: grid;
        height: 2;
        grid-gutter: 0;
    }
    """

    def on_mount(self) -> None:
        self.call_after_refresh(self.fit)

    def on_resize(self, _: events.Resize) -> None:
        self.fit()

    async def recompose(self) -> None:
        await super().recompose()
        self.fit()

    def fit(self) -> None:
        """Two rows when the keys are wider than the footer, one otherwise."""
        keys = [k for k in self.query_children(FooterKey) if not k.has_class("-command-palette")]
        palette = [k for k in self.query_children(FooterKey) if k.has_class("-command-palette")]
        need = sum(natural_width(k) + GAP for k in keys) + sum(
            natural_width(k) + 2 for k in palette
        )
        wrapped = bool(keys) and self.size.width > 0 and need > self.size.width
        self.set_class(wrapped, "-wrapped")
        if not wrapped:
            return
        # Footer sets its grid's column count inline on every compose: ours wins after it,
        # and each column is as wide as its widest key, so no description is cut.
        columns = ceil(len(keys) / 2)
        widths = [natural_width(k) + GAP for k in keys]  # GAP: the key's right margin
        self.styles.grid_size_columns = columns
        self.styles.grid_columns = " ".join(str(max(widths[c::columns])) for c in range(columns))

    @property
    def wrapped(self) -> bool:
        return self.has_class("-wrapped")


def natural_width(widget: Widget) -> int:
    """The cells a footer key needs to show its key and description uncut."""
    rendered = widget.render()
    return getattr(rendered, "cell_len", 0) or widget.outer_size.width
