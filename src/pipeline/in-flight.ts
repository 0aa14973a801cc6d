/**
 * How many of a client's requests may be in flight at once: up to the most it was given, halved when the source
 * throttles (HTTP 429, down to one), and raised again by one after every `RECOVERY_ANSWERS` answers in a row
 * without a 429 to requests sent under the lowered limit. A throttled source so sees fewer requests at once, and a source that recovers gets them back
 * slowly. One 429 halves the limit once: the other requests already in flight when it came were sent under the
 * old limit, and their 429s say nothing new (as TCP halves its window once per loss, not once per lost packet).
 */

/** Answers in a row without a 429 after which one more request may be in flight again. */
export const RECOVERY_ANSWERS = 4;

/** A request's turn: give it back when its answer is read. */
export interface Slot {
  release(): void;
  /** The limit's generation when the turn began: a 429 halves the limit only once per generation. */
  readonly generation: number;
}

interface Waiter {
  readonly priority: number;
  readonly grant: (slot: Slot) => void;
}

export class InFlightLimit {
  /** The most requests that were in flight at once. */
  mostInFlight = 0;
  private limit: number;
  private active = 0;
  private answersInARow = 0;
  private generation = 0;
  private readonly waiting: Waiter[] = [];

  constructor(
    readonly most: number,
    /** Told when the limit changes, for the progress line. */
    private readonly onChange?: (from: number, to: number, why: 'throttled' | 'recovered') => void,
  ) {
    this.limit = most;
  }

  /** Requests that may be in flight now. */
  get current(): number {
    return this.limit;
  }

  /**
   * Waits for a turn; lower `priority` goes first (a page nearer the front of the result is needed sooner).
   * An aborted `signal` gives up the wait with its reason.
   */
  acquire(priority: number, signal?: AbortSignal): Promise<Slot> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    return new Promise<Slot>((resolve, reject) => {
      const onAbort = () => {
        const at = this.waiting.indexOf(waiter);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(signal?.reason as Error);
      };
      const waiter: Waiter = {
        priority,
        grant: (slot) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(slot);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const at = this.waiting.findIndex((other) => other.priority > priority);
      this.waiting.splice(at < 0 ? this.waiting.length : at, 0, waiter);
      this.grantTurns();
    });
  }

  /** The source answered 429 to a request sent in `slot`'s generation: half as many in flight from now on. */
  throttled(slot: Slot): void {
    this.answersInARow = 0;
    if (slot.generation !== this.generation || this.limit === 1) return;
    this.change(Math.max(1, Math.floor(this.limit / 2)), 'throttled');
  }

  /**
   * The source answered a request sent in `slot` (not with a 429). Only answers to requests sent under the current
   * limit count towards raising it: the ones sent before a 429 say nothing about the source since.
   */
  answered(slot: Slot): void {
    if (slot.generation !== this.generation) return;
    this.answersInARow += 1;
    if (this.limit < this.most && this.answersInARow >= RECOVERY_ANSWERS) {
      this.answersInARow = 0;
      this.change(this.limit + 1, 'recovered');
      this.grantTurns();
    }
  }

  private change(to: number, why: 'throttled' | 'recovered'): void {
    const from = this.limit;
    this.limit = to;
    this.generation += 1;
    this.onChange?.(from, to, why);
  }

  private grantTurns(): void {
    while (this.active < this.limit && this.waiting.length > 0) {
      const waiter = this.waiting.shift() as Waiter;
      this.active += 1;
      this.mostInFlight = Math.max(this.mostInFlight, this.active);
      let released = false;
      waiter.grant({
        generation: this.generation,
        release: () => {
          if (released) return;
          released = true;
          this.active -= 1;
          this.grantTurns();
        },
      });
    }
  }
}
