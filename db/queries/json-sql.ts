import { type SQL, type SQLWrapper, sql } from 'drizzle-orm';

// Pieces of the statements whose answers PostgreSQL writes as the API's JSON (issue 15).

/** A time as the API's JSON writes it (Date#toISOString: UTC, to the millisecond). */
const isoTime = (time: SQLWrapper): SQL =>
  sql`to_char(${time} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** How a JSON field's SQL value is written; each is `null` when the value is SQL NULL. */
export type JsonKind =
  /** A uuid: quoted as it is (it holds nothing to escape). */
  | 'uuid'
  /** Text, escaped as JSON. */
  | 'text'
  /** A time, as isoTime writes it. */
  | 'time'
  /** A value whose text is JSON already: json or jsonb as stored, a boolean, an integer. */
  | 'json'
  /** An object jsonObjectText wrote. */
  | 'object';

const JSON_KEY = /^[A-Za-z][A-Za-z0-9]*$/;

const jsonValue = (kind: JsonKind, value: SQL): SQL => {
  switch (kind) {
    case 'uuid':
      return sql`coalesce('"' || ${value} || '"', 'null')`;
    case 'text':
      return sql`coalesce(to_json(${value}::text)::text, 'null')`;
    case 'time':
      return sql`coalesce('"' || ${isoTime(value)} || '"', 'null')`;
    case 'json':
      return sql`coalesce(${value}::text, 'null')`;
    case 'object':
      return value;
  }
};

/**
 * A JSON object as text, written by concatenation: `json_build_object` works out how to write each
 * argument's type on every row (issue 15: a page of 50 events took 855 µs with it, 447 µs by
 * concatenation). Keys are plain names (no quoting needed); values by their kind.
 */
export function jsonObjectText(
  fields: ReadonlyArray<readonly [key: string, kind: JsonKind, value: SQL]>,
): SQL {
  const parts = fields.map(([key, kind, value], i) => {
    if (!JSON_KEY.test(key)) throw new Error(`jsonObjectText: key ${key} is not a plain name`);
    return sql`${sql.raw(`'${i === 0 ? '{' : ','}"${key}":'`)} || ${jsonValue(kind, value)}`;
  });
  return sql`(${sql.join(parts, sql` || `)} || '}')`;
}

/** A JSON array as text of `element` (jsonObjectText's) over the rows of its select, in `order`; `[]` for none. */
export const jsonArrayText = (element: SQL, order: SQL): SQL =>
  sql`('[' || coalesce(string_agg(${element}, ',' order by ${order}), '') || ']')`;

/** The one-row relation a select made only of subqueries reads from. */
export const oneRow = (): SQL => sql`(select 1) as one`;
