"""Readable tables rendered from the long-form results table (pneumonia_tf.results.long_table) and
the claims table (pneumonia_tf.claims.evaluate_claims): the Markdown of table.md and the HTML of the
report show the same rows, formatted once here.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from pneumonia_tf.models.cnn import TABLE1


def table1_architecture(row: str) -> dict:
    """Seed 004's descriptive columns for one Table-1 model."""
    spec = TABLE1[row]
    return {"cell": row, "conv layers": ", ".join("-".join(map(str, block)) for block in spec["blocks"]),
            "conv dropout": spec["conv_dropout"] or "-", "dense layers": spec["dense"],
            "dense dropout": spec["dense_dropout"] or "-", "batch normalization": "yes" if spec["batch_norm"] else "no",
            "regularizers": f"L1 {spec['l1']}, L2 {spec['l2']}" if spec["l1"] or spec["l2"] else "-"}


def _number(value, digits: int = 3, sign: bool = False) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def display_table(table: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The readable form of one kind of row (cell, baseline, optimism gap) for Markdown and HTML."""
    chosen = table[table["kind"] == kind]
    if kind == "cell":
        return pd.DataFrame({
            "cell": chosen["cell"], "metric": chosen["column"], "paper": chosen["paper"].map(lambda v: "" if pd.isna(v) else f"{v:g}"),
            "reproduced": [f"{_number(m)} ± {_number(s)}" if pd.notna(s) else _number(m)
                           for m, s in zip(chosen["mean"], chosen["sd"])],
            "95% interval": [f"{_number(lo)}-{_number(hi)}" if pd.notna(lo) else "" for lo, hi in
                             zip(chosen["low"], chosen["high"])],
            "n seeds": chosen["n"].map(lambda n: "" if pd.isna(n) else str(int(n))),
            "diff": chosen["diff"].map(lambda d: _number(d, sign=True)),
            "verdict": [f"{v}: {b}" if isinstance(b, str) and b else str(v) for v, b in
                        zip(chosen["verdict"], chosen["budget"])],
            "flags": chosen["flags"].fillna("")})
    if kind == "baseline":
        return pd.DataFrame({"baseline": chosen["cell"], "metric": chosen["metric"], "value": chosen["mean"].map(_number),
                             "95% range": [f"{_number(lo)}-{_number(hi)}" if pd.notna(lo) else "" for lo, hi in
                                           zip(chosen["low"], chosen["high"])], "note": chosen["flags"].fillna("")})
    return pd.DataFrame({"protocol cell - clean cell": chosen["cell"], "metric": chosen["metric"],
                         "optimism gap": chosen["mean"].map(lambda d: _number(d, sign=True)),
                         "95% interval": [f"{_number(lo, sign=True)} to {_number(hi, sign=True)}"
                                          for lo, hi in zip(chosen["low"], chosen["high"])],
                         "p": chosen["p"].map(lambda p: f"{p:.3g}"), "n seeds": chosen["n"].astype(int)})


def display_claims(claims: pd.DataFrame) -> pd.DataFrame:
    """The readable claims table."""
    return pd.DataFrame({
        "claim": claims["claim"], "source": claims["source"], "statement": claims["statement"],
        "effect": claims["effect"].map(lambda d: _number(d, sign=True)),
        "95% interval": [f"{_number(lo, sign=True)} to {_number(hi, sign=True)}" if pd.notna(lo) else ""
                         for lo, hi in zip(claims["low"], claims["high"])],
        "p": claims["p"].map(lambda p: "" if pd.isna(p) else f"{p:.3g}"),
        "p (Holm)": claims["p_holm"].map(lambda p: "" if pd.isna(p) else f"{p:.3g}"),
        "verdict": [f"{v}: {b}" if isinstance(b, str) and b else str(v) for v, b in
                    zip(claims["verdict"], claims["budget"])],
        "DeLong p": claims["delong_p"].fillna(""), "McNemar p": claims["mcnemar_p"].fillna("")})


def external_table(cells: dict) -> pd.DataFrame:
    """One row per external evaluation of a study's runs: cell, seed, data, images, ROC AUC internal and
    external with DeLong's unpaired test, accuracy and F1 at 0.5."""
    rows = []
    for name, cell in cells.items():
        for ext in cell.externals():
            c = ext["internal_vs_external_roc_auc"]
            rows.append({"cell": name, "seed": ext["seed"], "external data": ext["data"], "split": ext["split"],
                         "images": ext["images"], "ROC AUC internal": _number(c["auc_a"]),
                         "ROC AUC external": _number(c["auc_b"]), "difference": _number(c["diff"], sign=True),
                         "DeLong p (unpaired)": f"{c['p']:.3g}", "accuracy": _number(ext["at_0.5"]["accuracy"]),
                         "F1": _number(ext["at_0.5"]["f1"])})
    return pd.DataFrame(rows)


INTERVAL_NOTE = ("Intervals: test metrics, the two-level bootstrap over seeds and test images (the mean over seeds "
                 "of each resample); training-curve endpoints, Student's t over seeds (a verdict from 3 seeds). "
                 "Verdicts against the tolerance declared in [verdict] before the runs: reproduced (the interval "
                 "of reproduced - paper, widened by the paper's rounding, lies within the tolerance), higher / "
                 "lower (the paper's value lies below / above it), inconclusive, degenerate (a seed puts >= 95% "
                 "of the test images into one class or its ROC AUC interval contains 0.5).")


# The study-level tables beside the numbers and claims: key -> (heading, what a reader needs to know)
SECTIONS = {
    "external": ("External validation (python -m pneumonia_tf.evaluate --run RUN --data OTHER)",
                 "Internal against external test ROC AUC, with DeLong's test in its unpaired form (two independent "
                 "image sets)."),
    "scorecard": ("Trust scorecard of the maps (python -m pneumonia_tf.cam score)",
                  "Per cell and map, on PNEUMONIA test images: localization against the known regions, cascading "
                  "model randomization (after the last step), ROAD, border mass, repeatability across seeds; the "
                  "random and centred-Gaussian maps are the baselines. What a good value is: the next table."),
    "good": ("What a good value is", ""),
    "agreement": ("Agreement across architectures", "Mean SSIM of two cells' maps of the same test images."),
}


def markdown(experiment: dict, heading: str, table: pd.DataFrame, claims: pd.DataFrame, lines: list[str],
             sections: dict[str, pd.DataFrame]) -> str:
    """table.md: the verdicts, the architectures (seed 004), the baselines, the optimism gaps, the claims,
    then each non-empty table of `sections` (SECTIONS: external evaluations, the maps' scorecard)."""
    parts = [f"# {heading}\n", INTERVAL_NOTE + "\n", display_table(table, "cell").to_markdown(index=False, disable_numparse=True) + "\n"]
    if experiment["table"].get("describe") == "table1_architecture":
        architecture = pd.DataFrame([table1_architecture(row) for row in experiment["table"]["rows"]])
        parts += ["## Architectures (seed 004, Table 1)\n", architecture.to_markdown(index=False, disable_numparse=True) + "\n"]
    for kind, heading_text in (("baseline", "Trivial classifiers on the same test split"),
                               ("optimism gap", "Optimism gap: the paper's protocol minus the clean cell")):
        if (table["kind"] == kind).any():
            parts += [f"## {heading_text}\n", display_table(table, kind).to_markdown(index=False, disable_numparse=True) + "\n"]
    if len(claims):
        parts += ["## The paper's claims (Holm-adjusted across the study)\n",
                  display_claims(claims).to_markdown(index=False, disable_numparse=True) + "\n"]
    for key, frame in sections.items():
        if len(frame):
            title, note = SECTIONS[key]
            parts += [f"## {title}\n", *([note + "\n"] if note else []),
                      frame.round(3).to_markdown(index=False, disable_numparse=True) + "\n"]
    return "\n".join(parts) + ("\n" + "".join(f"- {line}\n" for line in lines) if lines else "")
