import type { Warehouse } from './ports';
import type { DatasetDefinition } from './datasets';
import { DEFAULT_CHUNK_DAYS } from './run';
import { type SocrataClient, windowQuery, windowWhere } from './source';
import { windowLayout } from './layout';
import { type StageStore, locationOf } from './ports';
import { type Window, splitWindow } from './window';

/** What `run` would do, worked out without touching the source, the stage or the warehouse. */
export interface Plan {
  readonly dataset: string;
  readonly window: Window;
  readonly chunks: readonly Window[];
  /** Per chunk: the count request and the first page; later pages move `$offset` by the rows received, to an empty page. */
  readonly sourceRequests: readonly string[];
  /** Per chunk: the first part file, the quarantine file and the manifest (more parts follow for big chunks). */
  readonly stagePaths: readonly string[];
  /** The exact SQL the warehouse would run: setup, each chunk's load (assuming it stages some rows), the count. */
  readonly statements: readonly string[];
  readonly table: string;
  readonly stage: string;
  readonly warehouse: string;
}

export function planRun(options: {
  readonly dataset: DatasetDefinition;
  readonly window: Window;
  readonly source: SocrataClient;
  readonly stage: StageStore;
  readonly warehouse: Warehouse;
  readonly chunkDays?: number;
}): Plan {
  const { dataset, window, source, stage, warehouse } = options;
  const chunks = splitWindow(window, options.chunkDays ?? DEFAULT_CHUNK_DAYS);
  const sourceRequests: string[] = [];
  const stagePaths: string[] = [];
  const statements: string[] = [...warehouse.sessionStatements.open];
  for (const chunk of chunks) {
    sourceRequests.push(
      source.urlFor(source.countParams(windowWhere(dataset, chunk))).toString(),
      source.urlFor(source.pageParams(windowQuery(dataset, chunk), 0)).toString(),
    );
    const layout = windowLayout(dataset.name, chunk);
    stagePaths.push(
      ...[layout.part(0), layout.quarantine, layout.manifest].map((path) => locationOf(stage.location, path)),
    );
    statements.push(...warehouse.planStatements(dataset, [{ window: chunk, parts: [layout.part(0)] }], stage.location));
  }
  statements.push(...warehouse.planCount(dataset, window), ...warehouse.sessionStatements.close);
  return {
    dataset: dataset.name,
    window,
    chunks,
    sourceRequests,
    stagePaths,
    statements,
    table: warehouse.tableName(dataset),
    stage: stage.description,
    warehouse: warehouse.description,
  };
}
