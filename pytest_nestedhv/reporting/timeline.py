"""The lab's phases as an SVG picture: one bar per step, placed on a common time axis."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from .records import PhaseRecord
from .wire import parse_iso

STEP_LABELS: Mapping[str, str] = {
    "host-checked": "host check",
    "l1-created": "L1 create",
    "l1-booted": "L1 boot",
    "guest-reachable": "guest reachable",
    "hyperv-installed": "Hyper-V install",
    "guest-rebooted": "reboot",
    "guest-hypervisor": "guest hypervisor",
    "l2-created": "L2 create",
    "l2-booted": "L2 boot",
    "l2-network": "L2 network",
    "negative-no-extensions": "negative probe",
}
ROW_H = 22
LABEL_W = 190
BAR_W = 520
TEXT_W = 90
OK_COLOUR = "#3c8d40"
FAIL_COLOUR = "#c62828"


def _fmt(seconds: float) -> str:
    if seconds >= 60:
        return f"{int(seconds // 60)} min {seconds % 60:.0f} s"
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


def render_timeline(phases_by_host: Mapping[str, Sequence[PhaseRecord]]) -> str:
    """An inline SVG (no scripts, no external references); empty string when nothing ran."""
    rows: list[tuple[str, PhaseRecord]] = [(h, p) for h, ps in phases_by_host.items() for p in ps]
    if not rows:
        return ""
    starts = [parse_iso(p.started) for _, p in rows]
    known = [s for s in starts if s is not None]
    t0 = min(known) if known else None
    spans = []
    for (host, phase), start in zip(rows, starts):
        offset = (start - t0).total_seconds() if (start is not None and t0 is not None) else 0.0
        spans.append((host, phase, max(0.0, offset)))
    total = max((off + p.duration_s for _, p, off in spans), default=0.0) or 1.0
    many_hosts = len(phases_by_host) > 1
    height = ROW_H * (len(spans) + 1) + 8
    width = LABEL_W + BAR_W + TEXT_W
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="nestedhv-timeline" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        "<title>Lab timeline: each step's start and duration</title>",
    ]
    for i, (host, phase, offset) in enumerate(spans):
        y = 4 + i * ROW_H
        x = LABEL_W + BAR_W * offset / total
        w = max(2.0, BAR_W * phase.duration_s / total)
        name = STEP_LABELS.get(phase.step, phase.step)
        label = f"{host}: {name}" if many_hosts else name
        colour = OK_COLOUR if phase.ok else FAIL_COLOUR
        tip = f"{label}: {_fmt(phase.duration_s)}" + ("" if phase.ok else f", failed: {phase.error or ''}")
        out.append(f'<g class="phase" data-step="{escape(phase.step)}"><title>{escape(tip)}</title>')
        out.append(f'<text x="4" y="{y + 15}">{escape(label)}</text>')
        out.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{ROW_H - 6}" fill="{colour}" rx="2"/>')
        out.append(f'<text x="{LABEL_W + BAR_W + 6}" y="{y + 15}">{escape(_fmt(phase.duration_s))}'
                   f'{"" if phase.ok else " failed"}</text></g>')
    axis_y = 4 + len(spans) * ROW_H + 12
    out.append(f'<text x="{LABEL_W}" y="{axis_y}" fill="#555">0 s</text>')
    out.append(f'<text x="{LABEL_W + BAR_W}" y="{axis_y}" text-anchor="end" fill="#555">{escape(_fmt(total))}</text>')
    out.append("</svg>")
    return "\n".join(out)
