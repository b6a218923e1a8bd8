"""A local AWS Lambda for Zappa projects: the real Zappa handler behind the Lambda Invoke API.

Layout follows SAM CLI's split (``samcli/local/lambda_service`` vs ``samcli/local/lambdafn``):

- :mod:`.settings`   reads ``zappa_settings.json`` with Zappa's own code and writes each stage's ``zappa_settings.py``
- :mod:`.registry`   maps Lambda function names to stage configurations
- :mod:`.worker`     the execution environment (a separate process that imports ``zappa.handler``)
- :mod:`.runtime`    pools of warm environments, limits (timeout, memory, concurrency), log framing
- :mod:`.errors`     AWS-shaped error responses
- :mod:`.invoke_api` the HTTP Lambda Invoke API (what boto3, the AWS CLI and ``zappa invoke`` talk to)
- :mod:`.apigw`      an API Gateway (REST, v1 proxy event) front for the same runtime

The emulator knows the application only through ``zappa_settings.json`` and the project directory, and the server
process never imports the application: environments are separate processes, so they never inherit sockets.
"""
