"""Rich results for thaw's code interpreter, as a Jupyter kernel gives
them: a value becomes {"text", and where the object offers them "html",
"markdown", "svg", "png", "jpeg", "pdf", "latex", "json", "javascript"}
(images base64); matplotlib figures become PNGs, whether shown
(plt.show()), left open at the end of a cell or the cell's value; and
display(obj) sends a result at once, in order with the output."""

import base64
import builtins
import io
import sys

# _repr_*_ method -> result field, and what the method must return.
REPR_METHODS = (
    ("_repr_html_", "html", str),
    ("_repr_markdown_", "markdown", str),
    ("_repr_svg_", "svg", str),
    ("_repr_png_", "png", bytes),
    ("_repr_jpeg_", "jpeg", bytes),
    ("_repr_pdf_", "pdf", bytes),
    ("_repr_latex_", "latex", str),
    ("_repr_json_", "json", (dict, list)),
    ("_repr_javascript_", "javascript", str),
)
MIME_FIELDS = {
    "text/plain": "text", "text/html": "html", "text/markdown": "markdown",
    "image/svg+xml": "svg", "image/png": "png", "image/jpeg": "jpeg",
    "application/pdf": "pdf", "text/latex": "latex", "application/json": "json",
    "application/javascript": "javascript",
}
BINARY = ("png", "jpeg", "pdf")
MAX_FIELD = 16 << 20


def _field(key, value):
    """value checked and encoded for the JSON answer; None when unusable."""
    if key in BINARY:
        if isinstance(value, str):  # already base64, as mime bundles carry it
            value = value.encode()
            try:
                base64.b64decode(value, validate=True)
            except ValueError:
                return None
        elif isinstance(value, (bytes, bytearray)):
            value = base64.b64encode(value)
        else:
            return None
        value = value.decode()
    elif key == "json":
        if not isinstance(value, (dict, list)):
            return None
    elif not isinstance(value, str):
        return None
    if isinstance(value, str) and len(value) > MAX_FIELD:
        return None
    return value


def _figure_png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def _is_figure(obj):
    fig = sys.modules.get("matplotlib.figure")
    return fig is not None and isinstance(obj, fig.Figure)


def format_value(obj):
    """The result fields of obj. A formatter that raises or returns the
    wrong type is skipped: user objects must not break the cell."""
    out = {}
    if not isinstance(obj, type):  # a class's _repr_*_ are unbound functions
        bundle = None
        meth = getattr(obj, "_repr_mimebundle_", None)
        if callable(meth):
            try:
                bundle = meth()
            except Exception:  # noqa: BLE001
                bundle = None
            if isinstance(bundle, tuple) and bundle:
                bundle = bundle[0]
        if isinstance(bundle, dict):
            for mime, key in MIME_FIELDS.items():
                if mime in bundle and key != "text":
                    v = _field(key, bundle[mime])
                    if v is not None:
                        out[key] = v
        for name, key, _ in REPR_METHODS:
            if key in out:
                continue
            meth = getattr(obj, name, None)
            if not callable(meth):
                continue
            try:
                v = meth()
            except Exception:  # noqa: BLE001
                continue
            if isinstance(v, tuple) and v:  # (data, metadata)
                v = v[0]
            v = _field(key, v)
            if v is not None:
                out[key] = v
        if _is_figure(obj) and "png" not in out:
            try:
                out["png"] = _field("png", _figure_png(obj))
            except Exception:  # noqa: BLE001
                pass
    try:
        out["text"] = repr(obj)
    except Exception as e:  # noqa: BLE001
        out["text"] = f"<repr failed: {type(e).__name__}: {e}>"
    return out


def flush_figures(worker, skip=None):
    """Every open matplotlib figure as a result, then closed (as Jupyter's
    inline backend does after a cell). skip: a figure already sent as the
    cell's value."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    for num in plt.get_fignums():
        fig = plt.figure(num)
        if fig is not skip:
            worker.result({"text": repr(fig), "png": _field("png", _figure_png(fig))})
    plt.close("all")


def install(worker):
    """display() for cells, and plt.show() sending the figures at once."""
    def display(*objs):
        for obj in objs:
            worker.result(format_value(obj))
    builtins.display = display
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.show = lambda *args, **kwargs: flush_figures(worker)
