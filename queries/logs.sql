-- name: LogInsert :exec
INSERT INTO logs (type, user_id, username, token_id, token_name, channel_id, model_name,
                  prompt_tokens, completion_tokens, quota, elapsed_ms, is_stream, request_id, content)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14);
