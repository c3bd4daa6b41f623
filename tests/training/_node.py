"""One node of a two-node launch: ``python -m tests.training._node NODE_RANK ENDPOINT RUN_ID``."""

from __future__ import annotations

import sys

from tests.training._jobs import ddp_train
from treadle.training import launch

if __name__ == "__main__":
    node_rank, endpoint, run_id = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    result = launch(ddp_train, 3, nnodes=2, node_rank=node_rank, rdzv_endpoint=endpoint, run_id=run_id)
    print("RETURNS", result.returns)
