"""A local WebSub hub: what pubsubhubbub.appspot.com does for YouTube's subscribers, on this machine.

The sandbox runs one (``make up``, both modes) where the ``local`` stage's hub URL points, so subscribing can be
rehearsed end to end: a function asks the hub, the hub verifies through the subscriber's callback, and feeds
published to the hub reach every verified subscriber, signed with its secret. It knows WebSub and nothing of any
subscriber.

- :mod:`.hub`     subscriptions, intent verification, denial, leases, signed delivery (no server)
- :mod:`.server`  the HTTP surface (``POST /hub``, ``POST /publish``, ``GET /subscriptions`` ...) and :func:`serve`
- :mod:`.client`  the other side: publish a feed, list subscriptions, wait for a verification

    python -m dev.hub serve [--host 127.0.0.1] [--port 9999] [--lease-seconds 432000] [--verification async]
    python -m dev.hub publish --topic URL FEED.xml      # deliver a feed (- reads stdin)
    python -m dev.hub subscriptions [--topic URL]
    python -m dev.hub deny --topic URL --callback URL [--reason TEXT]

Only the standard library: the Docker sandbox runs it on the bare ``python`` image.
"""

from .client import HubAnswerError, HubClient, HubUnreachable
from .hub import Answer, BadRequest, Delivery, Hub, Subscription, SubscriptionRequest, signature
from .server import HUB_PATH, RunningHub, serve

__all__ = [
    "HUB_PATH",
    "Answer",
    "BadRequest",
    "Delivery",
    "Hub",
    "HubAnswerError",
    "HubClient",
    "HubUnreachable",
    "RunningHub",
    "Subscription",
    "SubscriptionRequest",
    "serve",
    "signature",
]
