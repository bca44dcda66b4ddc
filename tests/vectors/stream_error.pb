2C
slow_consumer2You fell too far behind; reconnect with ?since=41.