# WebSub callback, subscriptions and read API (yt_pubsub_handler/websub.py, subscriptions.py, api.py).

.PHONY: test-websub fuzz-websub

test-websub: $(STAMP) ## Tests of the WebSub callback, subscribing, the read API and hostile input (fast variants)
	$(PY) -m pytest tests/app tests/reliability/test_websub_hostile.py -m "not slow" $(PYTEST_ARGS)

fuzz-websub: $(STAMP) ## Soak the WebSub callback with 2,000 hypothesis examples per property (slow)
	$(PY) -m pytest tests/reliability/test_websub_hostile.py -m slow $(PYTEST_ARGS)
