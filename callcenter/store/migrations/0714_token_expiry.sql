-- API tokens may expire (NULL: until revoked). A token past expires_at authenticates nobody.
ALTER TABLE api_tokens ADD COLUMN expires_at TEXT;
