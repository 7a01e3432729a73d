"""``python -m trn.launcher.worker PAYLOAD RESULT``: run one Hydra task function, fresh process.

The payload holds the parent's ``sys.path`` (plain pickle) and then, cloudpickled, what Hydra's
``run_job`` needs: the Hydra context, the task function, this job's config and the parent's
singletons (config store, resolvers). The :class:`JobReturn` is pickled back to RESULT.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path
from typing import Any


def write_payload(path: Path, **items: Any) -> None:
    import cloudpickle

    with open(path, "wb") as f:
        pickle.dump(list(sys.path), f)
        cloudpickle.dump(items, f)


def _dump_result(path: Path, ret: Any) -> None:
    import cloudpickle

    try:
        data = cloudpickle.dumps(ret)
    except Exception as err:  # noqa: BLE001 - an unpicklable return value fails the job only
        ret.status, ret._return_value = _failed(), RuntimeError(f"unpicklable result: {err}")
        data = cloudpickle.dumps(ret)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _failed() -> Any:
    from hydra.core.utils import JobStatus

    return JobStatus.FAILED


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m trn.launcher.worker PAYLOAD RESULT", file=sys.stderr)
        return 2
    with open(argv[0], "rb") as f:
        # safe: the payload is the launcher's own cloudpickled task, written a moment ago in its
        # private mkdtemp dir (0700); running a Hydra app's task function is this worker's job
        sys.path[:0] = [p for p in pickle.load(f) if p not in sys.path]  # safe: see above
        spec = pickle.load(f)  # safe: see above
    from hydra.core.singleton import Singleton
    from hydra.core.utils import run_job, setup_globals

    Singleton.set_state(spec["singleton_state"])
    setup_globals()
    ret = run_job(
        hydra_context=spec["hydra_context"],
        task_function=spec["task_function"],
        config=spec["config"],
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )
    _dump_result(Path(argv[1]), ret)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
