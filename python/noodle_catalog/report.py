"""noodle-report: the job reports (`_run` results) of a Noodle catalog, printed and plotted.

usage: noodle-report CATALOG [JOB] [-o FILE.png|FILE.svg|FILE.pdf]

Without JOB: every run in the catalog; with JOB: the runs of that job (one per start:
the first run and each restart) and the other runs of its sweep (the same Slurm job
array, else the same program).  The plot (matplotlib) has a timeline of the runs with
their checkpoints and phases, and a comparison of the runs' times.  Exit status: 0 ok,
1 no job report found, 2 usage error or no catalog.
"""

import argparse
import os
import sys

from . import open_catalog

PHASES = [("linear_algebra", "linear algebra"), ("communication", "communication"),
          ("io", "I/O")]
COLUMNS = ["version", "job", "program", "status", "ranks", "wall", "vm", "linear_algebra",
           "communication", "io", "gflops", "memory_mib", "checkpoints", "restarts"]


def _label(row):
    task = row.get("array_task")
    job = str(row["job"])
    return "%s:%s" % (job, task) if task else job


def _table(df):
    cols = [c for c in COLUMNS if c in df.columns]
    out = df[cols].copy()
    for c in ("wall", "vm", "linear_algebra", "communication", "io", "gflops", "memory_mib"):
        if c in out.columns:
            out[c] = out[c].map(lambda x: "%.3f" % x)
    return out.to_string(index=False)


def _runs_with_tags(cat, job=None):
    """runs() plus the array tags, which the report stores as tags only."""
    df = cat.runs(job)
    if not len(df):
        return df
    info = {v: cat.info("_run", v) for v in df["version"]}
    df["array_job"] = [info[v].get("tag.array_job") for v in df["version"]]
    df["array_task"] = [info[v].get("tag.array_task") for v in df["version"]]
    df["hash"] = [info[v].get("program_hash") for v in df["version"]]
    return df


COLORS = {"wall": "lightgray", "vm": "tab:green", "linear_algebra": "tab:blue",
          "communication": "tab:purple", "io": "tab:brown"}


def _plot(cat, runs, sweep, title, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 3 + 0.6 * len(runs) + 3.5))
    # Timeline: each run from its start, its checkpoints as red spans on it; below it
    # the time each phase took (phases nest, e.g. communication inside linear algebra,
    # so they are drawn side by side, not stacked).
    for y, r in enumerate(runs.itertuples()):
        ax1.barh(y, r.wall, height=0.45, color=COLORS["wall"], edgecolor="black",
                 label="wall" if y == 0 else None)
        for k, (key, name) in enumerate([("vm", "VM")] + PHASES):
            ax1.barh(y + 0.3 + 0.1 * k, getattr(r, key), height=0.09, color=COLORS[key],
                     label=name if y == 0 else None)
        d = cat.load("_run", r.version)
        starts, durs = d.get("checkpoint_start", []), d.get("checkpoint_duration", [])
        for i, (s, w) in enumerate(zip(starts, durs)):
            ax1.barh(y, max(w, r.wall * 0.004), left=s, height=0.45, color="tab:red",
                     label="checkpoint" if y == 0 and i == 0 else None)
    ax1.set_yticks(range(len(runs)))
    ax1.set_yticklabels(["v%d %s, %s" % (r.version, r.status, "restart %d" % r.restarts
                                          if r.restarts else "first run") for r in runs.itertuples()])
    ax1.invert_yaxis()
    ax1.set_xlabel("seconds since the run began")
    ax1.set_title(title)
    ax1.legend(loc="lower right", fontsize="small")
    # Comparison: every run of the sweep, its wall time and phases side by side.
    keys = [("wall", "wall"), ("vm", "VM")] + PHASES
    width = 0.8 / len(keys)
    for k, (key, name) in enumerate(keys):
        ax2.bar([i + (k - len(keys) / 2 + 0.5) * width for i in range(len(sweep))], list(sweep[key]),
                width=width, color=COLORS[key], edgecolor="black" if key == "wall" else None, label=name)
    ax2.set_xticks(list(range(len(sweep))))
    ax2.set_xticklabels([_label(r) for _, r in sweep.iterrows()], rotation=30, ha="right",
                        fontsize="small")
    ax2.set_ylabel("seconds (max over ranks)")
    ax2.set_title("runs compared (%d)" % len(sweep))
    ax2.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(prog="noodle-report", description=__doc__.split("\n\n")[0])
    p.add_argument("catalog")
    p.add_argument("job", nargs="?")
    p.add_argument("-o", "--output", help="the plot: .png, .svg or .pdf "
                   "(default noodle-report-JOB.png, or noodle-report.png)")
    p.add_argument("--no-plot", action="store_true", help="print only")
    a = p.parse_args(argv)
    out = a.output or ("noodle-report-%s.png" % a.job if a.job else "noodle-report.png")
    if os.path.splitext(out)[1].lower() not in (".png", ".svg", ".pdf"):
        p.error("the plot must end in .png, .svg or .pdf: %s" % out)
    try:
        cat = open_catalog(a.catalog)
    except FileNotFoundError as e:
        print("noodle-report: %s" % e, file=sys.stderr)
        return 2
    every = _runs_with_tags(cat)
    if not len(every):
        print("noodle-report: no job report (_run) in %s" % a.catalog, file=sys.stderr)
        return 1
    if a.job:
        runs = every[every["job"] == a.job]
        if not len(runs):
            print("noodle-report: no job report for job %s in %s" % (a.job, a.catalog), file=sys.stderr)
            return 1
        arr = runs["array_job"].iloc[-1]
        if arr:
            sweep = every[every["array_job"] == arr]
        else:
            sweep = every[every["hash"] == runs["hash"].iloc[-1]]
        title = "job %s: %s" % (a.job, runs["program"].iloc[-1])
    else:
        runs = sweep = every
        title = "every run in %s" % a.catalog
    print("%s\n\n%s" % (title, _table(runs)))
    if len(sweep) > len(runs):
        print("\nits sweep (%d runs):\n%s" % (len(sweep), _table(sweep)))
    if not a.no_plot:
        _plot(cat, runs, sweep, title, out)
        print("\nplot: %s" % out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
