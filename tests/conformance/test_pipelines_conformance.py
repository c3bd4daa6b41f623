from treadle.testing.pipelines import *  # noqa: F403
