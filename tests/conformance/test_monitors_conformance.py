from treadle.testing.monitors import *  # noqa: F403
