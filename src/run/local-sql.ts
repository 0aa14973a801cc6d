import { join } from 'node:path';
import { InputError } from '../common/errors';
import { stat } from 'node:fs/promises';
import { type QueryResult, queryReadOnly } from '../warehouse/duckdb-query';
import { SETTINGS } from './settings';
import { resolveDataDir } from './targets';

/**
 * `npm run sql`'s way to the local table: the data directory found as a run finds it, the DuckDB file opened
 * read-only, waiting its turn while a run writes it (a wait that runs out is transient, exit 1).
 */
export interface LocalQuery {
  readonly statement: string;
  readonly dataDir?: string | undefined;
  readonly maxRows: number;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  readonly progress: (message: string) => void;
  /** How long to wait for a run that holds the file; default as long as a run waits for it. */
  readonly waitMs?: number;
}

export type { QueryResult };

export async function queryLocalWarehouse(query: LocalQuery): Promise<QueryResult> {
  const { dataDir, field } = resolveDataDir(query.dataDir, query.env, query.cwd);
  const file = join(dataDir, 'warehouse.duckdb');
  const found = await stat(file).catch(() => undefined);
  if (!found?.isFile()) {
    const pointAt = field === SETTINGS.dataDir ? SETTINGS.dataDir : `--data-dir (env ${SETTINGS.dataDir})`;
    throw new InputError(
      field,
      `${file} does not exist; load a window first (npm run pipeline -- run), or point ${pointAt} at the folder that holds warehouse.duckdb`,
    );
  }
  return queryReadOnly(file, query.statement, query.maxRows, {
    onWait: query.progress,
    ...(query.waitMs !== undefined ? { waitMs: query.waitMs } : {}),
  });
}
