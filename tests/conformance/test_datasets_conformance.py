from treadle.testing.datasets import *  # noqa: F403
