"""A self-contained HTML drift report: verdict tables and overlaid histograms as inline SVG."""

from __future__ import annotations

from html import escape
from itertools import pairwise

from modelfleet.drift._report import DriftReport, FeatureDrift, Histogram

_STYLE = """
body{font:14px system-ui,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;margin:12px 0}td,th{padding:4px 10px;border-bottom:1px solid #ddd;
text-align:left}.drift{color:#b00020;font-weight:600}.ok{color:#1b5e20}.na{color:#777}
.feature{margin:18px 0;padding:8px 12px;border:1px solid #e0e0e0;border-radius:6px}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
"""
_REF_COLOUR = "#1f77b4"
_CUR_COLOUR = "#ff7f0e"


def render_html(report: DriftReport, title: str = "Data drift report") -> str:
    """The whole report as one HTML document with no external assets."""
    verdict = "DRIFT DETECTED" if report.dataset_drifted else "no dataset drift"
    css = "drift" if report.dataset_drifted else "ok"
    rows = "".join(_summary_row(f) for f in report.features)
    details = "".join(_feature_section(f) for f in report.features)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>"
        f"<p class='{css}'>Dataset: {verdict} &mdash; {report.n_drifted} of {report.n_judged} "
        f"judged features drifted (share {report.share_drifted:.3f}, threshold "
        f"{report.drift_share:g}); {report.n_rows} current rows.</p>"
        "<table><tr><th>feature</th><th>type</th><th>method</th><th>statistic</th>"
        "<th>threshold</th><th>verdict</th><th>missing</th><th>out of range</th></tr>"
        f"{rows}</table>{details}</body></html>"
    )


def _verdict(f: FeatureDrift) -> tuple[str, str]:
    if not f.judged:
        return "na", f"not judged ({f.note})"
    return ("drift", "drift") if f.drifted else ("ok", "no drift")


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _summary_row(f: FeatureDrift) -> str:
    css, text = _verdict(f)
    return (
        f"<tr><td><a href='#f-{escape(f.name)}'>{escape(f.name)}</a></td><td>{f.kind}</td>"
        f"<td>{f.method}</td><td>{_number(f.statistic)}</td><td>{f.threshold:g}</td>"
        f"<td class='{css}'>{escape(text)}</td><td>{f.missing_share:.2%}</td>"
        f"<td>{f.out_of_range_share:.2%}</td></tr>"
    )


def _feature_section(f: FeatureDrift) -> str:
    css, text = _verdict(f)
    stats = (
        f"current mean {_number(f.mean)}, std {_number(f.std)}, range [{_number(f.minimum)}, "
        f"{_number(f.maximum)}]; reference mean {_number(f.reference_mean)}, std "
        f"{_number(f.reference_std)}"
        if f.kind == "numerical"
        else ""
    )
    chart = _svg(f.histogram) if f.histogram is not None else ""
    return (
        f"<div class='feature' id='f-{escape(f.name)}'><h3>{escape(f.name)} "
        f"<span class='{css}'>{escape(text)}</span></h3>"
        f"<p>{f.method} = {_number(f.statistic)} (threshold {f.threshold:g}"
        f"{', exact' if f.exact else ''}); {f.n_valid} valid of {f.n_rows} rows; "
        f"missing {f.missing_share:.2%}, infinite {f.inf_share:.2%}, outside reference range "
        f"{f.out_of_range_share:.2%}. {escape(stats)}</p>"
        f"<div class='legend'><span style='background:{_REF_COLOUR}'></span>reference"
        f"<span style='background:{_CUR_COLOUR}'></span>current</div>{chart}</div>"
    )


def _svg(h: Histogram, width: int = 640, height: int = 180) -> str:
    """Reference and current shares drawn as two translucent bar series over the same buckets."""
    labels = list(h.labels) if h.labels is not None else _edge_labels(h)
    reference, current = list(h.reference), list(h.current)
    if h.labels is None:
        labels = ["below", *labels, "above"]
        reference = [0.0, *reference, 0.0]
        current = [h.below, *current, h.above]
    top = max([*reference, *current, 1e-12])
    n = len(labels)
    bar = (width - 40) / max(n, 1)
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height + 40}'>"]
    for i, (label, r, c) in enumerate(zip(labels, reference, current, strict=True)):
        x = 20 + i * bar
        for value, colour in ((r, _REF_COLOUR), (c, _CUR_COLOUR)):
            bar_height = value / top * height
            parts.append(
                f"<rect x='{x:.1f}' y='{height - bar_height + 10:.1f}' width='{bar * 0.9:.1f}' "
                f"height='{bar_height:.1f}' fill='{colour}' fill-opacity='0.5'>"
                f"<title>{escape(label)}: {value:.3%}</title></rect>"
            )
        if n <= 24 or i % max(1, n // 12) == 0:
            parts.append(
                f"<text x='{x:.1f}' y='{height + 28}' font-size='9' "
                f"transform='rotate(30 {x:.1f} {height + 28})'>{escape(label)}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _edge_labels(h: Histogram) -> list[str]:
    edges = h.edges or ()
    return [f"{a:.3g}..{b:.3g}" for a, b in pairwise(edges)]
