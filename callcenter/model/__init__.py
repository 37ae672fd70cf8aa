"""The pure model: typed AMI events in, calls, queues and agents out (stdlib only, no I/O)."""
