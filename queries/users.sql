-- name: UserGetByID :one
SELECT * FROM users WHERE id = $1 AND deleted_at IS NULL;

-- name: UserGetByUsername :one
SELECT * FROM users WHERE username = $1 AND deleted_at IS NULL;

-- name: UserGetByAccessToken :one
SELECT * FROM users WHERE access_token_hash = $1 AND deleted_at IS NULL;

-- name: UserCount :one
SELECT count(*) FROM users;

-- name: UserCreate :one
INSERT INTO users (username, password_hash, must_change_password, display_name, email, role, status, group_name, quota)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING *;

-- name: UserSetAccessToken :exec
UPDATE users SET access_token_hash = $2, access_token_prefix = $3 WHERE id = $1;

-- name: UserListAll :many
-- Every user, for the in-memory state the relay reads (status, role, group).
SELECT * FROM users ORDER BY id;
