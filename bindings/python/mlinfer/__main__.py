"""python -m mlinfer export MODEL.joblib OUT.mli — the migration path for pickled models.

Loading a joblib or pickle file runs code chosen by whoever wrote it: use this only on files
you trust (your own training jobs). The .mli file it writes holds data only and is the
artefact to ship; it loads without Python, pickle or the training libraries."""
from __future__ import annotations

import argparse
import sys


def _load_pickle(path: str):
    try:
        import joblib
    except ImportError:  # plain pickles load without joblib
        joblib = None
    if joblib is not None:
        return joblib.load(path)
    import pickle
    with open(path, "rb") as f:
        return pickle.load(f)


def _export(args) -> int:
    from . import export
    from .errors import UnsupportedModelError
    try:
        est = _load_pickle(args.model)
    except FileNotFoundError:
        print(f"mlinfer export: {args.model}: no such file", file=sys.stderr)
        return 1
    except Exception as e:  # a pickle that does not load (missing module, corrupt file)
        print(f"mlinfer export: {args.model}: cannot load it: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    try:
        export(est, args.out, compress=args.compress)
    except UnsupportedModelError as e:
        print(str(e), file=sys.stderr)
        return 1
    print(f"{args.out}: {type(est).__module__}.{type(est).__name__} exported", file=sys.stderr)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m mlinfer", description="libmlinfer's Python tools")
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export", help="export a pickled (joblib) estimator to .mli — trusted files only",
                       description="Loads MODEL (a joblib or pickle file: this runs code from the file, so use it "
                       "only on files you trust) and writes it as OUT.mli, which holds data only.")
    e.add_argument("model", metavar="MODEL.joblib")
    e.add_argument("out", metavar="OUT.mli")
    e.add_argument("--compress", action="store_true", help="zlib-compress the larger sections")
    args = p.parse_args(argv)
    if args.command == "export":
        return _export(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
