"""Reproduce a study: every cell of experiments/<study>.toml, for each seed, into the run registry.

python -m pneumonia_tf.reproduce STUDY [--profile smoke|quick|paper] [--data PATH] [--seeds N] [--runs runs/]
    [--shard I/N | --shard auto [--shard-count N]] [--jobs N] [--plan]

Each cell writes runs/<study>/<profile>/<cell>/<seed>/ (a training run folder with record.json). A cell
with a record is finished and skipped, so a killed reproduction picks up where it stopped. Studies with
dcgan = true train one DCGAN per class and seed, on exactly the training split of that seed's cells,
and generate images into generated/<study>-<profile>/seed<S>/ before the cells of seed S that train on
them, and score them (runs/<study>/<profile>/dcgan/<S>/<CLASS>/quality.json).
Studies whose paper shows Grad-CAM or CAM ([explain]) get each run's maps and scores in <run>/cam/.

--shard I/N runs the I-th of N disjoint parts of the (seed, cell) list, so N processes or machines
sharing runs/ and generated/ reproduce a study together; rerun a killed shard to finish its cells.
--shard auto reads I and N from a Slurm job array or a Kubernetes Indexed Job (with --shard-count N).
Each seed's DCGAN of each class is trained once, by whichever process needs it first, under a lock: a
process finding one class locked trains the other, then waits.
--jobs N trains N cells at once on this machine, N processes with a share of the cores each, sharing
runs/ and generated/ as shards do and each taking the next cell no other has claimed; --jobs auto
measures N (pneumonia_tf.jobs).
--plan prints what would be trained, in order, with each job's images, epochs and estimated wall time on
this machine (pneumonia_tf.plan), and stops.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from pneumonia_tf import CLASSES, cli
from pneumonia_tf.cam.explain import explain
from pneumonia_tf.dcgan.run import has_images, quality_report, real_images, trained_gan, write_images, write_manifest
from pneumonia_tf.data import synthetic
from pneumonia_tf.data.cache import exclusive
from pneumonia_tf.distribute import STRATEGIES
from pneumonia_tf.errors import UserError
from pneumonia_tf.jobs import GAIN, auto_jobs, run_children
from pneumonia_tf.plan import NotCalibrated, Progress, estimate_if_calibrated, print_plan, study_plan
from pneumonia_tf.config import parse_assignment, resolve
from pneumonia_tf.experiments import (cell_config, cell_configs, dcgan_settings, dcgan_split_cell, default_jobs,
                                      experiment_path, explain_settings, generated_folder, load_experiment, studies,
                                      study_jobs, uses_generated)
from pneumonia_tf.records import atomic_write, read_json, write_json
from pneumonia_tf.study_runs import ESTIMATE, unfinished
from pneumonia_tf.train import train

log = logging.getLogger("pneumonia_tf.reproduce")  # not __name__: run by python -m, this module is "__main__"


def run_dcgans(experiment: dict, profile: str, config: dict, out: Path, runs: Path) -> Path:
    """Train (or reuse) one DCGAN per class for one seed and write its images to out/<CLASS>/; returns
    out. `config` is a resolved training config of the seed's cells: the DCGANs train with its seed, on
    exactly its training split (the same split_seed, so no validation or test patient is among their
    images), and each run lists those images in runs/<CLASS>/training_images.csv. Under a lock on
    out/<CLASS>, so concurrent shards and jobs train each DCGAN once (the lock dies with a killed
    holder): a class another process is training is left to it while this one trains the next, then
    waited for."""
    count = dcgan_settings(experiment, profile)["num_images"]

    def attempt(class_name: str, wait: bool) -> bool:
        """Train the class's DCGAN unless its images are written; False (nothing done) when another
        process holds its lock and wait is False."""
        with exclusive(out / class_name, wait=wait) as mine:
            if mine and not has_images(out / class_name, count):
                _run_dcgan(experiment, profile, config, out, runs, class_name)
            return mine
    for class_name in [name for name in CLASSES if not attempt(name, wait=False)]:
        attempt(class_name, wait=True)  # its holder trains it (or died: then it is trained here)
    return out


def _run_dcgan(experiment: dict, profile: str, config: dict, out: Path, runs: Path, class_name: str) -> None:
    settings = dcgan_settings(experiment, profile)
    size, count, seed = settings["image_size"], settings["num_images"], config["seed"]
    log.info(f"=== {experiment['study']} / {profile} / dcgan / seed {seed} / {class_name}")
    run_dir = runs / class_name
    rows = real_images(config, class_name)[:settings.get("max_real_images")]
    atomic_write(run_dir / "training_images.csv", rows.to_csv(index=False))
    gan = trained_gan(rows["path"].tolist(), run_dir, image_size=size, epochs=settings["epochs"],
                      batch_size=settings["batch_size"], seed=seed, jit_compile=False,
                      decoded_cache=config["decoded_cache"])
    written = write_images(gan.generate(count, seed=seed), out / class_name)
    write_manifest(out / class_name, class_name, written, run_dir, image_size=size, channels=1, seed=seed,
                   data=config["data"], split=split_seeds(config))


def split_seeds(config: dict) -> dict:
    return {key: config[key] for key in ("split_seed", "vary_split", "val_fraction")}


def dcgan_quality(experiment: dict, profile: str, config: dict, generated: Path, runs: Path,
                  feature_run: Path | None) -> dict[str, dict]:
    """{class: quality report} of each class's generated images (one seed's DCGANs) against the real
    training images they were trained on (diversity, two-sample accuracy, Fréchet distance), in the
    features of `feature_run` (a trained clean classifier of the study, same seed) when it is
    finished; written once to runs/<CLASS>/quality.json."""
    settings, reports = dcgan_settings(experiment, profile), {}
    size = settings["image_size"]
    for class_name in CLASSES:
        target = runs / class_name / "quality.json"
        if not target.exists() and (generated / class_name / "manifest.json").exists():
            paths = real_images(config, class_name)["path"].tolist()[:settings.get("max_real_images")]
            images = np.stack([np.asarray(Image.open(p)) for p in sorted((generated / class_name).glob("*.png"))[:1000]])
            fake = images[..., None].astype("float32") / 127.5 - 1.0
            finished = feature_run if feature_run and (feature_run / "record.json").exists() else None
            write_json(target, quality_report(paths, fake, size, finished, seed=config["seed"]))
        if target.exists():
            reports[class_name] = read_json(target)
    return reports


def shard_from_environment(environ, shard_count: int | None = None) -> tuple[int, int]:
    """(I, N) from the engine that started this process: a Slurm job array (SLURM_ARRAY_TASK_ID with
    SLURM_ARRAY_TASK_COUNT, or SLURM_ARRAY_TASK_MIN / _MAX; task ids MIN..MAX map to shards 1..N), or a
    Kubernetes Indexed Job (JOB_COMPLETION_INDEX, 0-based, with --shard-count N). Neither set: one line."""
    if "SLURM_ARRAY_TASK_ID" in environ:
        task, low = int(environ["SLURM_ARRAY_TASK_ID"]), int(environ.get("SLURM_ARRAY_TASK_MIN", 0))
        if "SLURM_ARRAY_TASK_COUNT" in environ:
            count = int(environ["SLURM_ARRAY_TASK_COUNT"])
        elif "SLURM_ARRAY_TASK_MAX" in environ:
            count = int(environ["SLURM_ARRAY_TASK_MAX"]) - low + 1
        else:
            raise UserError("--shard auto: SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor "
                            "SLURM_ARRAY_TASK_MAX is")
        return parse_shard(f"{task - low + 1}/{count}")
    if "JOB_COMPLETION_INDEX" in environ:
        if not shard_count:
            raise UserError("--shard auto: JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job); pass --shard-count N, "
                            "the Job's completions")
        return parse_shard(f"{int(environ['JOB_COMPLETION_INDEX']) + 1}/{shard_count}")
    raise UserError("--shard auto: neither SLURM_ARRAY_TASK_ID (a Slurm job array) nor JOB_COMPLETION_INDEX "
                    "(a Kubernetes Indexed Job) is set; pass --shard I/N")


def parse_shard(text: str) -> tuple[int, int]:
    """"I/N" -> (I, N) with 1 <= I <= N."""
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count)):
        raise UserError(f"--shard {text!r}: expected I/N with 1 <= I <= N, e.g. 1/2")
    return int(index), int(count)


def _study(study: str, profile: str, data: str | None, runs: Path, generated: Path | None):
    """(experiment, {cell: config}, data, the study's run folder, the DCGAN images' root)."""
    experiment = load_experiment(experiment_path(study))
    cells = cell_configs(experiment, profile, data)
    return (experiment, cells, next(iter(cells.values()))["data"], runs / experiment["study"] / profile,
            generated or generated_folder(experiment, profile))


def plan(study: str, profile: str = "smoke", data: str | None = None, seeds: int = 1, runs: Path = Path("runs"),
         generated: Path | None = None, shard: tuple[int, int] = (1, 1), overrides: dict | None = None):
    """What `reproduce` with these arguments would train, with estimated seconds (pneumonia_tf.plan)."""
    experiment, cells, data, study_runs, generated = _study(study, profile, data, runs, generated)
    return study_plan(experiment, profile, cells, study_jobs(cells, seeds, shard), data, study_runs, generated,
                      overrides or {})


def progress(experiment: dict, profile: str, cells: dict, jobs: list[tuple[int, str]], data: str, study_runs: Path,
             generated: Path, overrides: dict, paced: bool = True) -> Progress:
    """The progress line of reproducing `jobs`: paced on the plan where this machine is calibrated for
    every step it needs (nothing is timed here), else on the mean time per cell. paced=False (a child
    of --jobs, whose line only tells its parent that a cell ended): no plan is built."""
    table = None
    if paced:
        with contextlib.suppress(NotCalibrated):
            table = study_plan(experiment, profile, cells, jobs, data, study_runs, generated, overrides, timing=False)
    return Progress(f"{experiment['study']} / {profile}", len(unfinished(study_runs, jobs)), table, study_runs,
                    generated)


@contextlib.contextmanager
def cell_log(out: Path | None):
    """Python's stdout and stderr (Keras's progress, warnings) appended to out/log.txt while a cell runs
    (a child of --jobs); out None: unchanged. The package's log lines still reach the terminal."""
    if out is None:
        yield
        return
    out.mkdir(parents=True, exist_ok=True)
    with cli.log_stays_on_stderr(), open(out / "log.txt", "a") as log_file, \
            contextlib.redirect_stdout(log_file), contextlib.redirect_stderr(log_file):
        yield


def reproduce(study: str, profile: str = "smoke", data: str | None = None, seeds: int = 1,
              runs: Path = Path("runs"), generated: Path | None = None, verbose: int | str = "auto",
              shard: tuple[int, int] = (1, 1), overrides: dict | None = None,
              job: tuple[int, int] = (1, 1)) -> list[Path]:
    """Run every (seed, cell) of `study` in `shard` (I, N) that has no record yet; returns the record
    paths. Shard I of N takes items I-1, I-1+N, ... of the list by seed, then cell. Job (J, M), one of
    reproduce --jobs M's children, goes down the same list and trains each cell no other child has
    claimed (a lock per cell, dropped if its holder dies), so the M children share the work as it
    comes; its cells' output goes to log.txt in their run folders. `overrides` (training config keys,
    e.g. strategy or decoded_cache) apply to every cell; decoded_cache to the DCGANs too. After each cell
    trained, one line: cells done of those to train, elapsed, and the time to go (pneumonia_tf.plan.Progress;
    a child counts its own cells, and its parent prints the line of all of them)."""
    overrides = overrides or {}
    experiment, cells, data, study_runs, generated = _study(study, profile, data, runs, generated)
    jobs = study_jobs(cells, seeds, shard)
    child = job[1] > 1
    needs_dcgan = lambda cell: uses_generated(cells[cell])  # noqa: E731
    real_cell = dcgan_split_cell(cells)
    real_config = lambda seed: resolve({**cells[real_cell], **overrides, "seed": seed})  # noqa: E731
    study_progress = progress(experiment, profile, cells, jobs, data, study_runs, generated, overrides, paced=not child)
    trained = 0
    records = []
    with contextlib.ExitStack() as claims:  # a child's claims, held until it ends
        for seed, cell in jobs:
            # only children claim: the workers of a multi-worker strategy all run the same command, in step
            if child and not claims.enter_context(exclusive(study_runs / "jobs" / "claims" / f"{cell}-{seed}",
                                                            wait=False)):
                continue  # another child of this --jobs run trains it
            if needs_dcgan(cell):  # once per seed; later calls find it done
                with cell_log(study_runs / "dcgan" / str(seed) if child else None):
                    run_dcgans(experiment, profile, real_config(seed), generated / f"seed{seed}",
                               study_runs / "dcgan" / str(seed))
            config = {**cell_config(experiment, profile, cell, data, generated / f"seed{seed}"), **overrides, "seed": seed}
            out = study_runs / cell / str(seed)
            fresh = not (out / "record.json").exists()
            estimate = None
            if fresh:
                log.info(f"=== {experiment['study']} / {profile} / {cell} / seed {seed}")
                estimate = estimate_if_calibrated(experiment, profile, cell, seed, data, generated / f"seed{seed}",
                                                  overrides, study_runs)  # before the cell's own record exists
            with cell_log(out if child else None):
                record = train(config, out, verbose=2 if child else verbose)  # a child: one line per epoch
                if "explain" in experiment and "worker" not in record:  # the paper shows Grad-CAM or CAM
                    explain(out, **explain_settings(experiment, profile))
            if estimate is not None and "worker" not in record:  # only the chief writes the run folder
                write_json(out / ESTIMATE, {"estimate_s": estimate})  # the report sets it beside the wall time
            if fresh:
                trained += 1
                log.info(study_progress.line(trained))
            records.append(out / "record.json")
    if not child:  # a --jobs parent scores them once its children are done (pneumonia_tf.jobs)
        score_dcgans(experiment, profile, cells, jobs, overrides, generated, study_runs)
    if data.startswith("synthetic"):
        synthetic.announce()
    return records


def score_dcgans(experiment: dict, profile: str, cells: dict, jobs: list[tuple[int, str]], overrides: dict,
                 generated: Path, study_runs: Path) -> None:
    """The quality report (dcgan_quality) of each seed's DCGAN images among `jobs`, in the features of
    that seed's clean real cell: run after the cells, so that classifier is trained."""
    if not experiment.get("dcgan"):
        return
    real_cell = dcgan_split_cell(cells)
    for seed in sorted({seed for seed, cell in jobs if uses_generated(cells[cell])}):
        dcgan_quality(experiment, profile, resolve({**cells[real_cell], **overrides, "seed": seed}),
                      generated / f"seed{seed}", study_runs / "dcgan" / str(seed), study_runs / real_cell / str(seed))


@cli.entry_point
def main(argv) -> int:
    parser = cli.make_parser("python -m pneumonia_tf.reproduce", __doc__)
    parser.add_argument("study", help=f"a study in experiments/: {', '.join(studies())}")
    parser.add_argument("--profile", default="smoke", help="a profile of the study's file (smoke, quick, paper)")
    parser.add_argument("--data", help="data set (default: the profile's; smoke uses the synthetic phantom)")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--generated", type=Path, help="root of the DCGAN image folders, seed S in seed<S>/ "
                                                       "(default generated/<study>-<profile>)")
    parser.add_argument("--shard", default="1/1", help="I/N: run the I-th of N disjoint parts (default 1/1); auto: "
                                                        "from a Slurm job array or a Kubernetes Indexed Job")
    parser.add_argument("--shard-count", type=int, help="with --shard auto in a Kubernetes Indexed Job: N")
    parser.add_argument("--strategy", choices=STRATEGIES, help="train every cell with this tf.distribute strategy")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="a training config key for every cell (JSON values), e.g. decoded_cache=false")
    parser.add_argument("--jobs", help="N: train N cells at once on this machine, each in a process with its share "
                                        "of the cores; auto: the N measured fastest here for the study's main model "
                                        "(default: the profile's `jobs`, else 1). On a CPU a job's thread count "
                                        "changes the numbers: the same seed with other --jobs trains another model "
                                        "(records say which: cpu_threads)")
    parser.add_argument("--job", default="1/1", help=argparse.SUPPRESS)  # J/M: one child of --jobs M
    parser.add_argument("--plan", action="store_true", help="print what would be trained and an estimate of how long "
                                                             "it takes on this machine, then stop")
    args = parser.parse_args(argv)
    overrides = dict(parse_assignment(item) for item in args.set)
    if args.strategy:
        overrides["strategy"] = args.strategy
    common = dict(shard=shard_from_environment(os.environ, args.shard_count) if args.shard == "auto"
                  else parse_shard(args.shard), overrides=overrides)
    if args.jobs is None:
        args.jobs = default_jobs(load_experiment(experiment_path(args.study)), args.profile)
        if args.jobs != "1":
            log.info(f"--jobs {args.jobs}: the default of {args.study}'s {args.profile} profile (--jobs N to choose)")
    if not (args.jobs == "auto" or args.jobs.isdigit() and int(args.jobs) >= 1):
        raise UserError(f"--jobs {args.jobs}: expected a number of processes, 1 or more, or auto")
    jobs = int(args.jobs) if args.jobs != "auto" else None
    if jobs != 1 and args.strategy == "multiworker":
        raise UserError(f"--jobs {args.jobs} with --strategy multiworker: every worker runs this command and would "
                        f"start its own jobs; use one or the other")
    if args.plan or jobs is None:
        table = plan(args.study, args.profile, args.data, args.seeds, args.runs, args.generated, **common)
        jobs, speedup = jobs_for(table, args.study, args.profile, args.data, overrides, jobs)
    if args.plan:
        print_plan(table, args.study, args.profile)
        if jobs > 1 and not table.empty:
            print(f"with --jobs {jobs}: " + (f"about {table['estimate_s'].sum() / speedup / 60:.0f} min ({jobs} cells at "
                                              f"once, {speedup:.2f}x the images/s of one, as measured)" if speedup else
                                              f"{jobs} cells at once; the gain was not measured (no cell to time, or "
                                              f"more jobs than this machine's cores)"))
        return 0
    if jobs > 1:
        experiment, cells, data, study_runs, generated = _study(args.study, args.profile, args.data, args.runs,
                                                                args.generated)
        pairs = study_jobs(cells, args.seeds, common["shard"])
        code = run_children([*without_option(argv, "--jobs"), "--jobs", "1"], jobs, study_runs / "jobs",
                            progress(experiment, args.profile, cells, pairs, data, study_runs, generated, overrides))
        if code == 0:
            score_dcgans(experiment, args.profile, cells, pairs, overrides, generated, study_runs)
        return code
    reproduce(args.study, args.profile, args.data, args.seeds, args.runs, args.generated, **common,
              job=parse_shard(args.job))
    return 0


def jobs_for(table, study: str, profile: str, data: str | None, overrides: dict,
             jobs: int | None) -> tuple[int, float | None]:
    """(N, the images/s of N jobs over one job's, None where nothing was measured) for a plan `table`:
    N = `jobs`, or with None the measured choice of pneumonia_tf.jobs.auto_jobs. Both are measured on
    the study's main model: the (model, size, batch) of the cells with the most estimated seconds, at
    its largest training set. Nothing is measured for one job, or without a cell to train."""
    cells = table[table["model"] != "dcgan"] if not table.empty else table
    if cells.empty or jobs == 1:
        return jobs or 1, None
    groups = cells.groupby(["model", "image_size", "batch_size"])["estimate_s"].sum()
    main_rows = cells.set_index(["model", "image_size", "batch_size"]).loc[[groups.idxmax()]]
    row = main_rows.sort_values("train_images").iloc[-1]
    experiment = load_experiment(experiment_path(study))
    config = resolve({**cell_config(experiment, profile, row["job"], data, None), **overrides, "seed": int(row["seed"])})
    chosen, rates = auto_jobs(config, int(row["train_images"]))
    jobs = jobs or chosen
    measured = ", ".join(f"{n} job(s) {rate['images_per_s']:.0f}" for n, rate in sorted(rates.items()))
    log.info(f"--jobs {jobs}: measured on {config['model']} at {config['image_size']} px, batch {config['batch_size']} "
             f"(images/s together: {measured}; auto takes more jobs only for {GAIN:.2f}x, within the memory)")
    return jobs, rates[jobs]["images_per_s"] / rates[1]["images_per_s"] if jobs in rates else None


def without_option(argv: list[str], name: str) -> list[str]:
    """argv without `name VALUE` or `name=VALUE`."""
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == name:
            skip = True
        elif not item.startswith(name + "="):
            out.append(item)
    return out


if __name__ == "__main__":
    sys.exit(main())
