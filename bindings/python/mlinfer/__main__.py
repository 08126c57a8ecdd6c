"""python -m mlinfer export MODEL.joblib OUT.mli — the migration path for pickled models.

Loading a joblib or pickle file runs code chosen by whoever wrote it: use this only on files
you trust (your own training jobs). The .mli file it writes holds data only and is the
artefact to ship; it loads without Python, pickle or the training libraries."""
from __future__ import annotations

import argparse
import sys
import warnings


def _load_pickle(path: str):
    """The estimator, and the scikit-learn InconsistentVersionWarnings its unpickling raised
    (the other warnings are shown as usual)."""
    try:
        import joblib
    except ImportError:  # plain pickles load without joblib
        joblib = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if joblib is not None:
            est = joblib.load(path)
        else:
            import pickle
            with open(path, "rb") as f:
                est = pickle.load(f)
    mismatch = [w.message for w in caught if type(w.message).__name__ == "InconsistentVersionWarning"]
    for w in caught:
        if type(w.message).__name__ != "InconsistentVersionWarning":
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return est, mismatch


def _versions(mismatch) -> str:
    """'scikit-learn 1.2.2 (Pipeline, LogisticRegression), this is 1.9.1' from the warnings."""
    names = list(dict.fromkeys(getattr(w, "estimator_name", "?") for w in mismatch))
    orig = sorted({str(getattr(w, "original_sklearn_version", "?")) for w in mismatch})
    cur = getattr(mismatch[0], "current_sklearn_version", "?")
    shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
    return f"scikit-learn {' and '.join(orig)} ({shown}); this is scikit-learn {cur}"


def _export(args) -> int:
    from . import export
    from .errors import UnsupportedModelError
    try:
        est, mismatch = _load_pickle(args.model)
    except FileNotFoundError:
        print(f"mlinfer export: {args.model}: no such file", file=sys.stderr)
        return 1
    except Exception as e:  # a pickle that does not load (missing module, corrupt file)
        print(f"mlinfer export: {args.model}: cannot load it: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    if mismatch and not args.allow_version_mismatch:
        # scikit-learn does not promise that an estimator unpickled by another release keeps
        # the meaning of its fitted attributes, which are what the export reads
        print(f"mlinfer export: {args.model} was pickled by {_versions(mismatch)}. scikit-learn does not "
              "promise that an estimator unpickled by another release predicts as it did, so its export could "
              "score differently: run this command where the scikit-learn that pickled it is installed (the "
              "exporter takes scikit-learn 1.2 and later; the .mli it writes does not depend on it), or pass "
              "--allow-version-mismatch to export anyway and compare the predictions on your data", file=sys.stderr)
        return 1
    if mismatch:
        print(f"mlinfer export: {args.model} was pickled by {_versions(mismatch)}; exported anyway "
              "(--allow-version-mismatch): compare the predictions on your data", file=sys.stderr)
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
    e.add_argument("--allow-version-mismatch", action="store_true",
                   help="export an estimator that another scikit-learn release pickled (refused by default)")
    args = p.parse_args(argv)
    if args.command == "export":
        return _export(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
