import { InputError } from '../common/errors';
import { findDataset } from '../pipeline/datasets';
import { RUNTIME_STATUSES, type RunKind, type RuntimeStatus } from './instances';

/** A list reads only runs created this recently, so it never reads the whole task hub into memory. */
export const LIST_LOOKBACK_DAYS = 35;
export const DEFAULT_LIST_TOP = 20;
export const MAX_LIST_TOP = 100;

const KINDS: readonly RunKind[] = ['window', 'unit', 'backfill'];
/** `code` carries the function key when it is not sent as a header. */
const PARAMETERS = ['dataset', 'status', 'kind', 'top', 'code'];

export interface ListQuery {
  readonly dataset?: string;
  readonly status?: RuntimeStatus;
  readonly kind?: RunKind;
  readonly top: number;
}

/** `GET /api/runs?dataset=&status=&kind=&top=`; errors name the parameter. */
export function parseListQuery(query: { get(name: string): string | null; keys(): Iterable<string> }): ListQuery {
  for (const name of query.keys()) {
    if (!PARAMETERS.includes(name)) {
      throw new InputError(name, `unknown query parameter "${name}" (the parameters are dataset, status, kind, top)`);
    }
  }
  const dataset = query.get('dataset') ?? undefined;
  const statusText = query.get('status') ?? undefined;
  const kindText = query.get('kind') ?? undefined;
  const topText = query.get('top') ?? undefined;

  const status =
    statusText === undefined ? undefined : RUNTIME_STATUSES.find((s) => s.toLowerCase() === statusText.toLowerCase());
  if (statusText !== undefined && status === undefined) {
    throw new InputError(
      'status',
      `status "${statusText}" is not a runtime status (one of ${RUNTIME_STATUSES.join(', ')})`,
    );
  }
  const kind = KINDS.find((candidate) => candidate === kindText);
  if (kindText !== undefined && kind === undefined) {
    throw new InputError('kind', `kind "${kindText}" is not one of ${KINDS.join(', ')}`);
  }
  const top = topText === undefined ? DEFAULT_LIST_TOP : Number(topText);
  if (!/^\d+$/.test(topText ?? String(DEFAULT_LIST_TOP)) || top < 1 || top > MAX_LIST_TOP) {
    throw new InputError('top', `top "${topText}" must be a whole number from 1 to ${MAX_LIST_TOP}`);
  }
  return {
    ...(dataset !== undefined ? { dataset: findDataset(dataset, 'dataset').name } : {}),
    ...(status ? { status } : {}),
    ...(kind ? { kind } : {}),
    top,
  };
}
