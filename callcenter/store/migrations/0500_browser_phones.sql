-- Browser phones (WebRTC): the SIP credentials of an agent's own PJSIP endpoint (the
-- extension PJSIP/w2001 registers as SIP user w2001) and the agent's phone settings.
-- A separate table, so that nothing listing users ever reads a SIP password: it is handed
-- only to its agent, by GET /api/agent/phone. It is the digest password Asterisk checks
-- (the browser needs it in clear to answer the challenge), so it is stored as given.

CREATE TABLE browser_phones (
    user_id      INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sip_password TEXT NOT NULL,
    -- answer queue calls without a click (campaign calls are always auto-answered)
    auto_answer  BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at   TEXT NOT NULL
);
