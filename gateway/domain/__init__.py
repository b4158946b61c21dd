"""Domain: the records the call flow speaks in (events, state machines), free of Flask,
Redis, SQL and Twilio."""
