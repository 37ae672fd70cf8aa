"""The live fan-out: the pump (AMI events -> call model -> sinks), the WebSocket hub, screen
pops, the wallboard feed, and browser-phone presence."""
