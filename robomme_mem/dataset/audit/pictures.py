"""Pictures of an audit against the truth: what a memory says, drawn on the frames it was written from.

``audit --pictures DIR`` writes, per episode, a contact sheet of its call frames: each frame
twice its size, the memory's entries drawn where their ``<y, x>`` points are (a ring, green when
the truth has an object of that kind there, red when it has none, named by kind), the truth's
objects beside them (a cross at each; a hidden one as a square at its covering container, marked
"hidden"), and the memory's text under the frame, with the action memory in force at that call
below it and each of its claims that the truth does not hold marked false, in red. ``index.html`` browses tasks and episodes and
shows the audit's tables; every sheet has a JSON twin with the same points, for tools.

Geometry: a tile is ``SCALE`` times the frame plus a text band; a point ``<y, x>`` on the frame
lands at ``(tile_left + x * SCALE, tile_top + y * SCALE)`` on the sheet.
"""

from __future__ import annotations

import html
import json
import textwrap
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ...png import PNG_COMPRESS_LEVEL
from .against_truth import Thing, entry_is_true
from .entries import entries

SCALE = 2
COLUMNS = 4
TEXT_BAND = 220
"""Pixels under each frame for its memory texts (spatial, then action with its false claims)."""
GAP = 8
TRUE_RING, FALSE_RING, TRUTH_MARK, HIDDEN_MARK = (0, 200, 0), (230, 0, 0), (0, 190, 255), (255, 0, 255)
RING = 7
COORDINATES = "Coordinates are <y, x> on the 256x256 front image: row, then column, in pixels from its top-left corner (RoboMME's order)."


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow before 10.1: the bitmap font, one size
        return ImageFont.load_default()


@dataclass(frozen=True)
class Mark:
    """One drawn point: on the frame (``y, x``) and on the sheet (``sheet``)."""

    label: str
    point: tuple[int, int]
    sheet: tuple[int, int]
    verdict: bool | None
    """An entry: true or false; a truth object: None."""
    hidden: bool = False

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "point": list(self.point),
            "sheet": list(self.sheet),
            "verdict": self.verdict,
            "hidden": self.hidden,
        }


def tile_origin(index: int, width: int, height: int) -> tuple[int, int]:
    """Top-left corner on the sheet of the ``index``-th frame's tile."""
    row, column = divmod(index, COLUMNS)
    return GAP + column * (width * SCALE + GAP), GAP + row * (height * SCALE + TEXT_BAND + GAP)


def frame_marks(memory: str, things: list[Thing], origin: tuple[int, int]) -> list[Mark]:
    """The marks of one frame: each entry with a point, then each true object the camera can place."""
    left, top = origin
    marks = []
    for entry in entries(memory):
        if entry.point is None:
            continue
        ok = entry_is_true(entry, things)
        y, x = entry.point
        label = f"{entry.colour + ' ' if entry.colour else ''}{entry.kind}"
        marks.append(Mark(label, (y, x), (left + x * SCALE, top + y * SCALE), ok))
    for thing in things:
        if thing.kind == "white area" or not thing.places:
            continue
        point = thing.visible_at or (thing.places[-1] if thing.hidden else None)
        if point is None:
            continue
        y, x = point
        label = f"{thing.colour + ' ' if thing.colour else ''}{thing.kind}"
        marks.append(Mark(label, (y, x), (left + x * SCALE, top + y * SCALE), None, hidden=thing.hidden))
    return marks


def contact_sheet(frames: list[tuple], title: str) -> tuple[Image.Image, list[dict]]:
    """One episode's sheet and the points drawn on it (``frames``: step, image, memory, true objects,
    and optionally the action memory in force and its false claims)."""
    height, width = frames[0][1].shape[:2]
    rows = (len(frames) + COLUMNS - 1) // COLUMNS
    sheet = Image.new(
        "RGB", (GAP + COLUMNS * (width * SCALE + GAP), GAP + rows * (height * SCALE + TEXT_BAND + GAP) + 24), "white"
    )
    draw = ImageDraw.Draw(sheet)
    small, text_font = _font(11), _font(12)
    draw.text((GAP, sheet.height - 20), f"{title}. {COORDINATES}", fill="black", font=text_font)
    out = []
    for index, (step, image, memory, things, *action) in enumerate(frames):
        action_memory, false_claims = action if action else (None, [])
        left, top = tile_origin(index, width, height)
        sheet.paste(Image.fromarray(image).resize((width * SCALE, height * SCALE), Image.NEAREST), (left, top))
        marks = frame_marks(memory, things, (left, top))
        for mark in marks:
            x, y = mark.sheet
            if mark.verdict is None:
                colour = HIDDEN_MARK if mark.hidden else TRUTH_MARK
                if mark.hidden:
                    draw.rectangle((x - 5, y - 5, x + 5, y + 5), outline=colour, width=2)
                else:
                    draw.line((x - 5, y, x + 5, y), fill=colour, width=2)
                    draw.line((x, y - 5, x, y + 5), fill=colour, width=2)
                draw.text((x + 7, y + 2), mark.label + (" (hidden)" if mark.hidden else ""), fill=colour, font=small)
            else:
                colour = TRUE_RING if mark.verdict else FALSE_RING
                draw.ellipse((x - RING, y - RING, x + RING, y + RING), outline=colour, width=3)
                draw.text((x + RING + 2, y - RING - 12), mark.label, fill=colour, font=small)
        wrapped = textwrap.wrap(f"step {step}: {memory}", width=78)[:8]
        draw.multiline_text((left, top + height * SCALE + 4), "\n".join(wrapped), fill="black", font=small, spacing=2)
        if action_memory is not None:
            below = top + height * SCALE + 4 + 13 * len(wrapped) + 4
            lines = textwrap.wrap(f"action: {action_memory}", width=78)[:5]
            draw.multiline_text((left, below), "\n".join(lines), fill=(40, 40, 160), font=small, spacing=2)
            wrong = textwrap.wrap("false: " + "; ".join(false_claims), width=78)[:3] if false_claims else []
            if wrong:
                draw.multiline_text(
                    (left, below + 13 * len(lines) + 2), "\n".join(wrong), fill=FALSE_RING, font=small, spacing=2
                )
        out.append(
            {
                "step": step,
                "memory": memory,
                "origin": [left, top],
                "marks": [m.to_dict() for m in marks],
                **(
                    {"action_memory": action_memory, "false_claims": list(false_claims)}
                    if action_memory is not None
                    else {}
                ),
            }
        )
    return sheet, out


def sheet_name(task: str, episode: int) -> str:
    return f"{task}_ep{episode}"


def write_sheet(folder: Path, task: str, episode: int, frames: list, title: str) -> dict:
    """Write one episode's sheet (PNG) and its points (JSON); what index.html lists of it."""
    folder.mkdir(parents=True, exist_ok=True)
    sheet, points = contact_sheet(frames, title)
    name = sheet_name(task, episode)
    tmp = folder / f".{name}.png.partial"
    sheet.save(tmp, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    tmp.replace(folder / f"{name}.png")
    (folder / f"{name}.json").write_text(
        json.dumps({"task": task, "episode": episode, "scale": SCALE, "frames": points}), encoding="utf-8"
    )
    false = sum(1 for f in points for m in f["marks"] if m["verdict"] is False)
    return {
        "task": task,
        "episode": episode,
        "png": f"{name}.png",
        "json": f"{name}.json",
        "frames": len(points),
        "false": false,
        "size": list(sheet.size),
    }


def write_index(folder: Path, sheets: list[dict], tables: dict[str, str], title: str) -> Path:
    """``index.html``: the audit's tables, then every task and its episodes' sheets."""
    tasks: dict[str, list[dict]] = {}
    for sheet in sheets:
        tasks.setdefault(sheet["task"], []).append(sheet)
    nav = " ".join(f'<a href="#{html.escape(t)}">{html.escape(t)}</a>' for t in tasks)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:1em} table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:2px 6px}"
        " figure{margin:1em 0} img{max-width:100%} .legend span{margin-right:1.5em}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='coordinates'>{html.escape(COORDINATES)}</p>",
        "<p class='legend'><span style='color:#00c800'>&#9675; an entry the truth confirms</span><span style='color:#e60000'>&#9675; an entry with no such object there</span>"
        "<span style='color:#00beff'>+ a true object</span><span style='color:#ff00ff'>&#9633; a true object hidden (at what covers it)</span></p>",
    ]
    for name, table in tables.items():
        parts.append(f"<h2>{html.escape(name)}</h2>{_markdown_table(table)}")
    parts.append(f"<nav>{nav}</nav>")
    for task, items in tasks.items():
        parts.append(f"<section id='{html.escape(task)}'><h2>{html.escape(task)}</h2>")
        for item in items:
            parts.append(
                f"<figure class='episode' data-task='{html.escape(task)}' data-episode='{item['episode']}'>"
                f"<figcaption>{html.escape(task)} episode {item['episode']}: {item['frames']} call frames, {item['false']} false entries "
                f"(<a href='{item['json']}'>points</a>)</figcaption>"
                f"<img src='{item['png']}' width='{item['size'][0]}' alt='{html.escape(task)} episode {item['episode']}' "
                "onload=\"this.dataset.loaded='yes'\" onerror=\"this.dataset.loaded='no'\"></figure>"
            )
        parts.append("</section>")
    parts.append("</body></html>")
    index = folder / "index.html"
    index.write_text("\n".join(parts), encoding="utf-8")
    return index


def _markdown_table(table: str) -> str:
    rows = [
        line.strip().strip("|").split("|")
        for line in table.splitlines()
        if line.strip() and not set(line) <= set("|-: ")
    ]
    if not rows:
        return ""
    head, body = rows[0], rows[1:]
    out = ["<table><tr>" + "".join(f"<th>{html.escape(c.strip())}</th>" for c in head) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{html.escape(c.strip())}</td>" for c in row) + "</tr>" for row in body]
    return "".join(out) + "</table>"


def _action_at(found, step: int) -> tuple:
    """The action memory in force at a call (grounded where labelled) and its claims the truth does not hold."""
    from .actions_against_truth import ActionAudit, score_memory

    action = found.labels.action
    style = "grounded" if action.get("grounded") else "simple" if action.get("simple") else None
    if style is None:
        return ()
    entry = max((e for e in action[style] if e.step <= step), key=lambda e: e.step, default=None)
    if entry is None:
        return ()
    false = score_memory(entry.text, found.record, entry.step, ActionAudit(), "")
    return entry.text, [c.text for c in false]


def write_pictures(
    folder: str | Path,
    episodes,
    truth: str | Path,
    tables: dict[str, str],
    title: str,
    progress: bool = True,
    offsets: dict[tuple[str, int], int] | None = None,
) -> Path:
    """Every labelled episode the truth holds as a sheet, and ``index.html`` over them; the index's path."""
    from tqdm.auto import tqdm

    from ..source import open_source
    from .against_truth import with_truth

    folder = Path(folder)
    sheets = []
    for found in tqdm(
        with_truth(episodes, truth, offsets), desc="pictures", unit="episode", disable=not progress
    ):  # one record in memory at a time
        work = found.labels.work
        if not found.frames:
            continue
        with open_source(work.file) as source:
            episode = source.episode(work.episode)
            frames = [
                (step, episode.front_image(step), memory, things, *_action_at(found, step))
                for step, memory, things in found.frames
            ]
        sheets.append(write_sheet(folder, work.task, work.episode, frames, f"{work.name}, {title}"))
    return write_index(folder, sheets, tables, title)
