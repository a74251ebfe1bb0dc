import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LineReader } from '../../gateway/line-reader';
import {
  type DeviceMessage,
  EVENT_KINDS,
  type GatewayMessage,
  MAX_LINE_BYTES,
  parseDeviceMessage,
  parseGatewayMessage,
  serialize,
} from '../../gateway/protocol';

const lockId = randomUUID();
const sha256 = 'a'.repeat(64);

const deviceMessages: DeviceMessage[] = [
  { type: 'hello', serial: 'IQ-1', secret: 's3cret', model: 'IQ2', firmware: '1.0.0' },
  { type: 'hello', serial: 'IQ-1', secret: 's3cret', model: 'IQ2', firmware: '1.0.0', accessVersion: 7 },
  { type: 'heartbeat' },
  { type: 'open-result', requestId: 'r1', ok: true },
  { type: 'open-result', requestId: 'r1', ok: false, reason: 'unsubscribed' },
  { type: 'update-status', updateId: 'u1', state: 'downloading' },
  { type: 'update-status', updateId: 'u1', state: 'installing' },
  { type: 'update-status', updateId: 'u1', state: 'failed', error: 'checksum_mismatch' },
  ...EVENT_KINDS.map((kind): DeviceMessage => ({ type: 'event', eventId: `e-${kind}`, lockId, kind })),
  {
    type: 'event',
    eventId: 42,
    lockId,
    kind: 'opened',
    at: '2030-01-02T03:04:05.678Z',
    credentialId: lockId,
  },
  { type: 'access-ack', version: 0 },
  { type: 'access-ack', version: 12 },
];

const gatewayMessages: GatewayMessage[] = [
  { type: 'welcome', subscribed: true, heartbeatSeconds: 30 },
  { type: 'error', code: 'auth_failed' },
  { type: 'error', code: 'bad_message' },
  { type: 'subscription', subscribed: false },
  { type: 'open', requestId: 'r1', lockId },
  { type: 'update', updateId: 'u1', version: '2.0.0', url: 'ftps://fw/iq2.bin', sha256, sizeBytes: 1024 },
  { type: 'error', code: 'throttled' },
  { type: 'access', version: 0, full: true, grants: [], revokes: [] },
  {
    type: 'access',
    version: 3,
    full: false,
    grants: [
      { credentialId: lockId, memberId: lockId, kind: 'tag', lockIds: [lockId], tagUid: '04:A2:19' },
      { credentialId: lockId, memberId: lockId, kind: 'pin', lockIds: [], pinHash: sha256 },
      { credentialId: lockId, memberId: lockId, kind: 'mobile_key', lockIds: [lockId] },
    ],
    revokes: [lockId],
  },
  { type: 'event-ack', eventId: 'e-1' },
  { type: 'event-ack', eventId: 42 },
];

describe('device protocol', () => {
  it.each(deviceMessages.map((m) => [m.type, m] as const))('parses the IQ message %s', (_, message) => {
    const line = serialize(message);
    expect(line.endsWith('\n')).toBe(true);
    expect(parseDeviceMessage(line.trimEnd())).toEqual({ ok: true, message });
  });

  it.each(gatewayMessages.map((m) => [m.type, m] as const))('parses the gateway message %s', (_, message) => {
    expect(parseGatewayMessage(serialize(message).trimEnd())).toEqual({ ok: true, message });
  });

  it.each([
    ['not JSON', '{"type":'],
    ['a JSON array', '[1,2]'],
    ['a JSON string', '"hello"'],
    ['null', 'null'],
    ['an unknown type', '{"type":"reboot"}'],
    ['no type', '{"serial":"x"}'],
    ['a hello without secret', '{"type":"hello","serial":"x","model":"m","firmware":"1"}'],
    ['a hello with a numeric serial', '{"type":"hello","serial":1,"secret":"s","model":"m","firmware":"1"}'],
    ['an open-result without ok', '{"type":"open-result","requestId":"r"}'],
    ['an unknown event kind', `{"type":"event","eventId":"e","lockId":"${lockId}","kind":"fire"}`],
    [
      'an event with a lock id that is no UUID',
      '{"type":"event","eventId":"e","lockId":"x","kind":"tamper"}',
    ],
    ['an event without its event id', `{"type":"event","lockId":"${lockId}","kind":"tamper"}`],
    ['an event with an empty event id', `{"type":"event","eventId":"","lockId":"${lockId}","kind":"tamper"}`],
    [
      'an event with a negative event id',
      `{"type":"event","eventId":-1,"lockId":"${lockId}","kind":"tamper"}`,
    ],
    [
      'an event with a fractional event id',
      `{"type":"event","eventId":1.5,"lockId":"${lockId}","kind":"tamper"}`,
    ],
    [
      'an event with a time that is no ISO 8601',
      `{"type":"event","eventId":"e","lockId":"${lockId}","kind":"opened","at":"yesterday"}`,
    ],
    [
      'an event with a credential id that is no UUID',
      `{"type":"event","eventId":"e","lockId":"${lockId}","kind":"opened","credentialId":"tag-1"}`,
    ],
    [
      'a hello with a negative access version',
      '{"type":"hello","serial":"x","secret":"s","model":"m","firmware":"1","accessVersion":-1}',
    ],
    [
      'a hello with a fractional access version',
      '{"type":"hello","serial":"x","secret":"s","model":"m","firmware":"1","accessVersion":0.5}',
    ],
    ['an access-ack without a version', '{"type":"access-ack"}'],
    ['an access-ack with a version past int4', '{"type":"access-ack","version":2147483648}'],
    ['an access-ack with a string version', '{"type":"access-ack","version":"3"}'],
    ['an unknown update state', '{"type":"update-status","updateId":"u","state":"done"}'],
    ['a gateway message', '{"type":"welcome","subscribed":true,"heartbeatSeconds":30}'],
  ])('rejects %s from an IQ', (_, line) => {
    expect(parseDeviceMessage(line)).toEqual({ ok: false });
  });

  it('rejects malformed gateway messages', () => {
    expect(
      parseGatewayMessage(
        '{"type":"update","updateId":"u","version":"2","url":"x","sha256":"zz","sizeBytes":1}',
      ),
    ).toEqual({ ok: false });
    expect(parseGatewayMessage('{"type":"error","code":"nope"}')).toEqual({ ok: false });
  });
});

describe('line reader', () => {
  it('joins lines split across chunks and drops blank lines and a trailing \\r', () => {
    const reader = new LineReader();
    expect(reader.push(Buffer.from('{"a":'))).toEqual([]);
    expect(reader.push(Buffer.from('1}\r\n\n{"b":2}\n{"c"'))).toEqual(['{"a":1}', '{"b":2}']);
    expect(reader.push(Buffer.from(':3}\n'))).toEqual(['{"c":3}']);
  });

  it('reports a line over the limit as soon as it passes it, with or without its newline', () => {
    expect(new LineReader().push(Buffer.alloc(MAX_LINE_BYTES + 1, 'x'))).toBe('overflow');
    const reader = new LineReader();
    expect(reader.push(Buffer.alloc(MAX_LINE_BYTES, 'x'))).toEqual([]);
    expect(reader.push(Buffer.from('x\n'))).toBe('overflow');
    expect(new LineReader().push(Buffer.from(`${'x'.repeat(MAX_LINE_BYTES)}\n`))).toEqual([
      'x'.repeat(MAX_LINE_BYTES),
    ]);
  });
});

describe('NUL characters', () => {
  it('make any string field a bad message (PostgreSQL text cannot store them)', () => {
    expect(
      parseDeviceMessage(
        '{"type":"update-status","updateId":"u1","state":"failed","error":"disk\\u0000full"}',
      ).ok,
    ).toBe(false);
    expect(
      parseDeviceMessage('{"type":"hello","serial":"S\\u0000","secret":"x","model":"IQ2","firmware":"1"}').ok,
    ).toBe(false);
    expect(
      parseDeviceMessage('{"type":"update-status","updateId":"u1","state":"failed","error":"disk full"}').ok,
    ).toBe(true);
  });
});
