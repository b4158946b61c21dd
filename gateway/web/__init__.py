"""Web entry points: the Flask blueprints (PSAP API, Twilio voice webhooks, reports, the
call-taker page) and what they share (request signing, the app's service handle). Views
are thin: they parse the request and call a service."""
