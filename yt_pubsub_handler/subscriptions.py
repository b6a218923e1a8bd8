"""Placeholder; replaced by the WebSub work."""


def renew_subscriptions() -> dict:
    return {"action": "renew_subscriptions", "renewed": []}
