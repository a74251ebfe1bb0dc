import { z } from '@hono/zod-openapi';

// The cursor is the last seq seen, base64url-wrapped so clients treat it as opaque.
export const encodeCursor = (seq: number) => Buffer.from(`seq:${seq}`).toString('base64url');
const decodeCursor = (cursor: string) => {
  const match = /^seq:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString());
  return match ? Number(match[1]) : undefined;
};

/** GET events' query: the route validates with it, and the sign-in statement reads its page by it. */
export const EventsQuery = z.object({
  cursor: z
    .string()
    .max(64)
    .refine((c) => decodeCursor(c) !== undefined, { message: 'is not a cursor from this API' })
    .optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

/** The page a valid query asks for (eventsPageJson's): events before the cursor's seq, at most `limit`. */
export const eventsPageOfQuery = ({ cursor, limit }: z.infer<typeof EventsQuery>) => ({
  beforeSeq: cursor === undefined ? null : decodeCursor(cursor)!,
  limit,
});
