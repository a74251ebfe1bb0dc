import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { batchedLines } from '../../gateway/batched-lines';

/** A socket that records each write (one system call each on a real one). */
function recordingSocket() {
  const writes: string[] = [];
  const socket = { writable: true, write: (chunk: string) => writes.push(chunk) };
  return { writes, socket, asSocket: socket as unknown as Socket };
}
const nextTurn = () => new Promise((r) => setImmediate(r));

describe('gateway/batched-lines', () => {
  it('sends the lines of one turn in one write, in order, and the next turn’s in another', async () => {
    const { writes, asSocket } = recordingSocket();
    const lines = batchedLines(asSocket);
    lines.write('a\n');
    lines.write('b\n');
    lines.write('c\n');
    expect(writes).toEqual([]);
    await nextTurn();
    expect(writes).toEqual(['a\nb\nc\n']);
    lines.write('d\n');
    await nextTurn();
    expect(writes).toEqual(['a\nb\nc\n', 'd\n']);
  });

  it('flush sends what is pending at once, and the turn’s end sends nothing twice', async () => {
    const { writes, asSocket } = recordingSocket();
    const lines = batchedLines(asSocket);
    lines.write('answer\n');
    lines.flush();
    expect(writes).toEqual(['answer\n']);
    await nextTurn();
    expect(writes).toEqual(['answer\n']);
  });

  it('drops what is pending once the socket is no longer writable', async () => {
    const { writes, socket, asSocket } = recordingSocket();
    const lines = batchedLines(asSocket);
    lines.write('late\n');
    socket.writable = false;
    await nextTurn();
    expect(writes).toEqual([]);
  });
});
