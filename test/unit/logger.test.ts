import { DrizzleQueryError } from 'drizzle-orm/errors';
import { describe, expect, it } from 'vitest';
import { errorField } from '../../observability/logger';

describe('errorField', () => {
  it('keeps the SQL and the reason of a failed query, never its bound values', () => {
    const cause = Object.assign(new Error('duplicate key value violates unique constraint'), {
      code: '23505',
    });
    const error = new DrizzleQueryError(
      'insert into profiles (email, name) values ($1, $2)',
      ['ann@example.com', 'Ann Example'],
      cause,
    );
    expect(error.message).toContain('ann@example.com');
    const field = errorField(error);
    const text = JSON.stringify(field);
    expect(field.message).toContain('insert into profiles');
    expect(field.message).toContain('23505');
    expect(text).not.toContain('ann@example.com');
    expect(text).not.toContain('Ann Example');
  });

  it('keeps only the name, message and stack of other errors', () => {
    const error = Object.assign(new Error('boom'), { secret: 'token-123' });
    const field = errorField(error);
    expect(Object.keys(field).sort()).toEqual(['message', 'name', 'stack']);
    expect(JSON.stringify(field)).not.toContain('token-123');
    expect(errorField('plain')).toEqual({ name: 'NonError', message: 'plain' });
  });
});
