-- Stored prompts, their immutable versions and their labels. The relay
-- serves them from memory (state); these queries load that copy and back
-- the management API and console.

-- name: PromptListAll :many
-- Every prompt, for the in-memory copy.
SELECT id, name, owner_id, latest_version FROM prompts ORDER BY id;

-- name: PromptGetByID :one
SELECT id, name, owner_id, latest_version FROM prompts WHERE id = $1;

-- name: PromptVersionHashesAll :many
-- Which versions exist: the in-memory copy fetches only those it lacks
-- (versions never change, so one it holds is current).
SELECT prompt_id, version, content_hash FROM prompt_versions;

-- name: PromptVersionHashesForPrompt :many
SELECT version, content_hash FROM prompt_versions WHERE prompt_id = $1 ORDER BY version;

-- name: PromptVersionGetMany :many
SELECT prompt_id, version, content, content_hash FROM prompt_versions
WHERE (prompt_id, version) IN (SELECT unnest(@prompt_ids::bigint[]), unnest(@versions::int[]));

-- name: PromptLabelListAll :many
SELECT prompt_id, label, version FROM prompt_labels;

-- name: PromptLabelListForPrompt :many
SELECT l.label, l.version, l.updated_at, coalesce(u.username, '')::text AS updated_by_name
FROM prompt_labels l LEFT JOIN users u ON u.id = l.updated_by
WHERE l.prompt_id = $1
ORDER BY l.label;

-- name: PromptCreate :one
INSERT INTO prompts (name, owner_id, description) VALUES ($1, $2, $3) RETURNING *;

-- name: PromptGetByName :one
SELECT p.*, coalesce(u.username, '')::text AS owner_name
FROM prompts p LEFT JOIN users u ON u.id = p.owner_id
WHERE p.name = $1;

-- name: PromptGetByNameForUpdate :one
-- Saving a version or moving a label locks the prompt first: version
-- numbers are taken one at a time.
SELECT * FROM prompts WHERE name = $1 FOR UPDATE;

-- name: PromptUpdate :one
UPDATE prompts SET description = $2, owner_id = $3, updated_at = now() WHERE id = $1 RETURNING *;

-- name: PromptSetLatest :exec
UPDATE prompts SET latest_version = $2, updated_at = now() WHERE id = $1;

-- name: PromptTouch :exec
UPDATE prompts SET updated_at = now() WHERE id = $1;

-- name: PromptDelete :execrows
DELETE FROM prompts WHERE id = $1;

-- The console's and the API's listing: prompts the caller may see (every
-- one for admins, else shared ones and their own), by name. keyword matches
-- name or description (wildcards literally); owner is '' (any), 'shared',
-- 'mine' or a username; label keeps prompts that have it.

-- name: PromptList :many
SELECT p.id, p.name, p.owner_id, p.description, p.latest_version, p.created_at, p.updated_at,
       coalesce(u.username, '')::text AS owner_name,
       coalesce((SELECT string_agg(l.label || '=' || l.version, ',' ORDER BY l.label)
                 FROM prompt_labels l WHERE l.prompt_id = p.id), '')::text AS labels
FROM prompts p LEFT JOIN users u ON u.id = p.owner_id
WHERE (@see_all::boolean OR p.owner_id IS NULL OR p.owner_id = @user_id::bigint)
  AND (@keyword::text = ''
       OR p.name ILIKE '%' || replace(replace(replace(@keyword, '\', '\\'), '%', '\%'), '_', '\_') || '%'
       OR p.description ILIKE '%' || replace(replace(replace(@keyword, '\', '\\'), '%', '\%'), '_', '\_') || '%')
  AND (@owner::text = ''
       OR (@owner = 'shared' AND p.owner_id IS NULL)
       OR (@owner = 'mine' AND p.owner_id = @user_id)
       OR (@owner NOT IN ('shared', 'mine') AND u.username = @owner))
  AND (@label::text = '' OR EXISTS (SELECT 1 FROM prompt_labels l WHERE l.prompt_id = p.id AND l.label = @label))
ORDER BY p.name
LIMIT @lim OFFSET @off;

-- name: PromptCount :one
SELECT count(*) FROM prompts p LEFT JOIN users u ON u.id = p.owner_id
WHERE (@see_all::boolean OR p.owner_id IS NULL OR p.owner_id = @user_id::bigint)
  AND (@keyword::text = ''
       OR p.name ILIKE '%' || replace(replace(replace(@keyword, '\', '\\'), '%', '\%'), '_', '\_') || '%'
       OR p.description ILIKE '%' || replace(replace(replace(@keyword, '\', '\\'), '%', '\%'), '_', '\_') || '%')
  AND (@owner::text = ''
       OR (@owner = 'shared' AND p.owner_id IS NULL)
       OR (@owner = 'mine' AND p.owner_id = @user_id)
       OR (@owner NOT IN ('shared', 'mine') AND u.username = @owner))
  AND (@label::text = '' OR EXISTS (SELECT 1 FROM prompt_labels l WHERE l.prompt_id = p.id AND l.label = @label));

-- name: PromptVersionCreate :one
INSERT INTO prompt_versions (prompt_id, version, content, content_hash, note, created_by)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING *;

-- name: PromptVersionList :many
-- A prompt's versions, newest first, with who saved each.
SELECT v.*, coalesce(u.username, '')::text AS created_by_name
FROM prompt_versions v LEFT JOIN users u ON u.id = v.created_by
WHERE v.prompt_id = $1
ORDER BY v.version DESC;

-- name: PromptVersionGet :one
SELECT v.*, coalesce(u.username, '')::text AS created_by_name
FROM prompt_versions v LEFT JOIN users u ON u.id = v.created_by
WHERE v.prompt_id = $1 AND v.version = $2;

-- name: PromptLabelSet :exec
INSERT INTO prompt_labels (prompt_id, label, version, updated_by, updated_at)
VALUES ($1, $2, $3, $4, now())
ON CONFLICT (prompt_id, label) DO UPDATE SET version = excluded.version, updated_by = excluded.updated_by, updated_at = now();

-- name: PromptLabelDelete :execrows
DELETE FROM prompt_labels WHERE prompt_id = $1 AND label = $2;
