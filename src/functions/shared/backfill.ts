import type { Window } from '../../pipeline/window';
import { splitUnits } from '../../schedule/backfill-plan';
import { BACKFILL_MODES, backfillInstanceId, unitInstanceId } from '../../schedule/instances';
import { distinctWindows, latestOf, unitRunFailed, unitsRecordedFailed } from '../../schedule/run-status';
import { type RunsClient, findInstance, mapLimited } from './client';

/** Status look-ups the starter makes at once for the `failed` mode. */
const LOOKUPS_AT_ONCE = 8;

/**
 * The units whose last run failed, for the `failed` mode: each unit of the range (as the `all` mode cuts it)
 * whose own sub-orchestration failed, plus the units the range's latest backfill recorded as failed after
 * staging (a failed MERGE or verification), or left unfinished when the backfill itself stopped.
 */
export async function failedUnits(client: RunsClient, dataset: string, range: Window): Promise<Window[]> {
  const candidates = splitUnits(dataset, [range]);
  const [unitRuns, backfills] = await Promise.all([
    mapLimited(candidates, LOOKUPS_AT_ONCE, (unit) => findInstance(client, unitInstanceId(dataset, unit))),
    Promise.all(BACKFILL_MODES.map((mode) => findInstance(client, backfillInstanceId(dataset, range, mode)))),
  ]);
  const failedOnTheirOwn = candidates.filter((_, index) => unitRunFailed(unitRuns[index]));
  return distinctWindows([...failedOnTheirOwn, ...unitsRecordedFailed(latestOf(backfills))]);
}
