"""``trn data``: build, verify, describe and synthesize datasets (see docs/data.md).

No torch here: ``verify`` and ``info`` need only NumPy and the index.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

EPILOG = """examples:
  trn data build datasets/digits --from digits.npz --shard-size 512 --split train=0.8,val=0.2
  trn data build out/iris --from iris.csv --label species
  trn data verify datasets/sample
  trn data info sample --json
  trn data synth /tmp/synth-1g --size 1GiB
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "data",
        help="build, verify and describe datasets",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    _add_build(sub)
    v = sub.add_parser("verify", help="check index, files, sizes, checksums, dtypes and shapes")
    v.add_argument("dir", help="dataset directory or name")
    v.set_defaults(func=run_verify)
    i = sub.add_parser("info", help="describe a dataset")
    i.add_argument("dir", help="dataset directory or name")
    i.add_argument("--json", action="store_true", help="print one JSON object")
    i.set_defaults(func=run_info)
    s = sub.add_parser("synth", help="write a synthetic dataset (for benchmarks)")
    s.add_argument("out")
    s.add_argument("--size", default="64MiB", help="about this many bytes (1GiB, 512MiB, ...)")
    s.add_argument("--dim", type=int, default=64, help="features per sample (float32)")
    s.add_argument("--classes", type=int, default=10)
    s.add_argument("--shard-size", type=int, default=None, help="samples per shard (~64 MiB)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--force", action="store_true", help="replace a dataset already in OUT")
    s.set_defaults(func=run_synth)


def _add_build(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser("build", help="build a dataset from an .npz or a .csv")
    b.add_argument("out", help="output directory")
    b.add_argument("--from", dest="src", required=True, help=".npz of arrays or .csv with labels")
    b.add_argument("--shard-size", type=int, default=65536, help="samples per shard")
    b.add_argument("--split", default="train=0.8,val=0.2", help="NAME=FRACTION,... summing to 1")
    b.add_argument("--seed", type=int, default=0, help="seed of the split assignment")
    b.add_argument("--label", help="label array (npz, default y) or column (csv, default label)")
    b.add_argument("--name", help="dataset name (default: OUT's directory name)")
    b.add_argument("--version", default="1.0.0")
    b.add_argument("--description", default="")
    b.add_argument("--license", default="unspecified", help="SPDX identifier, e.g. CC-BY-4.0")
    b.add_argument("--source", help="where the data came from")
    b.add_argument("--force", action="store_true", help="replace a dataset already in OUT")
    b.set_defaults(func=run_build)


def run_build(args: argparse.Namespace) -> int:
    from trn.data.build import BuildOptions, build, parse_splits

    opts = BuildOptions(
        shard_size=args.shard_size,
        splits=parse_splits(args.split),
        seed=args.seed,
        label=args.label,
        name=args.name,
        version=args.version,
        description=args.description,
        license=args.license,
        source=args.source,
        force=args.force,
    )
    index = build(Path(args.src), Path(args.out), opts)
    print(f"built {index.name} at {args.out}: {_splits_line(index)}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from trn.data.index import dataset_dir
    from trn.data.verify import verify

    root = dataset_dir(args.dir)
    problems = verify(root)
    for problem in problems:
        print(f"{root}: {problem}")
    if problems:
        print(f"{len(problems)} problem(s) in {root}")
        return 1
    print(f"ok: {root}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    from trn.data.index import dataset_dir, fingerprint, load_index

    index = load_index(dataset_dir(args.dir))
    summary = {
        "name": index.name,
        "version": index.version,
        "path": str(index.root),
        "description": index.description,
        "license": index.license,
        "fingerprint": fingerprint(index.root),
        "features": index.raw["features"],
        "splits": {
            k: {"shards": len(v), "samples": index.num_samples(k), "bytes": _bytes(v)}
            for k, v in index.splits.items()
        },
    }
    if args.json:
        print(json.dumps(summary, sort_keys=True))
        return 0
    print(f"{index.name} {index.version} ({index.license}) at {index.root}")
    if index.description:
        print(f"  {index.description}")
    for f in index.features:
        extra = f", {f.num_classes} classes" if f.num_classes else ""
        if f.class_names:
            shown = ", ".join(f.class_names[:8]) + (", ..." if len(f.class_names) > 8 else "")
            extra += f" ({shown})"
        print(f"  feature {f.name}: {f.dtype} {list(f.shape)}{extra}")
    for k, s in summary["splits"].items():
        print(f"  split {k}: {s['samples']} samples in {s['shards']} shard(s), {s['bytes']} bytes")
    return 0


def run_synth(args: argparse.Namespace) -> int:
    from trn.data.synth import parse_size, synth

    index = synth(
        Path(args.out),
        parse_size(args.size),
        dim=args.dim,
        classes=args.classes,
        shard_size=args.shard_size,
        seed=args.seed,
        force=args.force,
    )
    print(f"synthesized {index.name} at {args.out}: {_splits_line(index)}")
    return 0


def _bytes(shards: tuple) -> int:
    return sum(ref.bytes for s in shards for ref in s.files.values())


def _splits_line(index) -> str:
    return ", ".join(
        f"{k} {index.num_samples(k)} samples / {len(v)} shards" for k, v in index.splits.items()
    )
