/**
 * Group commit (issue 15): rows that arrive while a write is in flight wait and go together in the
 * next write, one statement for all of them. A write alone costs PostgreSQL a statement's fixed
 * overhead per row; under load, most of it is saved. When nothing is in flight a row is written at
 * once, so an idle system pays no added wait.
 *
 * A grouped write that fails is tried again row by row, so one bad row (a site deleted meanwhile)
 * fails only its own caller.
 */
export function groupedWrites<T>(
  write: (rows: T[]) => Promise<void>,
  maxRows: number,
): (row: T) => Promise<void> {
  type Waiting = { row: T; resolve: () => void; reject: (error: unknown) => void };
  let queue: Waiting[] = [];
  let writing = false;

  const settle = async (batch: Waiting[]) => {
    try {
      await write(batch.map((w) => w.row));
      for (const w of batch) w.resolve();
    } catch (error) {
      if (batch.length === 1) return batch[0]!.reject(error);
      for (const w of batch) await settle([w]);
    }
  };

  const drain = async () => {
    while (queue.length > 0) {
      const batch = queue.slice(0, maxRows);
      queue = queue.slice(maxRows);
      await settle(batch);
    }
    writing = false;
  };

  return (row) =>
    new Promise<void>((resolve, reject) => {
      queue.push({ row, resolve, reject });
      if (!writing) {
        writing = true;
        void drain();
      }
    });
}
