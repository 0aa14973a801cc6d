/** The verdict on a window: what the table holds against what was staged. */
import { TerminalError } from '../common/errors';
import { formatCount as count } from '../common/format';
import type { DatasetDefinition } from './datasets';
import type { StepPorts } from './ports';
import { isStale } from './summary';
import { type Window, describeWindow } from './window';

export interface WindowInput {
  readonly dataset: string;
  readonly window: Window;
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

/** The verdict on a loaded window from its count: a shortfall fails, an empty window asks the source how new it is. */
export async function checkWindow(
  ports: StepPorts,
  dataset: DatasetDefinition,
  input: VerifyInput,
  rowsInWindow: number,
): Promise<VerifyOutput> {
  if (rowsInWindow < input.staged) {
    // Upserts never delete, so fewer rows than staged means a load lost some: never report that as success.
    throw new TerminalError(
      `${dataset.name} ${describeWindow(input.window)}: the table holds ${count(rowsInWindow)} rows for the window but ${count(input.staged)} were staged; run the window again`,
    );
  }
  let newestInSource: string | null = null;
  if (input.staged === 0) {
    newestInSource = (await ports.source.max(dataset.windowField, ports.signal)) ?? null;
    ports.progress(
      `the source returned no rows for ${describeWindow(input.window)}; the newest ${dataset.windowField} it has is ${newestInSource ?? '(none: the dataset is empty)'}`,
    );
  }
  return {
    rowsInWindow,
    newestInSource,
    status: isStale(input.window, input.staged, newestInSource) ? 'stale' : 'completed',
  };
}
