"""Patient ids from Kermany file names, so that splits never put one patient on two sides.

Kermany numbers bacterial and viral pneumonia patients separately: ``person1_bacteria_1`` and
``person1_virus_6`` are two people. Evidence in the released set: 170 person numbers occur in both
the official train and test splits, but never with the same kind; 808 of 1,635 train numbers occur
with both kinds. So the patient key of a PNEUMONIA image is ``person<N>_<kind>``.
"""
from __future__ import annotations

import re
from pathlib import Path

_PATTERNS = (
    re.compile(r"^(person\d+_(?:bacteria|virus))_", re.IGNORECASE),  # person123_bacteria_456
    re.compile(r"^((?:NORMAL\d+-)?IM-\d+)-", re.IGNORECASE),          # IM-0115-0001, NORMAL2-IM-0427-0001
    re.compile(r"^(SYN-\d+)-"),                                        # the synthetic phantom
)


def patient_id(path: str | Path) -> str:
    """File name -> patient id; names with no known pattern are their own patient (the stem)."""
    stem = Path(path).stem
    for pattern in _PATTERNS:
        match = pattern.match(stem)
        if match:
            return match.group(1)
    return stem
