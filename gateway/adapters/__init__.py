"""Adapters: one seam per external system. Redis (live state, queue), PostgreSQL (the
outcome store), TwiML documents. Twilio's REST API is `gateway.telephony`, the telephony
port, kept at that path because the carrier simulator builds its client with it."""
