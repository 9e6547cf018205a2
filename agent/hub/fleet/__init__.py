"""The hub's fleet: enrolment, agent identities, agent sessions, heartbeats and the outbox."""
