-- API tokens become manageable (list, revoke): each gets an opaque public
-- id (never derived from the token or its hash) and a label people chose,
-- e.g. "ci". Tokens made before this migration get a random id and the
-- name "default". No last-used time: keeping one current would cost a
-- write per request.

ALTER TABLE api_tokens ADD COLUMN id BLOB;
ALTER TABLE api_tokens ADD COLUMN name TEXT NOT NULL DEFAULT 'default';
UPDATE api_tokens SET id = randomblob(16) WHERE id IS NULL;
CREATE UNIQUE INDEX api_tokens_id ON api_tokens (id);
CREATE INDEX api_tokens_user ON api_tokens (user_id);
