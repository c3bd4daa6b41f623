from treadle.testing.registry import *  # noqa: F403
