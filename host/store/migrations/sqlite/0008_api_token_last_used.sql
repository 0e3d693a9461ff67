-- When each API token was last used, to within an hour, so people can
-- find and revoke the ones nothing uses any more. Written only when the
-- stored time is over an hour old, on a lookup that missed the token
-- cache: not a write per request.

ALTER TABLE api_tokens ADD COLUMN last_used_at INTEGER;
