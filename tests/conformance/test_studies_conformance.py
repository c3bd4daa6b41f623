from treadle.testing.studies import *  # noqa: F403
