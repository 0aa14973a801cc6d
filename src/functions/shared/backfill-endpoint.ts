import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { InputError } from '../../common/errors';
import { findDataset } from '../../pipeline/datasets';
import { type Window, clipWindow, describeWindow, utcDate } from '../../pipeline/window';
import { type UnitPlan, batchWindows, planBackfill, planUnits } from '../../schedule/backfill-plan';
import { type BackfillRequest, parseBackfillRequest } from '../../schedule/backfill-request';
import type { RunLedger } from '../../pipeline/ledger';
import { failedStretches } from '../../pipeline/window-states';
import {
  ACTIVE_STATUSES,
  backfillInstanceId,
  isActive,
  parseInstanceId,
  windowsOverlap,
} from '../../schedule/instances';
import { runLogger } from '../../schedule/log';
import type { BackfillRunInput } from '../../schedule/messages';
import { BACKFILL_ORCHESTRATOR } from '../backfillOrchestrator';
import { type RunsClient, collectInstances, findInstance, startOnce } from './client';
import { badRequest, json, readJson, statusUrl } from './http';

export interface BackfillDeps {
  /** The parts of a range with no rows in the table; only the `missing` mode's dry run asks here directly. */
  readonly findMissing: (dataset: string, window: Window) => Promise<readonly Window[]>;
  /** The exact SQL the loads of these batches of units would run. */
  readonly planLoads: (input: {
    dataset: string;
    batches: readonly (readonly Window[])[];
  }) => Promise<readonly string[]>;
  /** The run ledger: what the `failed` mode redoes. */
  readonly ledger: Pick<RunLedger, 'entries'>;
  readonly log: (message: string) => void;
  /** Today, for clipping a range to the dates a dataset can have. */
  readonly now: () => Date;
}

/** Active instances read to find an overlapping backfill: far more than ever run at once. */
const MAX_ACTIVE_LISTED = 2_000;

/**
 * `POST /api/backfill`: 400 naming the field (nothing started); the range clipped to the dataset's dates, as
 * the command line clips it; 409 when this backfill, or another backfill of the dataset over any of the same
 * days, is running (a dry run still answers); 200 with the plan for a dry run (nothing started); else 202 with
 * our own status URL. The plan is computed here, once, and handed to the orchestration as data.
 */
export async function handleBackfill(
  request: HttpRequest,
  client: RunsClient,
  deps: BackfillDeps,
): Promise<HttpResponseInit> {
  let backfill: BackfillRequest;
  let clipping: ReturnType<typeof clipWindow>;
  try {
    backfill = parseBackfillRequest(await readJson(request));
    clipping = clipWindow(backfill.window, findDataset(backfill.dataset).firstDate, utcDate(deps.now()), {
      start: 'startDate',
      stop: 'stopDate',
    });
  } catch (error) {
    if (error instanceof InputError) return badRequest(error);
    throw error;
  }
  const { dataset, mode, dryRun, maxConcurrency } = backfill;
  const window = clipping.window;
  const instanceId = backfillInstanceId(dataset, window, mode);
  const link = { instanceId, statusUrl: statusUrl(request, instanceId) };
  const asked = {
    dataset,
    window,
    mode,
    maxConcurrency,
    ...(clipping.clipped
      ? {
          requested: clipping.requested,
          clipped: `the range ${describeWindow(clipping.requested)} was clipped to ${describeWindow(window)}, the dates ${dataset} can have`,
        }
      : {}),
  };

  if (!dryRun) {
    const conflict = await runningConflict(client, dataset, window, instanceId);
    if (conflict) {
      return json(409, {
        error: { message: conflict.message },
        ...link,
        running: { instanceId: conflict.instanceId, statusUrl: statusUrl(request, conflict.instanceId) },
      });
    }
  }

  const plan = await unitsToRun(backfill.mode, dataset, window, dryRun, deps);
  const estimate = plan && planBackfill(dataset, instanceId, plan, maxConcurrency);

  if (dryRun) {
    const batches = batchWindows(plan?.units ?? [], plan?.batches ?? []);
    const statements = batches.length > 0 ? await deps.planLoads({ dataset, batches }) : [];
    return json(200, {
      dryRun: true,
      ...asked,
      instanceId,
      units: estimate?.units ?? [],
      waves: estimate?.waves ?? 0,
      batches: batches.map((batch) => ({ start: batch[0]?.start, stop: batch.at(-1)?.stop, units: batch.length })),
      estimatedRows: estimate?.estimatedRows ?? 0,
      estimatedRequests: estimate?.estimatedRequests ?? 0,
      merges: estimate?.merges ?? 0,
      statements,
    });
  }
  if (plan !== undefined && plan.units.length === 0) {
    return json(200, {
      started: false,
      ...asked,
      instanceId,
      message: `no unit of this range needs a ${mode} backfill`,
    });
  }

  const input: BackfillRunInput = { dataset, window, mode, maxConcurrency, ...(plan ? { plan } : {}) };
  const started = await startOnce(client, BACKFILL_ORCHESTRATOR, instanceId, input, true);
  if (!started.started) return json(409, { error: { message: `this backfill is ${started.reason}` }, ...link });
  const plannedWork = estimate
    ? `${estimate.units.length} units, ~${estimate.estimatedRequests} source requests, ${estimate.merges} MERGEs`
    : 'its units follow from the missing weeks';
  runLogger(deps.log, { dataset, window, instanceId })(`backfill started: ${plannedWork}`);
  return json(
    202,
    {
      ...link,
      ...asked,
      units: estimate?.units.length ?? null,
      estimatedRequests: estimate?.estimatedRequests ?? null,
      merges: estimate?.merges ?? null,
    },
    { Location: link.statusUrl },
  );
}

/**
 * A running backfill this one may not run beside: the same id, or another backfill of the dataset over any
 * of the same days. Each backfill's units have ids of their own, so two that did overlap would still never
 * share a child; refusing keeps them from doing the same work twice. (Two requests in the same instant can
 * both pass this look-up; their ids still differ, and the window and table locks keep them apart.)
 */
async function runningConflict(
  client: RunsClient,
  dataset: string,
  window: Window,
  instanceId: string,
): Promise<{ instanceId: string; message: string } | undefined> {
  const same = await findInstance(client, instanceId);
  if (same !== undefined && isActive(same.runtimeStatus)) {
    return { instanceId, message: `this backfill is already ${same.runtimeStatus.toLowerCase()}` };
  }
  const { instances } = await collectInstances(client, { runtimeStatus: ACTIVE_STATUSES }, { max: MAX_ACTIVE_LISTED });
  const overlapping = instances.find((status) => {
    const parsed = parseInstanceId(status.instanceId);
    return (
      parsed?.kind === 'backfill' &&
      parsed.dataset === dataset &&
      status.instanceId !== instanceId &&
      isActive(status.runtimeStatus) &&
      windowsOverlap(parsed.window, window)
    );
  });
  if (!overlapping) return undefined;
  const other = parseInstanceId(overlapping.instanceId);
  return {
    instanceId: overlapping.instanceId,
    message:
      `the backfill ${overlapping.instanceId} (${other ? describeWindow(other.window) : 'its range'}) overlaps this range ` +
      `and is ${overlapping.runtimeStatus.toLowerCase()}; start this one when it is done, or terminate it`,
  };
}

/**
 * The plan a request runs, fixed before anything starts: the range cut into units, or the units to redo. In
 * the `missing` mode the orchestration's first activity finds the gaps and plans them (one aggregate query),
 * so the answer is undefined; only a dry run asks the table here.
 */
async function unitsToRun(
  mode: BackfillRequest['mode'],
  dataset: string,
  window: Window,
  dryRun: boolean,
  deps: BackfillDeps,
): Promise<UnitPlan | undefined> {
  switch (mode) {
    case 'all':
      return planUnits(dataset, [window]);
    case 'failed':
      return planFailed(deps.ledger, dataset, window);
    case 'missing':
      return dryRun ? planUnits(dataset, await deps.findMissing(dataset, window)) : undefined;
  }
}

/**
 * The units to redo in the `failed` mode: the days of the range whose latest run failed, whoever ran them (a
 * weekly window, a unit of any earlier backfill, the command line), merged into stretches and cut into units.
 * From the run ledger's one listing; no warehouse is asked.
 */
export async function planFailed(
  ledger: Pick<RunLedger, 'entries'>,
  dataset: string,
  range: Window,
): Promise<UnitPlan> {
  return planUnits(dataset, failedStretches(await ledger.entries(dataset), range));
}
