#!/usr/bin/env python3
"""How long printscp takes to turn one film into its PDF and PNG, and how much memory it needs.

The films: 20 CT-like 12-bit slices (benchmarks/ct_phantom.py) on STANDARD\\4,5, 14INX17IN, as
20 x 512x512 at Requested Resolution ID STANDARD and HIGH, and 20 x 2048x2048 (160 MiB of pixels) at
STANDARD. The pixels are written as .npy files and memory-mapped (np.load(mmap_mode="r")), as a render
worker has them from the spool. For each film:

* time, the median over --repeat runs of: plan (layout and lookup tables: what `plan_film` decides),
  PDF (plan + render_pdf), PNG (plan + render_png), and total (render_job: plan once, each image's
  display values once for both outputs, PDF and PNG), in wall time and in CPU time of every thread;
* and the stages of render_job timed one by one: display values (every image box's lookup, the
  `printed_pixels` of the plan's images), PDF compress (hash and zlib of each, `ImageStreams.add`),
  PNG resample (the raster, `FilmRaster`), PNG encode (`encode_png`), PDF assemble (`render_pdf` from
  the compressed streams);
* peak memory of rendering the film once in a fresh process (multiprocessing spawn) that memory-maps
  the same .npy files: the child's VmHWM (peak resident set, /proc/self/status; reset just before
  render_job) minus its VmRSS just before render_job, and its VmHWM absolute (Python, numpy, Pillow,
  reportlab and printscp imported);
* the file sizes; and, for the STANDARD 512 film, the PDF as reportlab's own drawImage would embed
  its images (zlib level 6 and ASCII85), the embedding printscp replaced (both from display values
  already computed).

Targets: both outputs of the 20 x 512x512 film in at most 0.3 s at STANDARD (issue 3); peak RSS of a
server printing 20 x 2048x2048 films at most 320 MiB (issue 12).

    .venv/bin/python benchmarks/render.py [--repeat N]
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "benchmarks")]

import numpy as np  # noqa: E402
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
from printscp.render.pdf import DocumentInfo, ImageStreams, render_pdf  # noqa: E402
from printscp.render.pixels import Uint8Array  # noqa: E402
from printscp.render.plan import FilmPlan, plan_film  # noqa: E402
from printscp.render.png import FilmRaster, encode_png, render_png  # noqa: E402

PROFILE = load_config(REPO / "config.toml").printer
INFO = DocumentInfo("benchmark film", "BENCH_AE", "printscp")
MIB = 1024 * 1024


@dataclass(frozen=True)
class Case:
    size: int  # rows = columns of each of the 20 images
    resolution: RequestedResolutionID

    @property
    def name(self) -> str:
        return f"20 x {self.size}² {self.resolution.value}"


CASES = (
    Case(512, RequestedResolutionID.STANDARD),
    Case(512, RequestedResolutionID.HIGH),
    Case(2048, RequestedResolutionID.STANDARD),
)


def write_images(folder: Path, size: int) -> None:
    """The 20 slices as .npy files, as the spool keeps a job's pixels."""
    for n, pixels in enumerate(ct_series(20, size)):
        np.save(folder / f"{n:02d}.npy", pixels)


def mapped_images(folder: Path) -> list[np.ndarray]:
    return [np.load(path, mmap_mode="r") for path in sorted(folder.glob("*.npy"))]


def film(resolution: RequestedResolutionID, pixels: list[np.ndarray]) -> FilmSnapshot:
    images = [
        GrayscaleImage(p.shape[0], p.shape[1], 12, PhotometricInterpretation.MONOCHROME2, (1, 1), p) for p in pixels
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


def request_of(snapshot: FilmSnapshot) -> PrintRequest:
    return PrintRequest(
        (snapshot,), 1, PrintPriority.MED, "BENCH", "BENCH_AE", "PRINTSCP", datetime.now().astimezone(), None
    )


def reportlab_default_pdf(plan: FilmPlan, values: list[Uint8Array]) -> bytes:
    """The same page through canvas.drawImage (reportlab's zlib level 6 + ASCII85)."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(plan.width, plan.height))
    canvas.setFillGray(plan.background / 255)
    canvas.rect(0, 0, plan.width, plan.height, stroke=0, fill=1)
    for placed, pixels in zip(plan.images, values, strict=True):
        rect = placed.rect
        canvas.drawImage(
            ImageReader(Image.fromarray(pixels, mode="L")),
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


def median_cpu_time(work: Callable[[], object], repeat: int) -> float:
    """CPU time of this process (every thread of it), the median over `repeat` runs."""
    times = []
    for _ in range(repeat):
        start = time.process_time()
        work()
        times.append(time.process_time() - start)
    return statistics.median(times)


def measure_time(case: Case, folder: Path, repeat: int, embedding: bool) -> dict[str, float]:
    snapshot = film(case.resolution, mapped_images(folder))
    request = request_of(snapshot)
    plan_time, plan = median_time(lambda: plan_film(snapshot, PROFILE), repeat)
    pdf_time, pdf = median_time(lambda: render_pdf([plan_film(snapshot, PROFILE)], INFO), repeat)
    png_time, png = median_time(lambda: render_png(plan_film(snapshot, PROFILE)), repeat)
    total_time, _ = median_time(lambda: render_job(request, PROFILE, INFO), repeat)
    total_cpu = median_cpu_time(lambda: render_job(request, PROFILE, INFO), repeat)
    assert isinstance(plan, FilmPlan) and isinstance(pdf, bytes) and isinstance(png, bytes)

    # the stages of render_job, one at a time
    values_time, values = median_time(lambda: [placed.printed_pixels() for placed in plan.images], repeat)
    assert isinstance(values, list)

    def compress() -> ImageStreams:
        streams = ImageStreams()
        for placed, pixels in zip(plan.images, values, strict=True):
            streams.add(placed, pixels)
        return streams

    def resample() -> Image.Image:
        raster = FilmRaster(plan)
        for placed, pixels in zip(plan.images, values, strict=True):
            raster.paste(placed, pixels)
        return raster.finish()

    compress_time, streams = median_time(compress, repeat)
    resample_time, image = median_time(resample, repeat)
    assert isinstance(streams, ImageStreams) and isinstance(image, Image.Image)
    encode_time, _ = median_time(lambda: encode_png(image, plan.dpi), repeat)
    assemble_time, _ = median_time(lambda: render_pdf([plan], INFO, streams), repeat)
    result = {
        "dpi": plan.dpi,
        "plan": plan_time,
        "pdf": pdf_time,
        "png": png_time,
        "total": total_time,
        "cpu": total_cpu,
        "values": values_time,
        "compress": compress_time,
        "resample": resample_time,
        "encode": encode_time,
        "assemble": assemble_time,
        "pdf_size": len(pdf),
        "png_size": len(png),
    }
    if embedding:
        result["embed_ours"] = compress_time + assemble_time
        theirs_time, theirs = median_time(lambda: reportlab_default_pdf(plan, values), repeat)
        assert isinstance(theirs, bytes)
        result.update(embed_reportlab=theirs_time, reportlab_size=len(theirs))
    return result


# --- peak memory: one render in a fresh process ----------------------------------------------------------------


def proc_status_kib(field: str) -> int:
    """A memory figure of this process from /proc/self/status: VmRSS (resident now) or VmHWM (peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def render_once(folder: str, resolution: str) -> dict[str, int]:
    """In the child: map the pixels, render the film once, report resident memory in KiB."""
    snapshot = film(RequestedResolutionID(resolution), mapped_images(Path(folder)))
    request = request_of(snapshot)
    # Linux >= 4.0: "5" resets VmHWM to the current VmRSS, so the peak is the render's, not the imports'
    Path("/proc/self/clear_refs").write_text("5")
    before = proc_status_kib("VmRSS")
    rendered = render_job(request, PROFILE, INFO)
    assert rendered.films[0].png and rendered.films[0].pdf
    return {"before": before, "peak": proc_status_kib("VmHWM"), "after": proc_status_kib("VmRSS")}


def measure_memory(case: Case, folder: Path) -> dict[str, int]:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(render_once, (str(folder), case.resolution.value))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(
        f"render benchmark: Python {platform.python_version()}, {os.cpu_count()} CPUs, median of {args.repeat} runs; "
        "20 CT slices (12-bit, memory-mapped .npy), STANDARD\\4,5 on 14INX17IN\n"
        "time in seconds (PDF and PNG each include the plan; CPU: of the total, all threads); "
        "peak memory of one render in a fresh process, MiB\n"
    )
    header = (
        f"{'film':<22} {'dpi':>4} {'plan':>7} {'PDF':>7} {'PNG':>7} {'total':>7} {'CPU':>7}   {'PDF size':>9} "
        f"{'PNG size':>9}"
        f"   {'peak-before':>11} {'peak':>6}"
    )
    print(header)
    print("-" * len(header))
    results, memory = {}, {}
    with tempfile.TemporaryDirectory(prefix="printscp-render-bench-") as tmp:
        for case in CASES:
            folder = Path(tmp) / str(case.size)
            if not folder.exists():
                folder.mkdir()
                write_images(folder, case.size)
            m = memory[case] = measure_memory(case, folder)
            r = results[case] = measure_time(case, folder, args.repeat, embedding=case == CASES[0])
            print(
                f"{case.name:<22} {r['dpi']:>4.0f} {r['plan']:>7.3f} {r['pdf']:>7.3f} {r['png']:>7.3f} "
                f"{r['total']:>7.3f} {r['cpu']:>7.3f}   {r['pdf_size'] / 1e6:>6.2f} MB {r['png_size'] / 1e6:>6.2f} MB"
                f"   {(m['peak'] - m['before']) / 1024:>11.0f} {m['peak'] / 1024:>6.0f}",
                flush=True,
            )
    stages = ("plan", "values", "compress", "resample", "encode", "assemble")
    print("\nthe stages of the total, one at a time, seconds: plan, display values, PDF compress, PNG resample,")
    print("PNG encode, PDF assemble")
    header = f"{'film':<22} " + " ".join(f"{stage:>9}" for stage in stages) + f" {'sum':>9}"
    print(header)
    print("-" * len(header))
    for case, r in results.items():
        print(
            f"{case.name:<22} "
            + " ".join(f"{r[stage]:>9.3f}" for stage in stages)
            + f" {sum(r[stage] for stage in stages):>9.3f}"
        )
    r = results[CASES[0]]
    print(
        f"\nPDF embedding of the same STANDARD 512 display values: printscp (Up-predicted Flate, Z_RLE, no ASCII85) "
        f"{r['embed_ours']:.3f} s, {r['pdf_size'] / 1e6:.2f} MB; reportlab drawImage (zlib 6 + ASCII85) "
        f"{r['embed_reportlab']:.3f} s, {r['reportlab_size'] / 1e6:.2f} MB; "
        f"ratio {r['embed_ours'] / r['embed_reportlab']:.2f}"
    )
    verdict = "met" if r["total"] <= 0.3 else "NOT met"
    print(f"target: both outputs of 20 x 512² at STANDARD in <= 0.300 s: {r['total']:.3f} s, {verdict}")
    peak = memory[CASES[-1]]["peak"] / 1024
    print(
        f"peak RSS of one render of 20 x 2048² in a fresh process: {peak:.0f} MiB "
        f"(issue 12: a server printing such films <= 320 MiB; see benchmarks/print_vs_dcmprscp.py)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
