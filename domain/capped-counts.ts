// How much each key holds at once, up to a cap (a client address's connections or requests). Imports
// nothing of the project.

export class CappedCounts {
  private readonly held = new Map<string, number>();

  constructor(private readonly cap: number) {}

  /** Counts one more for `key`; false, counting nothing, when it holds its cap already. */
  take(key: string): boolean {
    const n = this.held.get(key) ?? 0;
    if (n >= this.cap) return false;
    this.held.set(key, n + 1);
    return true;
  }

  /** One fewer for `key`; a key holding nothing is forgotten, so the map grows with what is held. */
  release(key: string): void {
    const n = (this.held.get(key) ?? 1) - 1;
    if (n <= 0) this.held.delete(key);
    else this.held.set(key, n);
  }
}
