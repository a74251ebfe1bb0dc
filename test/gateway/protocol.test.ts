import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LineReader } from '../../gateway/line-reader';
import {
  type DeviceMessage,
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
  { type: 'heartbeat' },
  { type: 'open-result', requestId: 'r1', ok: true },
  { type: 'open-result', requestId: 'r1', ok: false, reason: 'unsubscribed' },
  { type: 'update-status', updateId: 'u1', state: 'downloading' },
  { type: 'update-status', updateId: 'u1', state: 'installing' },
  { type: 'update-status', updateId: 'u1', state: 'failed', error: 'checksum_mismatch' },
  ...(['tamper', 'door_left_open', 'low_battery', 'intrusion'] as const).map(
    (kind): DeviceMessage => ({ type: 'event', lockId, kind }),
  ),
];

const gatewayMessages: GatewayMessage[] = [
  { type: 'welcome', subscribed: true, heartbeatSeconds: 30 },
  { type: 'error', code: 'auth_failed' },
  { type: 'error', code: 'bad_message' },
  { type: 'subscription', subscribed: false },
  { type: 'open', requestId: 'r1', lockId },
  { type: 'update', updateId: 'u1', version: '2.0.0', url: 'ftps://fw/iq2.bin', sha256, sizeBytes: 1024 },
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
    ['an unknown event kind', `{"type":"event","lockId":"${lockId}","kind":"fire"}`],
    ['an event with a lock id that is no UUID', '{"type":"event","lockId":"x","kind":"tamper"}'],
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
