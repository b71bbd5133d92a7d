"""The relay's readiness: alive is not enough; a leader with a backlog must be publishing."""

from catalog_relay.domain.health import RelayHealth


def test_not_ready_before_it_has_a_database_session() -> None:
    assert RelayHealth(stall_after_s=60).problems(now=0) == ["not yet connected to the database"]


def test_a_standby_is_ready() -> None:
    health = RelayHealth(stall_after_s=60)
    health.standing_by()
    assert health.problems() == []


def test_a_leader_with_a_backlog_and_no_progress_is_stalled() -> None:
    health = RelayHealth(stall_after_s=60)
    health.leading()
    health.backlog = 12
    assert health.problems(now=health.last_progress + 30) == []
    assert health.problems(now=health.last_progress + 61) == ["stalled: 12 events wait and none was published for 61s"]
    health.published(12)
    health.backlog = 0
    assert health.problems(now=health.last_progress + 600) == []  # idle with nothing to do is fine


def test_an_outage_shows_until_the_next_success() -> None:
    health = RelayHealth(stall_after_s=60)
    health.leading()
    health.problem = "database session lost: connection refused"
    assert health.report()["ready"] is False
    health.leading()
    assert health.report()["ready"] is True
