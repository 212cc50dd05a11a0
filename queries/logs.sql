-- name: LogInsert :exec
INSERT INTO logs (type, user_id, username, token_id, token_name, channel_id, model_name,
                  prompt_tokens, completion_tokens, quota, elapsed_ms, is_stream, request_id, content)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14);

-- Log listings are newest first by id, the primary key: there is
-- deliberately no created_at index to maintain on every insert. before_id > 0
-- pages with a keyset cursor (the console), off with OFFSET (One API's ?p=).
-- Empty or zero filters match everything. The date range is always given
-- (the caller passes far bounds for "any"), so it stays a plain range that
-- the (user_id, created_at) index can serve for one user's logs.

-- name: LogList :many
-- Every user's logs, for admins.
SELECT * FROM logs
WHERE (@type::smallint = 0 OR type = @type)
  AND (@username::text = '' OR username = @username)
  AND (@token_name::text = '' OR token_name = @token_name)
  AND (@model_name::text = '' OR model_name = @model_name)
  AND (@channel_id::bigint = 0 OR channel_id = @channel_id)
  AND (@prompt_name::text = '' OR prompt_name = @prompt_name)
  AND created_at >= @start_at AND created_at < @end_at
  AND (@before_id::bigint = 0 OR id < @before_id)
ORDER BY id DESC
LIMIT @lim OFFSET @off;

-- name: LogListForUser :many
-- One user's own logs.
SELECT * FROM logs
WHERE user_id = @user_id
  AND (@type::smallint = 0 OR type = @type)
  AND (@token_name::text = '' OR token_name = @token_name)
  AND (@model_name::text = '' OR model_name = @model_name)
  AND (@prompt_name::text = '' OR prompt_name = @prompt_name)
  AND created_at >= @start_at AND created_at < @end_at
  AND (@before_id::bigint = 0 OR id < @before_id)
ORDER BY id DESC
LIMIT @lim OFFSET @off;

-- name: LogSumQuota :one
-- The quota consumed (type 2) matching the filters: One API's /api/log/stat.
SELECT coalesce(sum(quota), 0)::bigint AS quota FROM logs
WHERE type = 2
  AND (@username::text = '' OR username = @username)
  AND (@token_name::text = '' OR token_name = @token_name)
  AND (@model_name::text = '' OR model_name = @model_name)
  AND (@channel_id::bigint = 0 OR channel_id = @channel_id)
  AND (@prompt_name::text = '' OR prompt_name = @prompt_name)
  AND created_at >= @start_at AND created_at < @end_at;

-- name: LogSumQuotaForUser :one
SELECT coalesce(sum(quota), 0)::bigint AS quota FROM logs
WHERE user_id = @user_id AND type = 2
  AND (@token_name::text = '' OR token_name = @token_name)
  AND (@model_name::text = '' OR model_name = @model_name)
  AND (@prompt_name::text = '' OR prompt_name = @prompt_name)
  AND created_at >= @start_at AND created_at < @end_at;

-- name: LogUsageByModelForUserSince :many
-- A user's consumption per model since a time, for the dashboard; the
-- (user_id, created_at) index serves it.
SELECT model_name, count(*)::bigint AS requests,
       coalesce(sum(prompt_tokens), 0)::bigint AS prompt_tokens,
       coalesce(sum(completion_tokens), 0)::bigint AS completion_tokens,
       coalesce(sum(quota), 0)::bigint AS quota
FROM logs
WHERE user_id = @user_id AND type = 2 AND created_at >= @since
GROUP BY model_name
ORDER BY quota DESC, model_name;

-- name: LogUsageByPromptForUserSince :many
-- A user's consumption per prompt version since a time, for the dashboard.
SELECT prompt_name, prompt_version, count(*)::bigint AS requests,
       coalesce(sum(prompt_tokens), 0)::bigint AS prompt_tokens,
       coalesce(sum(completion_tokens), 0)::bigint AS completion_tokens,
       coalesce(sum(quota), 0)::bigint AS quota
FROM logs
WHERE user_id = @user_id AND type = 2 AND created_at >= @since AND prompt_name <> ''
GROUP BY prompt_name, prompt_version
ORDER BY prompt_name, prompt_version DESC;

-- name: LogUsageByPromptSince :many
-- Everyone's consumption per prompt version since a time (admins), through
-- the partial index on prompt rows.
SELECT prompt_name, prompt_version, count(*)::bigint AS requests,
       coalesce(sum(prompt_tokens), 0)::bigint AS prompt_tokens,
       coalesce(sum(completion_tokens), 0)::bigint AS completion_tokens,
       coalesce(sum(quota), 0)::bigint AS quota
FROM logs
WHERE type = 2 AND created_at >= @since AND prompt_name <> ''
GROUP BY prompt_name, prompt_version
ORDER BY prompt_name, prompt_version DESC;

-- name: LogUsageForPromptSince :many
-- One prompt's consumption per version since a time, for its page: by
-- everyone for admins (user_id 0), else by the viewer only.
SELECT prompt_version, count(*)::bigint AS requests,
       coalesce(sum(prompt_tokens), 0)::bigint AS prompt_tokens,
       coalesce(sum(completion_tokens), 0)::bigint AS completion_tokens,
       coalesce(sum(quota), 0)::bigint AS quota
FROM logs
WHERE prompt_name = @prompt_name AND type = 2 AND created_at >= @since
  AND (@user_id::bigint = 0 OR user_id = @user_id)
GROUP BY prompt_version
ORDER BY prompt_version DESC;

-- name: LogDeleteBefore :execrows
-- One batch of log rows of every type older than the cutoff, oldest first:
-- One API's DELETE /api/log/?target_timestamp=. The handler repeats it until
-- a batch comes back short, so no single statement locks millions of rows.
DELETE FROM logs
WHERE id IN (SELECT id FROM logs WHERE created_at < @cutoff::timestamptz ORDER BY id LIMIT @batch_size);

-- Log search is One API's /api/log/search: the newest @lim rows whose type
-- is the keyword (a number), or whose token, model (or, for admins, user)
-- is the keyword, or whose content contains it. Wildcards in the keyword
-- match literally. An empty keyword matches every row.

-- name: LogSearch :many
SELECT * FROM logs
WHERE type::text = @keyword::text
   OR token_name = @keyword
   OR model_name = @keyword
   OR username = @keyword
   OR content ILIKE '%' || replace(replace(replace(@keyword, '\', '\\'), '%', '\%'), '_', '\_') || '%'
ORDER BY id DESC
LIMIT @lim;

-- name: LogSearchForUser :many
SELECT * FROM logs
WHERE user_id = @user_id
  AND (type::text = @keyword::text
       OR token_name = @keyword
       OR model_name = @keyword
       OR content ILIKE '%' || replace(replace(replace(@keyword, '\', '\\'), '%', '\%'), '_', '\_') || '%')
ORDER BY id DESC
LIMIT @lim;

-- name: LogConsumeByRequestID :one
-- The bill of one request, once settled (the console's playground shows it).
SELECT prompt_tokens, completion_tokens, quota FROM logs WHERE request_id = @request_id AND type = 2 ORDER BY id DESC LIMIT 1;
