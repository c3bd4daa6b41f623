"""Model monitoring: drift, data quality and performance of served models, alerts, and the runner
that evaluates a monitor's windows (in the server's scheduler, ``treadle monitor run``, or here).

Ad hoc: ``td.monitoring.drift(reference, current)`` returns a :class:`DriftReport`.
"""
