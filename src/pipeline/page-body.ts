/**
 * A page's body, kept as the bytes that came (outside the JS heap) until its turn, then parsed a slice at a time.
 *
 * Why slices: a 50,000-row page parsed at once is some 20 MB of objects that live while the page is checked and
 * written, so they are promoted to the old generation and stay there, as garbage, until V8's next full collection,
 * which a long window reaches only after a few pages' worth: memory grew with the window. A slice of about 1,000
 * records is parsed, checked and written before the next is parsed, and dies young.
 *
 * A slice ends at a `}` followed by `,` and `{` (blanks allowed between them, as Socrata sends `}\n,{`). Such a place
 * may lie inside a text value; the slice then does not parse (a JSON text cut inside a string never does, as every
 * quote within a string is escaped), and the rest of the page is parsed at once instead.
 */
import { TransientError } from '../common/errors';
import type { SourceRecord } from './records';

/** About this many bytes of a page are parsed at a time: some 1,000 records of these datasets, well under 1 MB. */
export const SLICE_BYTES = 128 * 1024;

const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const COMMA = 0x2c;

function isBlank(byte: number | undefined): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

/** Whether a body is, on its face, one whole JSON array: a cut-off body or an error page is told apart unparsed. */
export function looksLikeJsonArray(bytes: Uint8Array): boolean {
  let first = 0;
  while (isBlank(bytes[first])) first += 1;
  let last = bytes.length - 1;
  while (last > first && isBlank(bytes[last])) last -= 1;
  return bytes[first] === OPEN_BRACKET && bytes[last] === CLOSE_BRACKET && last > first;
}

export function invalidJson(bytes: number, cause?: unknown): TransientError {
  return new TransientError(`the source sent a truncated or invalid JSON body (${bytes} bytes)`, { cause });
}

/** The rows of a small answer (a count, a maximum): a JSON array; anything else is transient. */
export function parseRows(bytes: Buffer): SourceRecord[] {
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw invalidJson(bytes.length, error);
  }
  if (!Array.isArray(body))
    throw new TransientError(`the source sent a JSON ${typeof body} where an array of rows was expected`);
  return body as SourceRecord[];
}

/**
 * Buffers that page bodies are read into, given back when their page has been read and used again for the next:
 * memory for bodies stays that of the pages in flight, however many pages a window has, instead of a new buffer
 * per page that lingers until V8 next collects in full.
 */
export class BodyBuffers {
  private readonly free: Buffer[] = [];

  constructor(private readonly keep: number) {}

  /** A buffer of at least `bytes`: a free one when there is one (grown if it must), else a new one. */
  take(bytes: number): Buffer {
    const buffer = this.free.pop();
    if (buffer !== undefined && buffer.length >= bytes) return buffer;
    return Buffer.allocUnsafeSlow(Math.max(bytes, buffer?.length ?? 0, 1024 * 1024));
  }

  /** `buffer` holds nothing anyone reads any more. */
  give(buffer: Buffer): void {
    if (this.free.length < this.keep) this.free.push(buffer);
  }
}

/** Reads a stream of chunks into one buffer from `buffers`, growing it as needed; `onChunk` may refuse more. */
export async function readInto(
  buffers: BodyBuffers,
  chunks: AsyncIterable<Uint8Array>,
  expectedBytes: number,
  onChunk: (bytesSoFar: number) => Promise<void> | void,
): Promise<{ buffer: Buffer; bytes: number }> {
  let buffer = buffers.take(expectedBytes);
  let bytes = 0;
  try {
    for await (const chunk of chunks) {
      await onChunk(bytes + chunk.byteLength);
      if (bytes + chunk.byteLength > buffer.length) {
        const bigger = buffers.take(Math.max(buffer.length * 2, bytes + chunk.byteLength));
        buffer.copy(bigger, 0, 0, bytes);
        buffers.give(buffer);
        buffer = bigger;
      }
      buffer.set(chunk, bytes);
      bytes += chunk.byteLength;
    }
  } catch (error) {
    buffers.give(buffer);
    throw error;
  }
  return { buffer, bytes };
}

/** One page's records, parsed a slice at a time as they are asked for; `received` counts those parsed so far. */
export class PageBody {
  received = 0;
  private cursor: number;
  /** Where the array's closing bracket is. */
  private readonly end: number;

  /** `bytes` must look like a JSON array (`looksLikeJsonArray`). */
  constructor(private readonly bytes: Buffer) {
    let start = bytes.indexOf(OPEN_BRACKET) + 1;
    let end = bytes.lastIndexOf(CLOSE_BRACKET);
    while (start < end && isBlank(bytes[start])) start += 1;
    while (end > start && isBlank(bytes[end - 1])) end -= 1;
    this.cursor = start;
    this.end = end;
  }

  get empty(): boolean {
    return this.received === 0 && this.cursor >= this.end;
  }

  /** The records in order, a slice at a time. One pass: a second call goes on where the first stopped. */
  *slices(): Generator<SourceRecord[]> {
    while (this.cursor < this.end) {
      const cut = this.nextCut();
      let records: unknown = this.tryParse(this.cursor, cut.end);
      let next = cut.next;
      // A cut inside a text value: this slice does not parse, so the rest goes at once.
      if (records === undefined && cut.end < this.end) {
        records = this.tryParse(this.cursor, this.end);
        next = this.end;
      }
      if (!Array.isArray(records)) throw invalidJson(this.bytes.length);
      this.cursor = next;
      this.received += records.length;
      yield records as SourceRecord[];
    }
  }

  /** The end of the slice from the cursor (after a record's `}`), and where the next record starts. */
  private nextCut(): { end: number; next: number } {
    const bytes = this.bytes;
    for (let at = bytes.indexOf(CLOSE_BRACE, this.cursor + SLICE_BYTES); at >= 0 && at < this.end;) {
      let after = at + 1;
      while (isBlank(bytes[after])) after += 1;
      if (bytes[after] === COMMA) {
        after += 1;
        while (isBlank(bytes[after])) after += 1;
        if (bytes[after] === OPEN_BRACE) return { end: at + 1, next: after };
      }
      at = bytes.indexOf(CLOSE_BRACE, at + 1);
    }
    return { end: this.end, next: this.end };
  }

  private tryParse(from: number, to: number): unknown {
    try {
      return JSON.parse(`[${this.bytes.toString('utf8', from, to)}]`);
    } catch {
      return undefined;
    }
  }
}
