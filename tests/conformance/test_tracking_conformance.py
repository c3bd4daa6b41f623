from treadle.testing.tracking import *  # noqa: F403
