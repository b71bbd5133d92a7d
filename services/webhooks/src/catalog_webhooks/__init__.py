"""Webhooks: signed deliveries of platform events to the URLs admins subscribed."""
