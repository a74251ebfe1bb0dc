import type { Db } from '../db/client';
import { accessStepsAfter, recordAccessAcks, type VersionedStep } from '../db/queries/access-lists';

/** Requests gathered into one statement at most. */
const MAX_BATCH = 500;
/** An ack left out (its row was locked by an access change) is written again after this long. */
const ACK_RETRY_MS = 50;

export interface AccessBatches {
  /** The retained versions of an IQ after `after` up to `upTo`, read together with other IQs' requests. */
  stepsAfter(iqId: string, after: number, upTo: number): Promise<VersionedStep[]>;
  /** Records that the IQ acknowledged `version` (the highest per IQ wins), together with other acks. */
  ack(iqId: string, version: number): void;
  /** Settles once every ack handed in so far is written (tests, shutdown). */
  flushed(): Promise<void>;
}

/**
 * One gateway instance's access reads and ack writes, each kind one statement at a time: what arrives
 * while one is in flight goes into the next. When many IQs catch up at once (a restart, a site-wide
 * change) they cost a few statements, not a few each; a lone request waits for one turn of the event loop.
 */
export function createAccessBatches(db: Db, onError: (error: unknown) => void): AccessBatches {
  type Request = {
    iqId: string;
    after: number;
    upTo: number;
    resolve(steps: VersionedStep[]): void;
    reject(error: unknown): void;
  };
  let requests: Request[] = [];
  let reading = false;
  const acks = new Map<string, number>();
  let writing: Promise<void> | undefined;

  const keepHighest = (iqId: string, version: number) => {
    const known = acks.get(iqId);
    if (known === undefined || version > known) acks.set(iqId, version);
  };

  const read = async () => {
    while (requests.length > 0) {
      const batch = requests.slice(0, MAX_BATCH);
      requests = requests.slice(MAX_BATCH);
      try {
        const found = await accessStepsAfter(db, batch);
        for (const [i, r] of batch.entries()) r.resolve(found[i]!);
      } catch (error) {
        for (const r of batch) r.reject(error);
      }
    }
    reading = false;
  };

  const write = async () => {
    while (acks.size > 0) {
      const batch = [...acks].slice(0, MAX_BATCH).map(([iqId, version]) => ({ iqId, version }));
      for (const a of batch) acks.delete(a.iqId);
      try {
        const locked = new Set(await recordAccessAcks(db, batch));
        if (locked.size > 0) {
          await new Promise((r) => setTimeout(r, ACK_RETRY_MS));
          for (const a of batch) if (locked.has(a.iqId)) keepHighest(a.iqId, a.version);
        }
      } catch (error) {
        // Lost here, written again when the IQ's row is next seen behind (AccessSender.changed).
        onError(error);
      }
    }
    writing = undefined;
  };

  return {
    stepsAfter(iqId, after, upTo) {
      return new Promise((resolve, reject) => {
        requests.push({ iqId, after, upTo, resolve, reject });
        if (!reading) {
          reading = true;
          setImmediate(() => void read());
        }
      });
    },
    ack(iqId, version) {
      keepHighest(iqId, version);
      writing ??= new Promise<void>((r) => setImmediate(r)).then(write);
    },
    async flushed() {
      while (writing) await writing;
    },
  };
}
