"""One relay publishes at a time; these are the ways a relay learns that its turn, or its session, is over."""


class LostLeadership(Exception):
    """The leader's database session ended; another relay may be publishing now."""


class SessionLost(Exception):
    """The relay's database session broke (the server went away, the connection failed)."""
