/**
 * The gateway's writes of its IQs' rows. Writes of one IQ run in the order they were asked for (a
 * close's offline mark never overtakes the hello before it, nor the other way round); writes of
 * different IQs run side by side, so a wave of reconnecting IQs is not one queue of round trips
 * (issue 15: a single queue held every hello of a rollout behind every other). A write of every row
 * (the liveness flush, the instance going offline) runs alone: after every write asked for before it,
 * before every write asked for after it, so a flush never re-marks an IQ that just closed online.
 */
export interface WriteLanes {
  one<T>(iqId: string, task: () => Promise<T>): Promise<T>;
  all<T>(task: () => Promise<T>): Promise<T>;
}

export function createWriteLanes(): WriteLanes {
  const lanes = new Map<string, Promise<void>>();
  let barrier: Promise<void> = Promise.resolve();
  const settled = (p: Promise<unknown>) =>
    p.then(
      () => {},
      () => {},
    );
  return {
    one(iqId, task) {
      const next = Promise.all([lanes.get(iqId), barrier]).then(() => task());
      const tail = settled(next);
      lanes.set(iqId, tail);
      // The lane is forgotten once idle: the map holds only IQs with a write pending.
      void tail.then(() => {
        if (lanes.get(iqId) === tail) lanes.delete(iqId);
      });
      return next;
    },
    all(task) {
      const next = Promise.all([barrier, ...lanes.values()]).then(() => task());
      barrier = settled(next);
      return next;
    },
  };
}
