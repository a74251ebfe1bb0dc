-- event_api_json in PL/pgSQL, same text (issue 15). As an SQL function, PostgreSQL inlined its body
-- into the generated column's expression again at every insert or update statement, which cost each
-- single-row insert into events about 70 µs of the server's 210; PL/pgSQL keeps its compiled body per
-- connection. The stored values do not change, so nothing is rewritten.
CREATE OR REPLACE FUNCTION event_api_json(
  id uuid, at timestamptz, type text, actor_kind text, actor_profile_id uuid,
  subject_profile_id uuid, lock_id uuid, iq_id uuid, data jsonb
) RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
  RETURN '{"id":' || coalesce('"' || id || '"', 'null')
    || ',"at":' || coalesce('"' || to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '"', 'null')
    || ',"type":' || coalesce(to_json(type)::text, 'null')
    || ',"actor":{"kind":' || coalesce(to_json(actor_kind)::text, 'null')
    || ',"profileId":' || coalesce('"' || actor_profile_id || '"', 'null') || '}'
    || ',"subjectProfileId":' || coalesce('"' || subject_profile_id || '"', 'null')
    || ',"lockId":' || coalesce('"' || lock_id || '"', 'null')
    || ',"iqId":' || coalesce('"' || iq_id || '"', 'null')
    || ',"data":' || coalesce(data::text, 'null')
    || '}';
END
$$;
