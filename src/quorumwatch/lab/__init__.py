"""Real clusters on this machine, one network namespace per node (`quorumwatch lab`)."""
