"""tf.distribute strategies by name, for training and tuning, and each worker's role.

MultiWorkerMirroredStrategy must exist before any other TensorFlow work in the process (else
"Collective ops must be configured at program startup"), and only once: get_strategy makes each
strategy once per process, and train() asks for it before it reads any data.
"""
from __future__ import annotations

import contextlib
import functools
from pathlib import Path

import tensorflow as tf

from pneumonia_tf.errors import UserError

STRATEGIES = ("default", "mirrored", "multiworker")


@functools.cache
def get_strategy(name: str = "default") -> tf.distribute.Strategy:
    """default: one device; mirrored: every local device (GPUs, or logical CPUs); multiworker:
    MultiWorkerMirroredStrategy, which reads the cluster from the TF_CONFIG environment variable."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise UserError(f"unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}")


def worker(strategy: tf.distribute.Strategy) -> tuple[str, int] | None:
    """(task type, index) of this process in a multi-worker cluster, or None when there is no cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return None
    return resolver.task_type, int(resolver.task_id or 0)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True for the process that writes results: no cluster, the 'chief' task, or worker 0 of a
    cluster without a chief (TensorFlow's convention)."""
    role = worker(strategy)
    if role is None or role[0] == "chief":
        return True
    has_chief = "chief" in strategy.cluster_resolver.cluster_spec().as_dict()
    return role == ("worker", 0) and not has_chief


def scratch_folder(out: Path, strategy: tf.distribute.Strategy) -> Path:
    """Where this process writes its run files: `out` for the chief, else out/.workers/<type>-<index>
    (its own checkpoints and backup, as in TensorFlow's multi-worker guide; kept so that a restarted
    worker resumes, and safe to delete once the run is finished)."""
    if is_chief(strategy):
        return out
    task_type, index = worker(strategy)
    return out / ".workers" / f"{task_type}-{index}"


def in_multi_worker_mode(strategy: tf.distribute.Strategy) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and \
        strategy.extended._in_multi_worker_mode()


@functools.cache
def _fix_keras_multi_worker_reduction() -> None:
    """Keras 3 (up to 3.15 at least; keras-team/keras#20585) cannot fit under MultiWorkerMirroredStrategy
    with more than one worker: its train step reduces the scalar logs with reduce("MEAN", axis=0), which
    fails on scalars. This reduces scalars over all replicas (axis=None) and leaves everything else to
    Keras. Applied only once a multi-worker strategy is in use; skipped where Keras no longer has the
    function it wraps."""
    from keras.src.backend.tensorflow import trainer

    original = getattr(trainer, "reduce_per_replica", None)
    if original is None or not hasattr(trainer, "_collective_all_reduce_multi_worker"):
        return

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            return tf.nest.map_structure(
                lambda v: strategy.reduce("MEAN", v, axis=0 if v.shape.rank else None)
                if isinstance(v, (tf.Tensor, tf.distribute.DistributedValues)) else v, values)
        return original(values, strategy, reduction)

    trainer.reduce_per_replica = reduce_per_replica


@contextlib.contextmanager
def fitting(model, sample_batch):
    """Run model.fit inside this context (in the model's strategy scope). Under a multi-worker strategy,
    the model is first built symbolically from `sample_batch()` (a function returning one local,
    unshuffled batch such as the first validation batch, so that the training shuffle is not consumed;
    called only there), and fit then takes the strategy
    from the scope: Keras' own symbolic build reduces a nested per-replica batch across workers, which
    fails (keras-team/keras#20585). Elsewhere this is only the strategy scope."""
    strategy = model.distribute_strategy
    if in_multi_worker_mode(strategy):
        _fix_keras_multi_worker_reduction()
        with strategy.scope():
            model._symbolic_build(data_batch=sample_batch())
        model._distribute_strategy = None  # Keras' documented fallback: the strategy of the current scope
    with strategy.scope():
        yield
