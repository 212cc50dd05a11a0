-- name: UserGetByID :one
SELECT * FROM users WHERE id = $1 AND deleted_at IS NULL;

-- name: UserGetByUsername :one
SELECT * FROM users WHERE username = $1 AND deleted_at IS NULL;

-- name: UserGetByAccessToken :one
SELECT * FROM users WHERE access_token_hash = $1 AND deleted_at IS NULL;

-- name: UserGetByEmail :one
SELECT * FROM users WHERE lower(email) = lower(@email::text) AND email <> '' AND deleted_at IS NULL;

-- name: UserGetByGitHubID :one
SELECT * FROM users WHERE github_id = $1 AND deleted_at IS NULL;

-- name: UserGetByOIDCID :one
SELECT * FROM users WHERE oidc_id = $1 AND deleted_at IS NULL;

-- name: UserGetByLarkID :one
SELECT * FROM users WHERE lark_id = $1 AND deleted_at IS NULL;

-- name: UserGetByAffCode :one
SELECT * FROM users WHERE aff_code = $1 AND deleted_at IS NULL;

-- UserNameTaken is true when any user, deleted ones included, holds the name:
-- the username column is unique across soft-deleted rows too.
-- name: UserNameTaken :one
SELECT EXISTS (SELECT 1 FROM users WHERE username = $1);

-- name: UserCount :one
SELECT count(*) FROM users;

-- name: UserCreate :one
INSERT INTO users (username, password_hash, must_change_password, display_name, email, role, status, group_name, quota)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING *;

-- UserInsert creates an account from registration, an admin, or a first
-- sign-in through an OAuth provider.
-- name: UserInsert :one
INSERT INTO users (username, password_hash, display_name, email, role, status, group_name, quota,
                   aff_code, inviter_id, github_id, oidc_id, lark_id)
VALUES (@username, @password_hash, @display_name, @email, @role, @status, @group_name, @quota,
        @aff_code, sqlc.narg('inviter_id'), sqlc.narg('github_id'), sqlc.narg('oidc_id'), sqlc.narg('lark_id'))
RETURNING *;

-- name: UserSetAccessToken :exec
UPDATE users SET access_token_hash = $2, access_token_prefix = $3 WHERE id = $1;

-- name: UserSetPassword :exec
UPDATE users SET password_hash = $2, must_change_password = $3 WHERE id = $1 AND deleted_at IS NULL;

-- name: UserSetAffCode :exec
UPDATE users SET aff_code = $2 WHERE id = $1 AND aff_code IS NULL;

-- UserUpdateSelf changes what a person may change about their own account.
-- name: UserUpdateSelf :one
UPDATE users SET display_name = @display_name, email = @email
WHERE id = @id AND deleted_at IS NULL
RETURNING *;

-- UserUpdate is the admin edit: the caller has already checked that the role
-- stays below its own. A new quota is an absolute edit: quota_epoch moves on,
-- which voids the refunds of requests reserved before it.
-- name: UserUpdate :one
UPDATE users SET username = @username, display_name = @display_name, email = @email,
                 group_name = @group_name, quota = @quota, role = @role, status = @status,
                 quota_epoch = CASE WHEN quota <> @quota THEN quota_epoch + 1 ELSE quota_epoch END
WHERE id = @id AND deleted_at IS NULL
RETURNING *;

-- name: UserSetStatus :one
UPDATE users SET status = $2 WHERE id = $1 AND deleted_at IS NULL RETURNING *;

-- name: UserSetRole :one
UPDATE users SET role = $2 WHERE id = $1 AND deleted_at IS NULL RETURNING *;

-- UserSoftDelete keeps the row for the logs and billing history, but frees the
-- external identities so the same GitHub/OIDC/Lark account or access token can
-- later belong to someone else.
-- name: UserSoftDelete :execrows
UPDATE users SET deleted_at = now(), access_token_hash = NULL, access_token_prefix = '',
                 github_id = NULL, oidc_id = NULL, lark_id = NULL
WHERE id = $1 AND deleted_at IS NULL;

-- name: UserLinkGitHub :exec
UPDATE users SET github_id = $2 WHERE id = $1 AND deleted_at IS NULL;

-- name: UserLinkOIDC :exec
UPDATE users SET oidc_id = $2 WHERE id = $1 AND deleted_at IS NULL;

-- name: UserLinkLark :exec
UPDATE users SET lark_id = $2 WHERE id = $1 AND deleted_at IS NULL;

-- UserAddQuota adds (or with a negative delta takes) quota; it never takes a
-- balance below zero and returns no row when it would.
-- name: UserAddQuota :one
UPDATE users SET quota = quota + @delta
WHERE id = @id AND deleted_at IS NULL AND quota + @delta >= 0
RETURNING quota, username;

-- UserLockQuota reads a live user's quota and locks the row until the
-- transaction ends, so that an admin's edit compares against (and logs) the
-- value it replaces while the relay's reservations wait.
-- name: UserLockQuota :one
SELECT quota FROM users WHERE id = $1 AND deleted_at IS NULL FOR UPDATE;

-- UserList pages through live users, newest first. keyword matches the id
-- exactly, or username, display name and email by substring.
-- name: UserList :many
SELECT * FROM users
WHERE deleted_at IS NULL
  AND (@keyword::text = ''
       OR id::text = @keyword
       OR username ILIKE '%' || @keyword || '%'
       OR display_name ILIKE '%' || @keyword || '%'
       OR email ILIKE '%' || @keyword || '%')
ORDER BY id DESC
LIMIT @lim OFFSET @off;

-- name: UserListCount :one
SELECT count(*) FROM users
WHERE deleted_at IS NULL
  AND (@keyword::text = ''
       OR id::text = @keyword
       OR username ILIKE '%' || @keyword || '%'
       OR display_name ILIKE '%' || @keyword || '%'
       OR email ILIKE '%' || @keyword || '%');

-- name: UserInviteeCount :one
SELECT count(*) FROM users WHERE inviter_id = $1;

-- UserUsageByModel summarises a user's relayed requests (log type 2) per model.
-- name: UserUsageByModel :many
SELECT model_name, count(*)::bigint AS requests,
       coalesce(sum(prompt_tokens), 0)::bigint AS prompt_tokens,
       coalesce(sum(completion_tokens), 0)::bigint AS completion_tokens,
       coalesce(sum(quota), 0)::bigint AS quota
FROM logs
WHERE user_id = $1 AND type = 2
GROUP BY model_name
ORDER BY quota DESC, model_name;

-- name: UserListAll :many
-- Every user, for the in-memory state the relay reads (status, role, group).
SELECT * FROM users ORDER BY id;
