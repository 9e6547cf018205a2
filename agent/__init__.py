"""modelfleet daemons: the serving node (`.node`) and the control-plane hub (`.hub`)."""
