"""Rehearse the migrations at production scale, through Lambda, under the stage's limits (``make rehearse``).

    python -m dev.rehearse --stage production --rows 1000000 [--points 3] [--timeout-seconds N]

Will each revision finish inside the stage's Lambda timeout at production's row counts, how long does it block,
how much memory does it take, and is a timeout safe? See :mod:`.rehearsal` for what runs, :mod:`.probe` for what
is measured inside the Lambda worker, :mod:`.projection` and :mod:`.report` for the table and the verdict,
:mod:`.chart` for the chart. Kept light: :mod:`.probe` is imported inside the Lambda worker through this package.
"""
