"""What ``trainer.deterministic`` costs and allows in a trn job.

trn's default profile trains deterministically (``deterministic: warn``): the same seed on the
same machine gives the same weights, which is what makes a resumed job equal the uninterrupted
one. Two things of torch's deterministic mode are not needed for that, and cost every project:

- Filling each new tensor's memory with NaN (``torch.utils.deterministic.fill_uninitialized_memory``)
  only makes a *wrong* read of uninitialized memory repeatable; correct kernels never read it.
  It costs a write of every activation buffer: about a tenth of a small CNN's step on a CPU
  (docs/performance.md). trn turns it off before the project's code runs, so a module that wants
  it sets it back in its ``__init__``.
- An operation without a deterministic implementation (``put_``, CUDA's bilinear upsampling
  backward, ...) raises under ``deterministic=True``: a project that trains under plain
  Lightning would fail under trn's default. With ``warn`` it trains; the job gets one ``warning``
  event per such operation, saying that this run is not bit-reproducible and why.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TextIO

import torch

NO_DETERMINISTIC = " does not have a deterministic implementation"


def relax_fill() -> None:
    """New tensors' memory is left as it is (see the module's docstring)."""
    torch.utils.deterministic.fill_uninitialized_memory = False  # type: ignore[attr-defined]


def report_nondeterministic(warn: Callable[[str], None]) -> None:
    """From now on in this process (a runner), call ``warn`` once for each operation torch warns
    has no deterministic implementation; the warning is still shown as it would be."""
    shown = warnings.showwarning
    named: set[str] = set()

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        shown(message, category, filename, lineno, file, line)
        text = str(message)
        op = text.split(NO_DETERMINISTIC, 1)[0].strip() if NO_DETERMINISTIC in text else None
        if op and op not in named:
            named.add(op)
            try:
                warn(
                    f"{op} has no deterministic implementation: this run is not bit-reproducible "
                    "(a resume continues correctly, not bit for bit); trainer.deterministic=true "
                    "makes it an error instead"
                )
            except Exception:  # noqa: BLE001 - telemetry never stops training
                pass

    warnings.showwarning = show
