"""Self-contained HTML: escaped text, tables, embedded PNG figures, one inline stylesheet.

Every string that reaches a page goes through :func:`esc` (``html.escape`` with quotes), so
names, file names and paths from a protocol cannot inject markup. Figures are PNG data URIs;
the page loads nothing from the network (no external CSS, JavaScript, fonts or images).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Sequence
from typing import Any

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:0;
 color:#1d2733;background:#fff;line-height:1.45}
main{max-width:1050px;margin:0 auto;padding:18px 28px 60px}
h1{font-size:1.6em;margin:.2em 0 .1em;color:#1f4e79}
h2{font-size:1.2em;margin:1.6em 0 .4em;border-bottom:2px solid #dce6f0;padding-bottom:3px;
 color:#1f4e79}
h3{font-size:1em;margin:1.1em 0 .3em}
.scope{display:inline-block;font-size:.75em;font-weight:600;padding:1px 7px;border-radius:9px;
 margin-left:6px;vertical-align:middle}
.one{background:#e3effa;color:#1f4e79}.avg{background:#fbeedd;color:#8a4500}
.lede{color:#4a5866;margin:.2em 0 1em}
.tw{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.4em 0 .8em;font-size:.9em}
th,td{padding:3px 10px;border-bottom:1px solid #e4e9ef;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
thead th{background:#f3f6f9;border-bottom:2px solid #cfd9e3}
dl.kv{display:grid;grid-template-columns:max-content auto;gap:2px 16px;font-size:.9em}
dl.kv dt{color:#4a5866}dl.kv dd{margin:0;word-break:break-all}
figure{margin:.6em 0 1.2em}figure img{max-width:100%;height:auto;border:1px solid #e4e9ef}
figcaption{font-size:.85em;color:#4a5866}
.flow{display:flex;flex-direction:column;align-items:center;gap:6px;margin:.6em 0}
.flow .row{display:flex;gap:12px;justify-content:center;flex-wrap:wrap}
.box{border:1.5px solid #1f4e79;border-radius:4px;padding:6px 12px;min-width:170px;
 text-align:center;font-size:.88em;background:#fafcfe}
.box.side{border-color:#b35900;background:#fffaf4}
.arrow{color:#1f4e79;font-size:1.1em}
.note{font-size:.85em;color:#4a5866}
ul.plain{margin:.2em 0;padding-left:1.2em}
"""


def esc(value: Any) -> str:
    """Any value as HTML text (quotes escaped too)."""
    return html.escape(str(value), quote=True)


def scope(one_trial: bool, replicates: int | None = None) -> str:
    """A label saying whether a section shows one trial or an average over replicates."""
    if one_trial:
        return '<span class="scope one">one simulated trial (replicate 0)</span>'
    return f'<span class="scope avg">averaged over {esc(replicates)} simulated trials</span>'


def table(headers: Sequence[Any], rows: Iterable[Sequence[Any]],
          caption: str | None = None) -> str:
    """A table of escaped cells."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (f'<div class="tw"><table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
            "</table></div>")


def kv(pairs: Iterable[tuple[Any, Any]]) -> str:
    """A definition list of escaped key/value pairs."""
    items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in pairs)
    return f'<dl class="kv">{items}</dl>'


def png_data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def figure_png(fig: Any) -> bytes:
    """A matplotlib figure as PNG bytes (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def img(data: bytes, alt: str, caption: str | None = None) -> str:
    """An embedded PNG with alt text and an optional caption."""
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return (f'<figure><img src="{png_data_uri(data)}" alt="{esc(alt)}">{cap}</figure>')


def page(title: str, body: str) -> str:
    """A complete HTML document with the inline stylesheet."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head>"
            f"<body><main>{body}</main></body></html>\n")


def pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}%"


def pyplot() -> Any:
    """matplotlib.pyplot on the headless Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
