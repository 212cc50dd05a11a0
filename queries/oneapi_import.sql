-- Queries of `oneapi import` (package oneapiimport): One API's rows are
-- written with their own ids, which sk-KEY-CHANNELID pins and logs refer to.

-- ImportTargetState says what the target already holds. bootstrap_root is
-- the id of the root user a first start created and nobody signed in as to
-- change its password (0 when there is none): an import replaces it.
-- name: ImportTargetState :one
SELECT (SELECT count(*) FROM users)::bigint AS users,
       coalesce((SELECT id FROM users WHERE username = 'root' AND must_change_password AND role = 100
                 AND NOT EXISTS (SELECT 1 FROM oneapi_imported_rows WHERE source_table = 'users' AND source_id = users.id)), 0)::bigint AS bootstrap_root,
       (SELECT count(*) FROM tokens)::bigint AS tokens,
       (SELECT count(*) FROM channels)::bigint AS channels,
       (SELECT count(*) FROM redemptions)::bigint AS redemptions,
       (SELECT count(*) FROM options)::bigint AS options,
       EXISTS (SELECT 1 FROM logs) AS has_logs,
       (SELECT count(*) FROM oneapi_imported_rows)::bigint AS imported_rows;

-- ImportDeleteBootstrapRoot removes the untouched root of a first start, and
-- every session (none can belong to anyone else), before One API's root
-- takes its place.
-- name: ImportDeleteBootstrapRoot :exec
WITH gone AS (DELETE FROM users WHERE id = $1 AND username = 'root' AND must_change_password)
DELETE FROM sessions;

-- name: ImportedRowIDs :many
SELECT source_id FROM oneapi_imported_rows WHERE source_table = $1;

-- name: ImportMarkRows :exec
INSERT INTO oneapi_imported_rows (source_table, source_id)
SELECT @source_table::text, unnest(@ids::bigint[])
ON CONFLICT DO NOTHING;

-- name: ImportLastLogID :one
SELECT coalesce(max(last_log_id), 0)::bigint FROM oneapi_imports;

-- name: ImportRecord :exec
INSERT INTO oneapi_imports (source, report, last_log_id) VALUES ($1, $2, $3);

-- name: UserImport :exec
INSERT INTO users (id, username, password_hash, must_change_password, display_name, email, role, status,
                   group_name, quota, used_quota, request_count, access_token_hash, access_token_prefix,
                   aff_code, github_id, oidc_id, lark_id, wechat_id, created_at, deleted_at)
VALUES (@id, @username, @password_hash, @must_change_password, @display_name, @email, @role, @status,
        @group_name, @quota, @used_quota, @request_count, sqlc.narg('access_token_hash'), @access_token_prefix,
        sqlc.narg('aff_code'), sqlc.narg('github_id'), sqlc.narg('oidc_id'), sqlc.narg('lark_id'), sqlc.narg('wechat_id'),
        @created_at, sqlc.narg('deleted_at'));

-- UserImportSetInviter runs once every user is in, as an inviter may have a
-- higher id than the people they invited.
-- name: UserImportSetInviter :exec
UPDATE users SET inviter_id = @inviter_id WHERE id = @id;

-- name: TokenImport :exec
INSERT INTO tokens (id, user_id, name, key_hash, key_prefix, status, expires_at, remain_quota,
                    unlimited_quota, used_quota, models, subnet, created_at, accessed_at)
VALUES (@id, @user_id, @name, @key_hash, @key_prefix, @status, sqlc.narg('expires_at'), @remain_quota,
        @unlimited_quota, @used_quota, @models, @subnet, @created_at, sqlc.narg('accessed_at'));

-- name: ChannelImport :exec
INSERT INTO channels (id, type, name, key_ciphertext, key_hint, base_url, models, model_mapping, groups,
                      priority, weight, status, config, system_prompt, test_model, used_quota,
                      response_time_ms, test_time, balance, balance_updated_at, created_at)
VALUES (@id, @type, @name, @key_ciphertext, @key_hint, @base_url, @models, @model_mapping, @groups,
        @priority, @weight, @status, @config, @system_prompt, @test_model, @used_quota,
        @response_time_ms, sqlc.narg('test_time'), @balance, sqlc.narg('balance_updated_at'), @created_at);

-- name: RedemptionImport :exec
INSERT INTO redemptions (id, user_id, name, code_hash, code_prefix, status, quota, created_at, redeemed_at)
VALUES (@id, @user_id, @name, @code_hash, @code_prefix, @status, @quota, @created_at, sqlc.narg('redeemed_at'));

-- name: RedemptionCodeHashes :many
SELECT id, code_hash FROM redemptions;

-- OptionImport sets an option the target does not have yet; one it has (an
-- earlier import, or an admin's edit here) stays.
-- name: OptionImport :execrows
INSERT INTO options (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING;

-- LogImportMany appends a batch of One API log rows, which get ids of their
-- own (nothing refers to a log row by id).
-- name: LogImportMany :exec
INSERT INTO logs (created_at, type, user_id, username, token_id, token_name, channel_id, model_name,
                  prompt_tokens, completion_tokens, quota, elapsed_ms, is_stream, request_id, content)
SELECT unnest(@created_at::timestamptz[]), unnest(@type::smallint[]), unnest(@user_id::bigint[]),
       unnest(@username::text[]), unnest(@token_id::bigint[]), unnest(@token_name::text[]),
       unnest(@channel_id::bigint[]), unnest(@model_name::text[]), unnest(@prompt_tokens::integer[]),
       unnest(@completion_tokens::integer[]), unnest(@quota::bigint[]), unnest(@elapsed_ms::integer[]),
       unnest(@is_stream::boolean[]), unnest(@request_id::text[]), unnest(@content::text[]);

-- ImportSequencesAdvance moves the id sequences past the ids imported, so
-- rows created here afterwards do not collide with them. A sequence never
-- goes back, so no id handed out before is handed out again.
-- name: ImportSequencesAdvance :exec
SELECT setval(s.seq, greatest(coalesce(s.max_id, 0), coalesce(pg_sequence_last_value(s.seq), 0), 1))
FROM (VALUES (pg_get_serial_sequence('users', 'id')::regclass, (SELECT max(id) FROM users)),
             (pg_get_serial_sequence('tokens', 'id')::regclass, (SELECT max(id) FROM tokens)),
             (pg_get_serial_sequence('channels', 'id')::regclass, (SELECT max(id) FROM channels)),
             (pg_get_serial_sequence('redemptions', 'id')::regclass, (SELECT max(id) FROM redemptions))) AS s(seq, max_id);
