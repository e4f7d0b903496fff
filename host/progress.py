"""A rich progress bar for long work, driven by (phase, step, total, metrics) callbacks."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(stderr=True)


@contextmanager
def phase_progress(enabled: bool = True) -> Iterator:
    """Yields a callback(phase, step, total, metrics) that shows one bar per phase."""
    if not enabled:
        yield None
        return
    with Progress(TextColumn("{task.description:<8}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console,
                  transient=False) as bar:
        tasks: dict[str, int] = {}

        def update(phase: str, step: int, total: int, metrics: dict) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total, info="")
            info = "  ".join(f"{k} {v:.3f}" for k, v in metrics.items())
            bar.update(tasks[phase], completed=step, total=total, info=info)

        yield update
