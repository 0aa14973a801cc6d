/**
 * CONTRACT STUB (being implemented on main): the pipeline's steps, JSON in and JSON out.
 * Every input and output here is plain JSON (dataset names, windows, paths, counts), so a Durable activity
 * wraps a step in a line or two and an orchestrator can pass results along without ever holding rows.
 */
import type { SocrataClient } from './source';
import type { StageStore, Warehouse } from './ports';
import type { Window } from './window';

/** What a step works with; built by `src/run` from flags or app settings, and closed there. */
export interface StepPorts {
  readonly source: SocrataClient;
  readonly stage: StageStore;
  readonly warehouse: Warehouse;
  /** Progress for people: stderr on the command line, the invocation log in Functions. */
  readonly progress: (message: string) => void;
  readonly signal?: AbortSignal | undefined;
}

export interface WindowInput {
  readonly dataset: string;
  readonly window: Window;
}

/** Fetch, check and stage a window (one source query, cut into chunks); each chunk gets its own manifest. */
export interface StageOutput {
  readonly dataset: string;
  readonly window: Window;
  /** The chunk windows that were staged, in order; what `loadWindows` takes. */
  readonly chunks: readonly Window[];
  readonly fetched: number;
  readonly staged: number;
  readonly quarantined: number;
  readonly quarantineReasons: Readonly<Record<string, number>>;
  /** Source requests made, retries not counted. */
  readonly requests: number;
}

export interface LoadInput {
  readonly dataset: string;
  /** Staged (chunk) windows, each with a manifest on the stage; loaded in one MERGE. */
  readonly windows: readonly Window[];
}

export interface LoadOutput {
  readonly dataset: string;
  readonly windows: number;
  readonly staged: number;
}

export interface VerifyInput extends WindowInput {
  /** Rows staged for the window: the table must hold at least these (upserts never delete). */
  readonly staged: number;
}

export interface VerifyOutput {
  readonly rowsInWindow: number;
  /** Asked only when nothing was staged: the newest value of the window field in the whole source. */
  readonly newestInSource: string | null;
  readonly status: 'completed' | 'stale';
}

export interface MissingOutput {
  /** The parts of the window whose 7-day weeks (counted from the window's start) have no rows in the table, merged. */
  readonly missing: readonly Window[];
}

export async function stageWindowStep(_ports: StepPorts, _input: WindowInput): Promise<StageOutput> {
  throw new Error('not implemented yet');
}

/** Creates the table if needed, then one MERGE over every window; serialized per table across processes. */
export async function loadWindowsStep(_ports: StepPorts, _input: LoadInput): Promise<LoadOutput> {
  throw new Error('not implemented yet');
}

/** Counts the window in the table; fails (terminal) when it holds fewer rows than were staged. */
export async function verifyWindowStep(_ports: StepPorts, _input: VerifyInput): Promise<VerifyOutput> {
  throw new Error('not implemented yet');
}

/** One aggregate query over the table. */
export async function findMissingStep(_ports: StepPorts, _input: WindowInput): Promise<MissingOutput> {
  throw new Error('not implemented yet');
}
