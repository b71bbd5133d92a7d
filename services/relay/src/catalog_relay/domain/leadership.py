"""One relay publishes at a time; these are the ways a relay learns that its turn, or its session, is over."""


class LostLeadership(Exception):
    """The leader's database session ended; another relay may be publishing now."""


class SessionLost(Exception):
    """The relay's database session broke (the server went away, the connection failed)."""


class Fenced(Exception):
    """The broker refused the relay's producer: a newer leader registered the same transactional id."""


class ProducerBroken(Exception):
    """The producer can no longer send (a fatal error, or nothing acknowledged for too long): make a new one."""
