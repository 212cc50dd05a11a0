-- name: ChannelListAll :many
-- Every channel, for the in-memory routing state.
SELECT * FROM channels ORDER BY id;

-- name: ChannelGetByID :one
SELECT * FROM channels WHERE id = $1;

-- name: ChannelGetByIDForUpdate :one
-- For read-modify-write updates: the row stays locked until the transaction
-- ends, so an automatic disable cannot slip in between and be overwritten.
SELECT * FROM channels WHERE id = $1 FOR UPDATE;

-- name: ChannelList :many
SELECT * FROM channels ORDER BY id DESC LIMIT $1 OFFSET $2;

-- name: ChannelSearch :many
-- Match on id, name, key hint, base URL or models; keyword is a plain substring.
SELECT * FROM channels
WHERE id::text = @keyword::text
   OR name ILIKE '%' || @keyword::text || '%'
   OR key_hint ILIKE '%' || @keyword::text || '%'
   OR base_url ILIKE '%' || @keyword::text || '%'
   OR models ILIKE '%' || @keyword::text || '%'
ORDER BY id DESC LIMIT 100;

-- name: ChannelCount :one
SELECT count(*) FROM channels;

-- name: ChannelCreate :one
INSERT INTO channels (type, name, key_ciphertext, key_hint, base_url, models, model_mapping, groups,
                      priority, weight, status, config, system_prompt, test_model)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
RETURNING *;

-- name: ChannelUpdate :one
-- The key changes only when a new one is given (key_ciphertext not null).
UPDATE channels SET
    type = @type, name = @name,
    key_ciphertext = coalesce(sqlc.narg(key_ciphertext), key_ciphertext),
    key_hint = coalesce(sqlc.narg(key_hint), key_hint),
    base_url = @base_url, models = @models, model_mapping = @model_mapping, groups = @groups,
    priority = @priority, weight = @weight, status = @status, config = @config,
    system_prompt = @system_prompt, test_model = @test_model
WHERE id = @id
RETURNING *;

-- name: ChannelDelete :execrows
DELETE FROM channels WHERE id = $1;

-- name: ChannelSetStatus :execrows
UPDATE channels SET status = $2 WHERE id = $1;

-- name: ChannelDisableAuto :execrows
-- Only an enabled channel is auto-disabled: a channel an admin disabled stays so.
UPDATE channels SET status = 3 WHERE id = $1 AND status = 1;

-- name: ChannelSetTestResult :exec
UPDATE channels SET response_time_ms = $2, test_time = now() WHERE id = $1;

-- name: ChannelListFiltered :many
-- The console's channel table, newest first. keyword matches the id exactly
-- or name, key hint, base URL and models by substring; status and type
-- filter when not 0.
SELECT * FROM channels
WHERE (@keyword::text = ''
       OR id::text = @keyword
       OR name ILIKE '%' || @keyword || '%'
       OR key_hint ILIKE '%' || @keyword || '%'
       OR base_url ILIKE '%' || @keyword || '%'
       OR models ILIKE '%' || @keyword || '%')
  AND (@status::smallint = 0 OR status = @status)
  AND (@type::integer = 0 OR type = @type)
ORDER BY id DESC
LIMIT @lim OFFSET @off;

-- name: ChannelCountFiltered :one
SELECT count(*) FROM channels
WHERE (@keyword::text = ''
       OR id::text = @keyword
       OR name ILIKE '%' || @keyword || '%'
       OR key_hint ILIKE '%' || @keyword || '%'
       OR base_url ILIKE '%' || @keyword || '%'
       OR models ILIKE '%' || @keyword || '%')
  AND (@status::smallint = 0 OR status = @status)
  AND (@type::integer = 0 OR type = @type);
