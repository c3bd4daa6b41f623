"""The worker process of :mod:`treadle.tuning._workers` (``python -m treadle.tuning._worker``)."""

from __future__ import annotations

import os
import pickle
import sys
from multiprocessing.connection import Connection


def main() -> None:
    rx = Connection(os.dup(0), writable=False)
    tx = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)  # the objective's prints go to stderr, never into the frames
    sys.stdout = sys.stderr

    # Import first (the slow part of a start), while the driver is still setting the study up.
    import cloudpickle
    import optuna

    from treadle.client import Client
    from treadle.studies import journal_storage
    from treadle.tuning._trial import run_objective

    try:
        init = cloudpickle.loads(rx.recv_bytes())
    except EOFError:  # the driver gave up before the study started
        return
    sys.path[:0] = [p for p in init.sys_path if p not in sys.path]
    objective, sampler, pruner = cloudpickle.loads(init.payload)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    client = Client(init.uri, init.artifacts)
    study = optuna.load_study(
        study_name=init.study, storage=journal_storage(client.tuning, init.study), sampler=sampler, pruner=pruner
    )
    sampler.reseed_rng()  # workers must not draw the same "random" points
    while True:
        try:
            task = pickle.loads(rx.recv_bytes())
        except EOFError:
            return
        trial = optuna.Trial(study, task.trial_id)
        outcome = run_objective(objective, trial, task.params, task.run, client)
        tx.send_bytes(pickle.dumps(outcome))


if __name__ == "__main__":
    main()
