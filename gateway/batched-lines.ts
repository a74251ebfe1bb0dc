import type { Socket } from 'node:net';

/**
 * A writer of lines to `socket` that sends the lines of one turn of the event loop in one write
 * (issue 15: on the command channel, many opens are asked for, and answered, in the same turn; one
 * write per line cost a system call and a wake-up of the reader each). A line waits at most until
 * the loop's check phase, so an idle channel adds no delay worth measuring. Lines still pending when
 * the socket stops being writable are dropped, as a write to it would be.
 */
export function batchedLines(socket: Socket): { write(line: string): void; flush(): void } {
  let pending: string[] = [];
  const flush = () => {
    if (pending.length === 0) return;
    const chunk = pending.join('');
    pending = [];
    if (socket.writable) socket.write(chunk);
  };
  return {
    write(line) {
      if (pending.push(line) === 1) setImmediate(flush);
    },
    /** Sends what is pending now (before the socket is ended). */
    flush,
  };
}
