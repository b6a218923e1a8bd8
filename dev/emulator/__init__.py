"""A local AWS Lambda for Zappa projects: the real Zappa handler behind the Lambda Invoke API.

Layout follows SAM CLI's split (``samcli/local/lambda_service`` vs ``samcli/local/lambdafn``):

- :mod:`.settings`     the one settings resolver: every stage by Zappa's own code (:mod:`.zappa_render`, in a
                       subprocess) as a :class:`~.settings.FunctionConfig`; each stage's ``zappa_settings.py``
- :mod:`.scratch`      where generated files go: never into the project (``zappa package`` must not ship them)
- :mod:`.interpreter`  which Python runs the functions: ``--python``, the project's virtualenv, or ours
- :mod:`.registry`     maps Lambda function names to stage configurations; which files are deployed code; the guard
- :mod:`.changes`      change detection: a background file watcher (O(1) per invocation) or a scan (the fallback)
- :mod:`.worker`       the execution environment's process (imports ``zappa.handler``, runs invocations)
- :mod:`.private_tmp`  Lambda's private ``/tmp``, made inside the worker (mount namespace + tmpfs)
- :mod:`.environment`  one environment from outside: its process, pipes, log file, limits and Lambda's variables
                       (placeholder AWS credentials, a HOME that is not the developer's, its own TMPDIR)
- :mod:`.memory`       peak resident memory, watched through /proc or reported by the worker (macOS)
- :mod:`.runtime`      pools of warm environments; one invocation from request to result
- :mod:`.logframe`     Lambda's START/END/REPORT and fault lines
- :mod:`.errors`       AWS-shaped error responses
- :mod:`.invoke_api`   the HTTP Lambda Invoke API (what boto3, the AWS CLI and ``zappa invoke`` talk to)
- :mod:`.apigw`        an API Gateway (REST, v1 proxy event) front for the same runtime
- :mod:`.client`       the other side: start the emulator, wait for it, invoke, decode the answer, stop it
- :mod:`.init_stage`   ``python -m dev.emulator init-stage``: a local stage for any Zappa project
- :mod:`.smoke`        ``make emulator-smoke``: a project through boto3, ``zappa invoke`` and the API front

The emulator knows the application only through ``zappa_settings.json`` and the project directory, and the server
process never imports the application: environments are separate processes, so they never inherit sockets. The
server and the client import only the standard library (``make package-check`` runs the server under an
interpreter with nothing installed); :mod:`.changes` uses ``watchfiles`` and ``pathspec`` when they can be imported
and falls back to a scan, saying so, when they cannot. Why in the server and not in a harness process: the server
is what must know the code changed (to retire and warm environments), and every launcher (``make emulator``, the
sandbox, compose, the tests) then gets the watcher without running a second process.
"""
