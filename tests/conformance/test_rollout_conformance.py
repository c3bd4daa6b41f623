from treadle.testing.rollout import *  # noqa: F403
