"""Experiments are data: experiments/*.toml, read here and only here. load_experiment checks a whole
file (every table and nested table, against what it configures) before any data is read.

A study file (one with [cells]) holds: study, title, [train] (the paper's settings, keys as in
pneumonia_tf.config.DEFAULTS), [profiles.P] (train / dcgan_config overrides and a [ledger] of the
scale reductions they make), [cells], [table], [paper] (every number the paper reports), [counts]
(the image counts it states) and [ledger]: for each setting, what the paper states and where, or that
it is not stated and why our value was chosen, or why we depart from it.
"""
from __future__ import annotations

import tomllib
from pathlib import Path

from pneumonia_tf.config import check_keys, check_train_config
from pneumonia_tf.errors import UserError
from pneumonia_tf.tune_spaces import SPACES

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
TOP_LEVEL = {"study", "title", "seed_paper", "dcgan", "train", "dcgan_config", "profiles", "cells", "table", "paper",
             "counts", "ledger", "tune", "explain", "verdict", "claims"}
EXPLAIN_KEYS = {"method", "methods", "n_grid", "n_score"}  # pneumonia_tf.cam.explain.explain
PROFILE_KEYS = {"data", "train", "dcgan_config", "explain", "ledger", "jobs"}
DCGAN_KEYS = {"image_size", "epochs", "num_images", "batch_size", "max_real_images"}
TABLE_KEYS = {"rows", "columns", "describe", "averaging", "note"}
COLUMN_KEYS = {"name", "cell", "metric"}
AVERAGINGS = ("binary", "macro", "weighted")
TUNE_KEYS = {"family", "tuner", "max_trials", "data", "image_size", "epochs", "seed", "weights", "strategy", "space",
             "objective", "train"}
LEDGER_ENTRY = {"status", "source", "paper", "why"}
VERDICT_KEYS = {"tolerance", "rounding"}
METRIC_FAMILIES = ("accuracy", "precision", "recall", "specificity", "f1", "roc_auc", "pr_auc", "loss")
CLAIM_KEYS = {"claim", "source", "kind", "metric", "metric_b", "cells", "pairs", "margin", "value"}
# kind: the keys it needs (besides claim, source, kind, metric)
CLAIM_KINDS = {"better": {"cells"}, "best": {"cells"}, "ordering": {"cells"}, "each_better": {"pairs"},
               "not_worse": {"pairs", "margin"}, "higher_than": {"cells", "value"}}
SPLIT_SUFFIXES = ("@val", "@test")  # "cell@val": a cell's predictions on its validation images
STATUSES = ("stated", "not stated", "departure")
# Settings every study's ledger accounts for (the config keys among them are also checked against the
# resolved config by tests/test_fidelity.py).
REQUIRED_TOPICS = ("data", "split", "image_size", "channels", "normalization", "augmentation", "model", "optimizer",
                   "learning_rate", "lr_step", "batch_size", "epochs", "early_stopping_patience", "monitor",
                   "class_weight", "loss", "metrics")


def load_experiment(path: str | Path) -> dict:
    """The checked contents of an experiments/*.toml file; any problem is a one-line UserError that
    names the file, the table and the key."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            experiment = tomllib.load(handle)
    except FileNotFoundError:
        raise UserError(f"{path}: no such experiment file (studies: {', '.join(studies())})") from None
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{path}: not valid TOML ({error})") from None
    check_experiment(experiment, str(path))
    return experiment


def check_experiment(experiment: dict, name: str) -> None:
    check_keys(experiment, TOP_LEVEL, name)
    check_train_config(experiment.get("train", {}), f"{name}: [train]")
    check_keys(experiment.get("dcgan_config", {}), DCGAN_KEYS, f"{name}: [dcgan_config]")
    check_keys(experiment.get("tune", {}), TUNE_KEYS, f"{name}: [tune]")
    check_train_config(experiment.get("tune", {}).get("train", {}), f"{name}: [tune].train")
    if "space" in experiment.get("tune", {}):
        family = experiment["tune"].get("family", "cnn")
        check_keys({family: 0}, SPACES, f"{name}: [tune].family")
        check_keys(experiment["tune"]["space"], SPACES[family], f"{name}: [tune].space")
    check_keys(experiment.get("explain", {}), EXPLAIN_KEYS, f"{name}: [explain]")
    for profile, table in experiment.get("profiles", {}).items():
        where = f"{name}: [profiles.{profile}]"
        check_keys(table, PROFILE_KEYS, where)
        check_train_config(table.get("train", {}), f"{where}.train")
        check_keys(table.get("dcgan_config", {}), DCGAN_KEYS, f"{where}.dcgan_config")
        check_keys(table.get("explain", {}), EXPLAIN_KEYS, f"{where}.explain")
        jobs = table.get("jobs", 1)
        if not (jobs == "auto" or isinstance(jobs, int) and not isinstance(jobs, bool) and jobs >= 1):
            raise UserError(f"{where}.jobs: {jobs!r}; expected a number of processes, 1 or more, or \"auto\"")
        for key, why in table.get("ledger", {}).items():
            if not isinstance(why, str):
                raise UserError(f"{where}.ledger.{key}: expected a string saying what was reduced and why")
    for cell, overrides in experiment.get("cells", {}).items():
        check_train_config(overrides, f"{name}: [cells].{cell}")
    if "cells" in experiment:
        spec = experiment.get("table", {})
        check_keys(spec, TABLE_KEYS, f"{name}: [table]")
        if spec.get("averaging", "binary") not in AVERAGINGS:
            raise UserError(f"{name}: [table].averaging {spec['averaging']!r}; expected one of {', '.join(AVERAGINGS)}")
        for column in spec.get("columns", []):
            check_keys(column, COLUMN_KEYS, f"{name}: [table].columns")
    check_verdict(experiment.get("verdict", {}), f"{name}: [verdict]")
    check_protocol(experiment, name)
    for claim_id, claim in experiment.get("claims", {}).items():
        check_claim(experiment, claim_id, claim, f"{name}: [claims.{claim_id}]")
    for key, entry in experiment.get("ledger", {}).items():
        where = f"{name}: [ledger].{key}"
        check_keys(entry, LEDGER_ENTRY, where)
        status = entry.get("status")
        if status not in STATUSES:
            raise UserError(f"{where}: status {status!r}; expected one of {', '.join(map(repr, STATUSES))}")
        needs = {"stated": ("source", "paper"), "not stated": ("why",), "departure": ("source", "paper", "why")}[status]
        for field in needs:
            if not entry.get(field):
                raise UserError(f"{where}: a {status!r} entry needs {field!r}")


def check_verdict(table: dict, where: str) -> None:
    """[verdict]: tolerance = {metric family: absolute tolerance}, rounding = half a unit of the
    paper's last printed digit."""
    check_keys(table, VERDICT_KEYS, where)
    check_keys(table.get("tolerance", {}), METRIC_FAMILIES, f"{where}.tolerance")
    for key, value in [*table.get("tolerance", {}).items(), ("rounding", table.get("rounding", 0))]:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise UserError(f"{where}: {key} = {value!r}; expected a number >= 0")


def cell_of(reference: str) -> tuple[str, str]:
    """"cell" or "cell@val" / "cell@test" -> (cell, split)."""
    for suffix in SPLIT_SUFFIXES:
        if reference.endswith(suffix):
            return reference.removesuffix(suffix), suffix[1:]
    return reference, "test"


def check_claim(experiment: dict, claim_id: str, claim: dict, where: str) -> None:
    """A claim names its kind's cells or pairs, existing clean cells, a metric, and a source line."""
    from pneumonia_tf.metrics import metric_names
    check_keys(claim, CLAIM_KEYS, where)
    kind = claim.get("kind")
    if kind not in CLAIM_KINDS:
        raise UserError(f"{where}: kind {kind!r}; expected one of {', '.join(CLAIM_KINDS)}")
    for field in ("claim", "source", "metric", *CLAIM_KINDS[kind]):
        if claim.get(field) in (None, "", []):
            raise UserError(f"{where}: a {kind!r} claim needs {field!r}")
    for field in ("metric", "metric_b"):
        if field in claim and claim[field] not in metric_names():
            raise UserError(f"{where}: {field} {claim[field]!r}; expected one of {', '.join(metric_names())}")
    references = list(claim.get("cells", [])) + [c for pair in claim.get("pairs", []) for c in pair]
    if any(len(pair) != 2 for pair in claim.get("pairs", [])):
        raise UserError(f"{where}: pairs must be [A, B] lists")
    if kind in ("better", "best", "ordering") and len(claim["cells"]) < 2:
        raise UserError(f"{where}: a {kind!r} claim compares at least two cells")
    cells = experiment.get("cells", {})
    for reference in references:
        cell, _ = cell_of(reference)
        if cell not in cells:
            raise UserError(f"{where}: unknown cell {cell!r}; expected one of {', '.join(cells)}")
        if test_selected(cells[cell]):
            raise UserError(f"{where}: cell {cell!r} is selected on the test split (the paper's protocol); "
                            "claims are tested on clean cells only, and no other cell may use a protocol cell")


def protocol_twins(experiment: dict) -> dict[str, str]:
    """{protocol cell: its clean twin}: each cell with select_on = "test" and the one cell whose
    config is the same but for select_on (the optimism gap is their difference)."""
    cells = experiment.get("cells", {})
    twins = {}
    for cell, overrides in cells.items():
        if test_selected(overrides):
            clean = {k: v for k, v in overrides.items() if k != "select_on"}
            twins[cell] = next((other for other, o in cells.items() if o == clean), None)
    return twins


def check_protocol(experiment: dict, name: str) -> None:
    """Every protocol cell has a clean twin (claims may not name a protocol cell: check_claim)."""
    for cell, twin in protocol_twins(experiment).items():
        if twin is None:
            raise UserError(f"{name}: [cells].{cell} is selected on the test split but no clean cell has its config "
                            "without select_on; add one (the optimism gap is their difference)")


def experiment_path(study: str | Path) -> Path:
    """A study name (table1, transfer, seed000, ...) or a path -> the experiment file."""
    path = Path(study)
    return path if path.suffix == ".toml" else EXPERIMENTS / f"{study}.toml"


def studies() -> list[str]:
    """The studies `reproduce` and `results` know: every experiments/*.toml file with [cells]."""
    found = []
    for path in sorted(EXPERIMENTS.glob("*.toml")):
        with open(path, "rb") as handle:
            if "cells" in tomllib.load(handle):
                found.append(path.stem)
    return found


def profiles(experiment: dict) -> list[str]:
    return list(experiment.get("profiles", {}))


def default_jobs(experiment: dict, profile: str) -> str:
    """reproduce's --jobs when none is given: the profile's `jobs` ("auto" or N), else "1"."""
    return str(experiment.get("profiles", {}).get(profile, {}).get("jobs", 1))


def deep_merge(base: dict, override: dict) -> dict:
    """base updated by override; nested dicts merged key by key."""
    out = dict(base)
    for key, value in override.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def cell_configs(experiment: dict, profile: str, data: str | None = None) -> dict[str, dict]:
    """{cell: training config} for a profile: [train], then the profile's train, then the cell's own."""
    if profile not in experiment.get("profiles", {}):
        raise UserError(f"study {experiment.get('study')!r}: unknown profile {profile!r}; "
                        f"expected one of {', '.join(profiles(experiment))}")
    chosen = experiment["profiles"][profile]
    base = deep_merge(experiment.get("train", {}), chosen.get("train", {}))
    base["data"] = data or chosen.get("data", "synthetic")
    return {cell: deep_merge(base, overrides) for cell, overrides in experiment["cells"].items()}


def generated_folder(experiment: dict, profile: str) -> Path:
    """Where a study's DCGAN images go by default: generated/<study>-<profile> (seed S's in seed<S>/)."""
    return Path("generated") / f"{experiment['study']}-{profile}"


def cell_config(experiment: dict, profile: str, cell: str, data: str | None = None,
                generated: Path | None = None, seed: int = 0) -> dict:
    """The training config of one cell, as `reproduce` trains it for `seed` ("{generated}" expanded
    to `generated`, by default the seed's DCGAN images generated/<study>-<profile>/seed<seed>)."""
    cells = cell_configs(experiment, profile, data)
    if cell not in cells:
        raise UserError(f"study {experiment.get('study')!r}: unknown cell {cell!r}; expected one of {', '.join(cells)}")
    return with_generated(cells[cell], generated or generated_folder(experiment, profile) / f"seed{seed}")


def explain_settings(experiment: dict, profile: str) -> dict:
    """[explain] with the profile's overrides (e.g. fewer images scored in the smoke profile)."""
    return {**experiment.get("explain", {}), **experiment["profiles"][profile].get("explain", {})}


def dcgan_settings(experiment: dict, profile: str) -> dict:
    """[dcgan_config] with the profile's overrides."""
    return {**experiment.get("dcgan_config", {}), **experiment["profiles"][profile].get("dcgan_config", {})}


def with_generated(config: dict, generated: Path) -> dict:
    """`config` with "{generated}" in train_data / extra_train replaced by the DCGAN image folder."""
    expand = lambda sources: [str(generated) if s == "{generated}" else s for s in sources]  # noqa: E731
    return {**config, **{key: expand(config[key]) for key in ("train_data", "extra_train") if key in config}}


def study_jobs(cells: dict[str, dict], seeds: int, shard: tuple[int, int] = (1, 1)) -> list[tuple[int, str]]:
    """The (seed, cell) pairs of shard (I, N) in the order reproduce runs them: shard I of N takes items
    I-1, I-1+N, ... of the list by seed, then cell; then the cells on real data come first."""
    index, count = shard
    pairs = [(seed, cell) for seed in range(seeds) for cell in cells][index - 1::count]
    return sorted(pairs, key=lambda pair: uses_generated(cells[pair[1]]))


def dcgan_split_cell(cells: dict[str, dict]) -> str | None:
    """The clean cell on real images whose split (and, once trained, features) a seed's DCGANs use."""
    return next((cell for cell in cells if not uses_generated(cells[cell]) and not test_selected(cells[cell])), None)


def test_selected(config: dict) -> bool:
    """A cell of the paper's flawed protocol: its checkpoint and early stop are chosen on the test split."""
    return config.get("select_on") == "test"


def uses_generated(config: dict) -> bool:
    return "{generated}" in [*config.get("train_data", []), *config.get("extra_train", [])]


def departures(experiment: dict, profile: str) -> list[str]:
    """Lines a reader needs under the study's table: each departure from the paper (with its reason)
    and each scale reduction of `profile`."""
    lines = [f"departure, {key}: {entry['why']} (paper, {entry['source']}: {entry['paper']})"
             for key, entry in experiment.get("ledger", {}).items() if entry["status"] == "departure"]
    reduced = experiment.get("profiles", {}).get(profile, {}).get("ledger", {})
    return lines + [f"scaled in profile {profile}, {key}: {why}" for key, why in reduced.items()]
