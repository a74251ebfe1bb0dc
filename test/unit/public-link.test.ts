import { describe, expect, it } from 'vitest';
import { publicLink } from '../../domain/public-link';

describe('publicLink: an email link under PUBLIC_BASE_URL', () => {
  it.each([
    ['https://cloud.example.com', 'https://cloud.example.com/consents/abc'],
    ['https://cloud.example.com/', 'https://cloud.example.com/consents/abc'],
    ['https://example.com/ks', 'https://example.com/ks/consents/abc'],
    ['https://example.com/ks//', 'https://example.com/ks/consents/abc'],
    ['http://localhost:3000', 'http://localhost:3000/consents/abc'],
  ])('%s', (base, link) => {
    expect(publicLink(base, '/consents/abc')).toBe(link);
  });
});
