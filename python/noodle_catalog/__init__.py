"""noodle_catalog: read a Noodle results catalog from Python.

    import noodle_catalog as nc
    cat = nc.open_catalog("results")
    df = cat.query("SELECT name, version, tags.n, norm FROM latest WHERE kind = 'map'")
    heat = cat.load("heat")                  # dict of numpy arrays and scalars
    ds = cat.load("heat", xarray=True)       # xarray.Dataset: coordinates and units
    runs = cat.runs()                        # the _run job reports, one row per run

Queries run through ``noodle-mql --format json`` (one MQL implementation, the
catalog's own); loads read the HDF5 result files directly with h5py.  The layout is
docs/catalog.md ("Result files", "Map results", "Job reports").
"""

import json
import os
import re
import shutil
import subprocess

import h5py
import numpy as np

__all__ = ["open_catalog", "Catalog", "QueryError", "find_mql"]
__version__ = "1"

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


class QueryError(Exception):
    """An MQL query that noodle-mql refused (its message, with position and caret)."""


def _installed_bindir():
    try:
        from . import _paths  # written by `make install`
        return _paths.BINDIR
    except ImportError:
        return None


def find_mql():
    """The noodle-mql to run: $NOODLE_MQL, the installed one, or the first on PATH."""
    env = os.environ.get("NOODLE_MQL")
    if env:
        return env
    bindir = _installed_bindir()
    if bindir and os.access(os.path.join(bindir, "noodle-mql"), os.X_OK):
        return os.path.join(bindir, "noodle-mql")
    found = shutil.which("noodle-mql")
    if not found:
        raise FileNotFoundError("noodle-mql not found: install Noodle, put it on PATH or set NOODLE_MQL")
    return found


def open_catalog(path, mql=None):
    """Opens the catalog directory ``path`` (it must exist) for queries and loads."""
    return Catalog(path, mql)


class Catalog:
    def __init__(self, path, mql=None):
        if not os.path.isdir(path):
            raise FileNotFoundError("no catalog at %s" % path)
        self.path = path
        self.mql = mql or find_mql()

    def __repr__(self):
        return "Catalog(%r)" % self.path

    # ---- queries ----

    def _run_mql(self, query, fmt):
        p = subprocess.run([self.mql, self.path, query, "--format", fmt],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        err = p.stderr.decode("utf-8", "replace")
        if p.returncode == 1:
            raise QueryError(err.strip())
        if p.returncode != 0:
            raise RuntimeError("noodle-mql failed (exit %d): %s" % (p.returncode, err.strip()))
        return p.stdout.decode("utf-8"), err

    def query(self, mql):
        """Runs an MQL query; returns a pandas DataFrame with the query's columns
        (``created`` as a UTC timestamp; NULL as NaN/None).  Warnings of noodle-mql
        (a literal compared with a tag of the other type) become Python warnings."""
        import pandas as pd
        out, err = self._run_mql(mql, "json")
        if err.strip():
            import warnings
            for line in err.strip().splitlines():
                warnings.warn(line, stacklevel=2)
        rows = json.loads(out, parse_constant=lambda c: {"NaN": np.nan, "Infinity": np.inf,
                                                         "-Infinity": -np.inf}[c])
        if rows:
            df = pd.DataFrame.from_records(rows, columns=list(rows[0].keys()))
        else:
            header, _ = self._run_mql(mql, "csv")
            cols = next(iter(__import__("csv").reader([header.splitlines()[0]]))) if header.strip() else []
            df = pd.DataFrame(columns=cols)
        if "created" in df.columns and len(df):
            df["created"] = pd.to_datetime(df["created"], utc=True)
        return df

    def results(self, latest=False):
        """Every result's metadata (``SELECT * FROM results``, or ``latest``)."""
        return self.query("SELECT * FROM %s ORDER BY name, version" % ("latest" if latest else "results"))

    def runs(self, job=None):
        """The job reports (results named ``_run``), one row per run with its figures
        as columns, oldest first; ``job`` selects one job id."""
        import pandas as pd
        versions = self.versions("_run")
        rows = []
        for v in versions:
            try:
                r = self.load("_run", v)
                meta = self.info("_run", v)
            except (OSError, KeyError, ValueError) as e:  # a damaged report: skip it
                import warnings
                warnings.warn("_run@%d: %s" % (v, e), stacklevel=2)
                continue
            if job is not None and meta.get("job") != str(job):
                continue
            row = {"version": v, "job": meta.get("job"), "created": meta.get("created"),
                   "program": meta.get("program", ""), "ranks": meta.get("ranks")}
            for k, x in r.items():
                if np.ndim(x) == 0 and not isinstance(x, (dict, list)):
                    row[k] = x.item() if hasattr(x, "item") else x
            rows.append(row)
        df = pd.DataFrame(rows)
        if len(df):
            df["created"] = pd.to_datetime(df["created"], utc=True)
        return df

    # ---- files ----

    def _check_name(self, name):
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError("invalid result name %r" % (name,))

    def versions(self, name):
        """The committed versions of ``name``, ascending (an empty list if none)."""
        self._check_name(name)
        d = os.path.join(self.path, "results", name)
        try:
            files = os.listdir(d)
        except FileNotFoundError:
            return []
        return sorted(int(m.group(1)) for m in (re.match(r"^v([0-9]+)\.h5$", f) for f in files) if m)

    def file(self, name, version=None):
        """The path of a result's HDF5 file (newest version when ``version`` is None)."""
        vs = self.versions(name)
        if not vs:
            raise KeyError("no result named '%s' in %s" % (name, self.path))
        v = vs[-1] if version is None else int(version)
        if v not in vs:
            raise KeyError("no result %s@%d in %s" % (name, v, self.path))
        return os.path.join(self.path, "results", name, "v%d.h5" % v)

    def info(self, name, version=None):
        """The root attributes of a result (name, version, kind, job, created, tags as
        ``tag.KEY``, ...) as a dict of Python values."""
        with h5py.File(self.file(name, version), "r") as f:
            return {k: _py(v) for k, v in f.attrs.items()}

    def attrs(self, name, member="data", version=None):
        """The attributes of one dataset of a result (units, description, ...)."""
        with h5py.File(self.file(name, version), "r") as f:
            if member not in f:
                raise KeyError("result %s has no member '%s'" % (name, member))
            return {k: _py(v) for k, v in f[member].attrs.items()
                    if k not in ("DIMENSION_LIST", "REFERENCE_LIST", "CLASS", "NAME")}

    def load(self, name, version=None, xarray=False):
        """A result's value as ``load`` gives it in a program: a number, a str, a list
        or dict (JSON), a numpy array (of the array's shape), or for a map result a dict
        of its members in order.  ``xarray=True``: an array as an xarray.DataArray and a
        map result as an xarray.Dataset, with dimension names, coordinates and units
        (attributes) from the file."""
        path = self.file(name, version)
        with h5py.File(path, "r") as f:
            kind = _py(f.attrs.get("kind", ""))
            if kind == "map":
                if xarray:
                    return _open_xarray(path)
                return {m: _member(f[m]) for m in (_py(x) for x in f.attrs["members"])}
            if kind not in ("int", "float", "string", "json", "matrix"):
                raise ValueError("%s: unknown result kind %r" % (path, kind))
            value = _member(f["data"], kind == "json")
        if xarray and kind == "matrix":
            return _open_xarray(path)["data"]
        return value


def _py(v):
    """An attribute value as a plain Python value."""
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray):
        return [_py(x) for x in v.tolist()]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _member(d, is_json=None):
    if is_json is None:
        is_json = _py(d.attrs.get("noodle_kind", "")) == "json"
    if d.shape == ():
        v = d[()]
        if isinstance(v, bytes):
            v = v.decode("utf-8")
            return json.loads(v) if is_json else v
        return v.item()
    return d[()]


def _open_xarray(path):
    try:
        import xarray as xr
    except ImportError as e:
        raise ImportError("xarray=True needs xarray and h5netcdf "
                          "(Debian: python3-xarray python3-h5netcdf)") from e
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()
