# WebSub callback, subscriptions and read API (yt_pubsub_handler/websub.py, subscriptions.py, api.py).

.PHONY: test-websub fuzz-websub subscribe renew

subscribe: $(STAMP) ## = zappa invoke local 'run.subscribe_channel': make subscribe CHANNEL=UC... (the hub verifies next)
	@test -n "$(CHANNEL)" || { echo 'usage: make subscribe CHANNEL=UCxxxxxxxxxxxxxxxxxxxxxx' >&2; exit 2; }
	@$(PY) -m dev.invoke --stage $(STAGE) run.subscribe_channel --payload '{"channel_id": "$(CHANNEL)"}'

renew: $(STAMP) ## = zappa invoke local 'run.renew_subscriptions': re-subscribe leases that end soon, through the hub
	@$(PY) -m dev.invoke --stage $(STAGE) run.renew_subscriptions

test-websub: $(STAMP) ## Tests of the WebSub callback, subscribing, the local hub, the read API and hostile input
	$(PY) -m pytest tests/app tests/hub tests/reliability/test_websub_hostile.py -m "not slow" $(PYTEST_ARGS)

fuzz-websub: $(STAMP) ## Soak the WebSub callback with 2,000 hypothesis examples per property (slow)
	$(PY) -m pytest tests/reliability/test_websub_hostile.py -m slow $(PYTEST_ARGS)
