import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { InputError } from '../../common/errors';
import type { Window } from '../../pipeline/window';
import { batchWindows, planBackfill, splitUnits } from '../../schedule/backfill-plan';
import { type BackfillRequest, parseBackfillRequest } from '../../schedule/backfill-request';
import { BACKFILL_MODES, backfillInstanceId, isActive, unitInstanceId } from '../../schedule/instances';
import { distinctWindows, latestOf, unitRunFailed, unitsRecordedFailed } from '../../schedule/run-status';
import { runLogger } from '../../schedule/log';
import type { BackfillRunInput } from '../../schedule/messages';
import { BACKFILL_ORCHESTRATOR } from '../backfillOrchestrator';
import { type RunsClient, findInstance, mapLimited, startOnce } from './client';
import { badRequest, json, readJson, statusUrl } from './http';

export interface BackfillDeps {
  /** The parts of a range with no rows in the table; only the `missing` mode's dry run asks here directly. */
  readonly findMissing: (dataset: string, window: Window) => Promise<readonly Window[]>;
  /** The exact SQL the loads of these batches of units would run. */
  readonly planLoads: (input: {
    dataset: string;
    batches: readonly (readonly Window[])[];
  }) => Promise<readonly string[]>;
  readonly log: (message: string) => void;
}

/**
 * `POST /api/backfill`: 400 naming the field (nothing started), 409 when the same backfill (dataset, range,
 * mode) is running, 200 with the plan for a dry run (nothing started), else 202 with our own status URL.
 */
export async function handleBackfill(
  request: HttpRequest,
  client: RunsClient,
  deps: BackfillDeps,
): Promise<HttpResponseInit> {
  let backfill: BackfillRequest;
  try {
    backfill = parseBackfillRequest(await readJson(request));
  } catch (error) {
    if (error instanceof InputError) return badRequest(error);
    throw error;
  }
  const { dataset, window, mode, dryRun, maxConcurrency } = backfill;
  const instanceId = backfillInstanceId(dataset, window, mode);
  const link = { instanceId, statusUrl: statusUrl(request, instanceId) };
  const running = await findInstance(client, instanceId);
  if (running !== undefined && isActive(running.runtimeStatus)) {
    return json(409, {
      error: { message: `this backfill is already ${running.runtimeStatus.toLowerCase()}` },
      ...link,
    });
  }

  const units = await unitsToRun(backfill, client, deps);
  const plan = units && planBackfill(dataset, units, maxConcurrency);
  const asked = { dataset, window, mode, maxConcurrency };

  if (dryRun) {
    const batches = batchWindows(units ?? [], plan?.batches ?? []);
    const statements = batches.length > 0 ? await deps.planLoads({ dataset, batches }) : [];
    return json(200, {
      dryRun: true,
      ...asked,
      instanceId,
      units: plan?.units ?? [],
      waves: plan?.waves ?? 0,
      batches: batches.map((batch) => ({ start: batch[0]?.start, stop: batch.at(-1)?.stop, units: batch.length })),
      estimatedRows: plan?.estimatedRows ?? 0,
      estimatedRequests: plan?.estimatedRequests ?? 0,
      merges: plan?.merges ?? 0,
      statements,
    });
  }
  if (units !== undefined && units.length === 0) {
    return json(200, {
      started: false,
      ...asked,
      instanceId,
      message: `no unit of this range needs a ${mode} backfill`,
    });
  }

  const input: BackfillRunInput = { dataset, window, mode, maxConcurrency, ...(mode === 'failed' ? { units } : {}) };
  const started = await startOnce(client, BACKFILL_ORCHESTRATOR, instanceId, input, true);
  if (!started.started) return json(409, { error: { message: `this backfill is ${started.reason}` }, ...link });
  const plannedWork = plan
    ? `${plan.units.length} units, ~${plan.estimatedRequests} source requests, ${plan.merges} MERGEs`
    : 'its units follow from the missing weeks';
  runLogger(deps.log, { dataset, window, instanceId })(`backfill started: ${plannedWork}`);
  return json(
    202,
    {
      ...link,
      ...asked,
      units: plan?.units.length ?? null,
      estimatedRequests: plan?.estimatedRequests ?? null,
      merges: plan?.merges ?? null,
    },
    { Location: link.statusUrl },
  );
}

/**
 * The units a request covers, known before anything starts: the range cut into units, or the failed ones.
 * In the missing mode the orchestration finds the gaps itself (one aggregate query, in an activity), so the
 * answer is undefined; only a dry run asks the table here.
 */
async function unitsToRun(
  backfill: BackfillRequest,
  client: RunsClient,
  deps: BackfillDeps,
): Promise<Window[] | undefined> {
  const { dataset, window } = backfill;
  switch (backfill.mode) {
    case 'all':
      return splitUnits(dataset, [window]);
    case 'failed':
      return failedUnits(client, dataset, window);
    case 'missing':
      return backfill.dryRun ? splitUnits(dataset, await deps.findMissing(dataset, window)) : undefined;
  }
}

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
