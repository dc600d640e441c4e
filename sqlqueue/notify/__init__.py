"""Notification delivery: send what the outbox holds to webhooks and mail addresses.

Imports neither falcon nor sqlalchemy: the worker sees storage through the
``DeliveryController`` contract (storage/base.py) only.
"""
