#!/usr/bin/env python3
"""How long printscp takes to turn one film into its PDF and PNG.

The film: 20 CT-like 512x512 12-bit slices (benchmarks/ct_phantom.py) on STANDARD\\4,5, 14INX17IN,
rendered at Requested Resolution ID STANDARD and HIGH. For each, the median over --repeat runs of:

* plan: layout, density -> display lookup tables, images mapped to display values (shared by both)
* PDF: plan + render_pdf; PNG: plan + render_png; both: render_job (plan once, PDF and PNG)
* and, for the same plan, the PDF as reportlab's own drawImage would embed it (zlib level 6 and
  ASCII85), the embedding printscp replaced; the file sizes of each output.

Target (issue 3): both outputs of this film in at most 0.3 s at STANDARD resolution.

    .venv/bin/python benchmarks/render.py [--repeat N]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "benchmarks")]

from ct_phantom import ct_series  # noqa: E402
from PIL import Image  # noqa: E402
from reportlab.lib.utils import ImageReader  # noqa: E402
from reportlab.pdfgen.canvas import Canvas  # noqa: E402

from printscp.config import load_config  # noqa: E402
from printscp.model.enums import (  # noqa: E402
    FilmOrientation,
    MagnificationType,
    PhotometricInterpretation,
    Polarity,
    PrintPriority,
    RequestedResolutionID,
    Trim,
)
from printscp.model.layout import ImageDisplayFormat  # noqa: E402
from printscp.model.record import FilmSnapshot, GrayscaleImage, ImageBoxSnapshot, PrintRequest  # noqa: E402
from printscp.render.film import render_job  # noqa: E402
from printscp.render.pdf import DocumentInfo, render_pdf  # noqa: E402
from printscp.render.plan import FilmPlan, plan_film  # noqa: E402
from printscp.render.png import render_png  # noqa: E402

PROFILE = load_config(REPO / "config.toml").printer
INFO = DocumentInfo("benchmark film", "BENCH_AE", "printscp")


def film(resolution: RequestedResolutionID) -> FilmSnapshot:
    images = [
        GrayscaleImage(512, 512, 12, PhotometricInterpretation.MONOCHROME2, (1, 1), pixels)
        for pixels in ct_series(20, 512)
    ]
    boxes = tuple(
        ImageBoxSnapshot(
            n + 1, image, Polarity.NORMAL, MagnificationType.BILINEAR, "MEDIUM", 20, 300, "CS500", None, None, None
        )
        for n, image in enumerate(images)
    )
    return FilmSnapshot(
        film_session_uid="1.2.3",
        film_box_uid="1.2.3.4",
        medium_type="CLEAR FILM",
        film_destination="MAGAZINE",
        film_session_label="BENCH",
        owner_id="",
        specific_character_set=(),
        image_display_format=ImageDisplayFormat.parse("STANDARD\\4,5"),
        film_orientation=FilmOrientation.PORTRAIT,
        film_size_id="14INX17IN",
        magnification_type=MagnificationType.BILINEAR,
        smoothing_type="MEDIUM",
        max_density=300,
        min_density=20,
        configuration_information="CS500",
        border_density="BLACK",
        empty_image_density="BLACK",
        trim=Trim.NO,
        illumination=None,
        reflected_ambient_light=None,
        requested_resolution_id=resolution,
        annotation_display_format_id="",
        image_boxes=boxes,
        annotations=(),
    )


def reportlab_default_pdf(plan: FilmPlan) -> bytes:
    """The same page through canvas.drawImage (reportlab's zlib level 6 + ASCII85)."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(plan.width, plan.height))
    canvas.setFillGray(plan.background / 255)
    canvas.rect(0, 0, plan.width, plan.height, stroke=0, fill=1)
    for placed in plan.images:
        rect = placed.rect
        canvas.drawImage(
            ImageReader(Image.fromarray(placed.pixels, mode="L")),
            rect.x,
            plan.height - rect.y - rect.height,
            rect.width,
            rect.height,
        )
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def median_time(work: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def measure(resolution: RequestedResolutionID, repeat: int) -> dict[str, float]:
    snapshot = film(resolution)
    request = PrintRequest(
        (snapshot,), 1, PrintPriority.MED, "BENCH", "BENCH_AE", "PRINTSCP", datetime.now().astimezone(), None
    )
    plan_time, plan = median_time(lambda: plan_film(snapshot, PROFILE), repeat)
    pdf_time, pdf = median_time(lambda: render_pdf([plan_film(snapshot, PROFILE)], INFO), repeat)
    png_time, png = median_time(lambda: render_png(plan_film(snapshot, PROFILE)), repeat)
    both_time, _ = median_time(lambda: render_job(request, PROFILE, INFO), repeat)
    assert isinstance(plan, FilmPlan) and isinstance(pdf, bytes) and isinstance(png, bytes)
    ours_time, _ = median_time(lambda: render_pdf([plan], INFO), repeat)
    theirs_time, theirs = median_time(lambda: reportlab_default_pdf(plan), repeat)
    assert isinstance(theirs, bytes)
    return {
        "dpi": plan.dpi,
        "plan": plan_time,
        "pdf": pdf_time,
        "png": png_time,
        "both": both_time,
        "pdf_size": len(pdf),
        "png_size": len(png),
        "embed_ours": ours_time,
        "embed_reportlab": theirs_time,
        "reportlab_size": len(theirs),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(
        f"render benchmark: Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"median of {args.repeat} runs; 20 x 512x512 12-bit CT slices, STANDARD\\4,5 on 14INX17IN\n"
    )
    header = (
        f"{'resolution':<10} {'dpi':>4} {'plan':>7} {'PDF':>7} {'PNG':>7} {'both':>7}   {'PDF size':>9} {'PNG size':>9}"
    )
    print(header)
    print("-" * len(header))
    results = {}
    for resolution in (RequestedResolutionID.STANDARD, RequestedResolutionID.HIGH):
        r = results[resolution] = measure(resolution, args.repeat)
        print(
            f"{resolution.value:<10} {r['dpi']:>4.0f} {r['plan']:>7.3f} {r['pdf']:>7.3f} {r['png']:>7.3f} "
            f"{r['both']:>7.3f}   {r['pdf_size'] / 1e6:>6.2f} MB {r['png_size'] / 1e6:>6.2f} MB",
            flush=True,
        )
    r = results[RequestedResolutionID.STANDARD]
    print(
        f"\nPDF embedding of the same STANDARD plan: printscp (Flate level 1, no ASCII85, all cores) "
        f"{r['embed_ours']:.3f} s, {r['pdf_size'] / 1e6:.2f} MB; reportlab drawImage (zlib 6 + ASCII85) "
        f"{r['embed_reportlab']:.3f} s, {r['reportlab_size'] / 1e6:.2f} MB; "
        f"ratio {r['embed_ours'] / r['embed_reportlab']:.2f}"
    )
    verdict = "met" if r["both"] <= 0.3 else "NOT met"
    print(f"target: both outputs at STANDARD in <= 0.300 s: {r['both']:.3f} s, {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
